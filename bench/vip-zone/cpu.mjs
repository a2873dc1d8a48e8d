// Part 3, CPU per VIP answer on one core under dnsperf load: the real `hoplite serve` answering VIP
// names from its VipTable (fed by a private Redis holding vip0..vip<n-1>), beside the servers of the
// DNS harness's `local` scenario (bench/dns/servers.mjs, reused as they are): Hoplite's DNS package
// with a static record source (bench/dns/hoplite-server.mjs), unbound and dnsmasq answering from a
// warm cache (knotd behind them serves the same names), and the Node calibration responders.
//
// One run of one server, as bench/dns/run.mjs does it: wait for the server CPU to be quiet; start
// it pinned (taskset -c <server cpu>); probe until it answers; idle RSS; warm-up; max throughput
// (dnsperf -l D -c 4 -q 100) -> qps, CPU us/query, busy %; fixed rate (-Q R -v) -> CPU us/query,
// latency percentiles; VmHWM; stop by PID. Every round runs every server (round-robin).

import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { memKb, freePort, stop, sleep, which } from '../lib/proc.mjs';
import { waitForAnswer } from '../lib/dnsprobe.mjs';
import { runDnsperf } from '../lib/dnsperf.mjs';
import { SERVERS } from '../dns/servers.mjs';
import { startServe, loadWindow, metricValue, waitForQuiet, currentBuild } from './lib.mjs';

/** The real daemon, on the store `ctx.vipStore` (a redis URL with vip0..vip<n-1>). */
export const hopliteServe = {
  name: 'hoplite-serve',
  describe: 'hoplite serve (packages/cli/dist/bin.js), VIP zone from VipTable, store = private Redis with the same names (vip<i>.marathon, port 80/tcp)',
  async start(ctx) {
    const serve = await startServe({
      store: ctx.vipStore, pools: ctx.pools, dir: ctx.dir, cpus: ctx.cpus, snapshotFile: join(ctx.dir, 'vip-snapshot.json'),
      logFile: join(ctx.dir, 'serve.log'), nodeArgs: ctx.nodeArgs ?? [],
    });
    await serve.waitForLog('vip zone synced');
    return { child: serve.child, port: serve.dnsPort, serve, config: serve.command };
  },
};

/** The peers and baselines of bench/dns's local scenario, started on a port we pick. */
function fromDnsHarness(name) {
  const s = SERVERS.find((d) => d.name === name);
  if (!s) throw new Error(`bench/dns/servers.mjs has no server ${name}`);
  return {
    name,
    describe: s.describe.local,
    bin: { unbound: 'unbound', dnsmasq: 'dnsmasq', dnsdist: 'dnsdist' }[name],
    async start(ctx) {
      const port = await freePort();
      // The Hoplite adapter imports the frozen @hoplite/dns (--module), like serve runs the frozen CLI.
      const { child, config } = s.start({ ...ctx, scenario: 'local', port, hopliteModule: currentBuild().dnsModule });
      return { child, port, config };
    },
  };
}

export const CPU_SERVERS = ['hoplite-serve', 'hoplite', 'unbound', 'dnsmasq', 'dnsdist', 'node-idpatch', 'node-encode'];
export const cpuServer = (name) => (name === 'hoplite-serve' ? hopliteServe : fromDnsHarness(name));
export const available = (s) => !s.bin || which(s.bin) !== undefined;

export async function cpuRun(server, ctx, { duration, warmup, rate, probeName, serverCpu, loadCpu, maxOther, log }) {
  const busyBefore = await waitForQuiet(serverCpu, { maxPct: maxOther, log });
  mkdirSync(ctx.dir, { recursive: true });
  const result = { server: server.name, serverCpuBusyBeforePct: busyBefore };
  let started;
  try {
    started = await server.start({ ...ctx, cpus: serverCpu });
    const { child, port } = started;
    result.command = started.config;
    const probe = await waitForAnswer(port, probeName, { child, until: 30000 });
    if (!probe.answers.some((a) => a.type === 'A')) throw new Error(`probe ${probeName}: no A record`);
    await sleep(500);
    result.idleRssKb = memKb(child.pid).rssKb;
    await runDnsperf({ port, queryFile: ctx.queryFile, seconds: warmup, cpus: loadCpu, outFile: join(ctx.dir, 'warm.out') });
    const m0 = started.serve ? await started.serve.metrics() : undefined;
    result.max = await loadWindow({ pid: child.pid, port, queryFile: ctx.queryFile, seconds: duration, outFile: join(ctx.dir, 'max.out'), serverCpu, loadCpu });
    if (started.serve) {
      const m1 = await started.serve.metrics();
      result.max.cacheMisses = metricValue(m1, 'hoplite_dns_local_cache_misses_total') - metricValue(m0, 'hoplite_dns_local_cache_misses_total');
    }
    result.rate = await loadWindow({ pid: child.pid, port, queryFile: ctx.queryFile, seconds: duration, rate, verbose: true, outFile: join(ctx.dir, 'rate.out'), serverCpu, loadCpu });
    result.peakRssKb = memKb(child.pid).hwmKb;
    if (!child.alive()) throw new Error(`${server.name} died during the run:\n${child.output()}`);
    result.status = 'ok';
    return result;
  } catch (err) {
    return { ...result, status: 'error', reason: String(err.stack ?? err).slice(0, 3000) };
  } finally {
    if (started) await stop(started.child, 10000);
  }
}
