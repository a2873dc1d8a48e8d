// The servers under test. Each entry knows how to start one instance for a scenario, listening on
// 127.0.0.1:<port>, in the foreground (so the PID we hold is the server's), with its config written
// into the run's private directory. The harness pins it (taskset), probes it, loads it and stops it.
//
// Scenarios:
//   forwarding  every query forwarded to one upstream (knotd); caches off where the server allows
//   fanout      queries for the master zone `mesos` sent to three masters, first answer wins
//   local       a few hundred names answered locally (Hoplite's local zone) or from a warm cache

import { writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { start } from '../lib/proc.mjs';
import { MASTER_ZONE, LOCAL_ZONE } from '../lib/knot.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const hostPort = (addr) => {
  const i = addr.lastIndexOf(':');
  return { host: addr.slice(0, i), port: Number(addr.slice(i + 1)) };
};

/**
 * @typedef {object} StartContext
 * @property {string} scenario      'forwarding' | 'fanout' | 'local'
 * @property {string} dir           private directory for config and logs
 * @property {number} port          where to listen (127.0.0.1, UDP and TCP)
 * @property {string} upstream      '127.0.0.1:K', the general upstream (knotd)
 * @property {string[]} masters     fan-out only: the three masters
 * @property {string} recordsFile   local only: JSON [{name,type,address,ttl}] of the local zone
 * @property {string|undefined} cpus taskset CPU list
 * @property {string|undefined} hopliteModule  adapter --module (default @hoplite/dns)
 */

function write(ctx, file, text) {
  const p = join(ctx.dir, file);
  writeFileSync(p, text);
  return p;
}

// ---------------------------------------------------------------- Hoplite (through the adapter)
/** Hoplite through the adapter; `io` sets config udp.io (undefined: the package default, auto). */
function hopliteServer(name, io) {
  return {
    name,
    kind: 'hoplite',
    scenarios: ['forwarding', 'fanout', 'local'],
    describe: {
      forwarding: `bench/dns/hoplite-server.mjs: createServer() from @hoplite/dns, upstream = knotd${io ? `, udp.io ${io}` : ''}`,
      fanout: `bench/dns/hoplite-server.mjs with masters for zone mesos = the three masters${io ? `, udp.io ${io}` : ''}`,
      local: `bench/dns/hoplite-server.mjs with the local-zone hook fed the same records knotd serves${io ? `, udp.io ${io}` : ''}`,
    },
    start(ctx) {
      const args = [join(here, 'hoplite-server.mjs'), '--port', String(ctx.port), '--upstream', ctx.upstream];
      if (ctx.scenario === 'fanout') args.push('--master-zone', MASTER_ZONE, '--masters', ctx.masters.join(','));
      if (ctx.scenario === 'local') args.push('--local-zone', LOCAL_ZONE, '--local-records', ctx.recordsFile);
      if (ctx.hopliteModule) args.push('--module', ctx.hopliteModule);
      if (io) args.push('--udp-io', io);
      return { child: start(name, process.execPath, args, { cpus: ctx.cpus, logFile: join(ctx.dir, `${name}.log`) }), config: '' };
    },
  };
}
const hoplite = hopliteServer('hoplite', undefined);
/** The same server on Node's dgram sockets (udp.io dgram): what the native UDP path saves. */
const hopliteDgram = hopliteServer('hoplite-dgram', 'dgram');

// ---------------------------------------------------------------- dnsdist
const dnsdist = {
  name: 'dnsdist',
  kind: 'peer',
  scenarios: ['forwarding', 'local'],
  describe: {
    forwarding: 'dnsdist, one backend, no packet cache, backend forced up (no health-check traffic)',
    local: 'dnsdist with a packet cache of 10000 entries (warm), backend = knotd',
  },
  start(ctx) {
    const up = ctx.upstream;
    const lines = [
      `setLocal('127.0.0.1:${ctx.port}')`,
      'setSecurityPollSuffix("")',
      `newServer({address='${up}'}):setUp()`,
    ];
    if (ctx.scenario === 'local') {
      lines.push('pc = newPacketCache(10000, {maxTTL=86400, minTTL=0})', 'getPool(""):setCache(pc)');
    }
    const config = lines.join('\n') + '\n';
    const conf = write(ctx, 'dnsdist.conf', config);
    return {
      child: start('dnsdist', 'dnsdist', ['--supervised', '--disable-syslog', '-C', conf], { cpus: ctx.cpus, logFile: join(ctx.dir, 'dnsdist.log') }),
      config,
    };
  },
};

// ---------------------------------------------------------------- unbound
// unbound is a caching recursive resolver; its cache cannot be switched off. `unbound` runs with its
// default cache: in the forwarding scenario every name is new, so every query is a cache miss (it
// still pays for inserting into the cache); `unbound-ttl0` caps every TTL at 0 and shrinks the caches,
// the nearest to "no cache" it allows.
function unboundConfig(ctx, { ttl0 }) {
  const fwd = hostPort(ctx.upstream);
  return `server:
    interface: 127.0.0.1
    port: ${ctx.port}
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "${ctx.dir}"
    pidfile: ""
    use-syslog: no
    logfile: ""
    verbosity: 0
    num-threads: 1
    do-ip6: no
    do-not-query-localhost: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    qname-minimisation: no
    local-zone: "test." nodefault
${ttl0 ? '    cache-max-ttl: 0\n    cache-max-negative-ttl: 0\n    msg-cache-size: 64k\n    rrset-cache-size: 64k\n' : ''}remote-control:
    control-enable: no
forward-zone:
    name: "."
    forward-addr: ${fwd.host}@${fwd.port}
`;
}
const unbound = {
  name: 'unbound',
  kind: 'peer',
  scenarios: ['forwarding', 'local'],
  describe: {
    forwarding: 'unbound 1 thread, forward-zone "." to knotd, default cache (all misses: every name is new)',
    local: 'unbound 1 thread, default cache, warm (answers from cache)',
  },
  start(ctx) {
    const config = unboundConfig(ctx, { ttl0: false });
    const conf = write(ctx, 'unbound.conf', config);
    return { child: start('unbound', 'unbound', ['-d', '-c', conf], { cpus: ctx.cpus, logFile: join(ctx.dir, 'unbound.log') }), config };
  },
};
const unboundTtl0 = {
  name: 'unbound-ttl0',
  kind: 'peer',
  scenarios: ['forwarding'],
  describe: { forwarding: 'unbound as above with cache-max-ttl 0 and 64k caches (the nearest to no cache)' },
  start(ctx) {
    const config = unboundConfig(ctx, { ttl0: true });
    const conf = write(ctx, 'unbound.conf', config);
    return { child: start('unbound-ttl0', 'unbound', ['-d', '-c', conf], { cpus: ctx.cpus, logFile: join(ctx.dir, 'unbound.log') }), config };
  },
};

// ---------------------------------------------------------------- dnsmasq
function dnsmasqArgs(ctx, extra) {
  return ['-k', '-C', '/dev/null', '--no-resolv', '--no-hosts', '--pid-file=', '--bind-interfaces',
    '--listen-address=127.0.0.1', `--port=${ctx.port}`, ...extra];
}
const dnsmasqFwd = (addr) => {
  const { host, port } = hostPort(addr);
  return `${host}#${port}`;
};
const dnsmasq = {
  name: 'dnsmasq',
  kind: 'peer',
  scenarios: ['forwarding', 'fanout', 'local'],
  describe: {
    forwarding: 'dnsmasq --cache-size=0 --server=knotd',
    fanout: 'dnsmasq --cache-size=0 --all-servers --server=/mesos/<each master>',
    local: 'dnsmasq --cache-size=10000 (warm), --server=knotd',
  },
  start(ctx) {
    let extra;
    if (ctx.scenario === 'forwarding') extra = ['--cache-size=0', `--server=${dnsmasqFwd(ctx.upstream)}`];
    else if (ctx.scenario === 'fanout') {
      extra = ['--cache-size=0', '--all-servers', `--server=${dnsmasqFwd(ctx.upstream)}`,
        ...ctx.masters.map((m) => `--server=/${MASTER_ZONE}/${dnsmasqFwd(m)}`)];
    } else extra = ['--cache-size=10000', `--server=${dnsmasqFwd(ctx.upstream)}`];
    const args = dnsmasqArgs(ctx, extra);
    return { child: start('dnsmasq', 'dnsmasq', args, { cpus: ctx.cpus, logFile: join(ctx.dir, 'dnsmasq.log') }), config: `dnsmasq ${args.join(' ')}` };
  },
};

// ---------------------------------------------------------------- Node baselines
const nodeForwarder = {
  name: 'node-forwarder',
  kind: 'baseline',
  scenarios: ['forwarding', 'fanout'],
  describe: {
    forwarding: 'baselines/node-forwarder.mjs: dns-packet decode of each query, fresh ID, relay',
    fanout: 'baselines/node-forwarder.mjs with the three masters: send to all, first reply wins',
  },
  start(ctx) {
    const ups = ctx.scenario === 'fanout' ? ctx.masters.join(',') : ctx.upstream;
    const args = [join(here, 'baselines', 'node-forwarder.mjs'), '--port', String(ctx.port), '--upstream', ups];
    return { child: start(this.name, process.execPath, args, { cpus: ctx.cpus, logFile: join(ctx.dir, `${this.name}.log`) }), config: '' };
  },
};
// The same without dns-packet (ID read from the header): Node's floor for these datagrams.
const nodeRelay = {
  ...nodeForwarder,
  name: 'node-relay',
  optIn: true,
  describe: {
    forwarding: 'baselines/node-forwarder.mjs --no-decode: no decode, fresh ID, relay (Node floor)',
    fanout: 'baselines/node-forwarder.mjs --no-decode with the three masters: send to all, first reply wins (Node floor)',
  },
  start(ctx) {
    const ups = ctx.scenario === 'fanout' ? ctx.masters.join(',') : ctx.upstream;
    const args = [join(here, 'baselines', 'node-forwarder.mjs'), '--port', String(ctx.port), '--upstream', ups, '--no-decode'];
    return { child: start(this.name, process.execPath, args, { cpus: ctx.cpus, logFile: join(ctx.dir, `${this.name}.log`) }), config: '' };
  },
};
// The same on Hoplite's own UDP layer (the udp_batch addon): the floor of a Node forwarder built
// the way Hoplite reads and writes datagrams. Forwarding only.
const nativeRelay = {
  name: 'native-relay',
  kind: 'baseline',
  optIn: true,
  scenarios: ['forwarding'],
  describe: {
    forwarding: 'baselines/native-relay.mjs: Hoplite\'s UDP layer (udp_batch addon), fresh ID, relay; no parsing, no checks (Node + addon floor)',
  },
  start(ctx) {
    const args = [join(here, 'baselines', 'native-relay.mjs'), '--port', String(ctx.port), '--upstream', ctx.upstream];
    return { child: start(this.name, process.execPath, args, { cpus: ctx.cpus, logFile: join(ctx.dir, `${this.name}.log`) }), config: '' };
  },
};
const responder = (mode) => ({
  name: `node-${mode}`,
  kind: 'baseline',
  scenarios: ['local'],
  describe: {
    local: mode === 'idpatch'
      ? 'baselines/node-responder.mjs --mode idpatch: stored answer, ID patched'
      : 'baselines/node-responder.mjs --mode encode: dns-packet encode of each answer',
  },
  start(ctx) {
    const args = [join(here, 'baselines', 'node-responder.mjs'), '--port', String(ctx.port), '--records', ctx.recordsFile, '--mode', mode];
    return { child: start(this.name, process.execPath, args, { cpus: ctx.cpus, logFile: join(ctx.dir, `${this.name}.log`) }), config: '' };
  },
});

/** In the order they are interleaved within a round (Hoplite first). */
export const SERVERS = [hoplite, hopliteDgram, dnsdist, unbound, unboundTtl0, dnsmasq, nodeForwarder, nodeRelay, nativeRelay, responder('idpatch'), responder('encode')];
