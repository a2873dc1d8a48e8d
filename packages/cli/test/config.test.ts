import t from 'tap';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, maskUrl, maskedConfig, resolvConfNameservers } from '../src/config/load.js';
import { envName, FIELDS } from '../src/config/schema.js';
import { ConfigError } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'hoplite-config-'));
const resolv = join(dir, 'resolv.conf');
writeFileSync(resolv, '# comment\nnameserver 10.255.255.53\nnameserver 127.0.0.1\nnameserver fd00::53%eth0\noptions timeout:1\n');

function fileWith(obj: unknown): string {
  const p = join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(p, typeof obj === 'string' ? obj : JSON.stringify(obj));
  return p;
}

t.test('defaults', async (t) => {
  const { config, sources } = loadConfig({ resolvConf: resolv });
  t.equal(config.store, 'embedded');
  t.same(config.dns.listen, ['127.0.0.1:8053']);
  t.same(config.dns.upstreams, ['10.255.255.53:53', '127.0.0.1:53', '[fd00::53]:53']);
  t.equal(config.dns.policy, 'parallel');
  t.same(config.dns.masterZones, ['mesos']);
  t.equal(config.vip.quarantine, 600_000);
  t.same(config.vip.pools, ['172.16.0.0/16']);
  t.equal(sources['store'], 'default');
  t.ok(Object.isFrozen(config) && Object.isFrozen(config.dns) && Object.isFrozen(config.dns.listen));
});

t.test('own listen addresses are left out of the default upstreams', async (t) => {
  const { config } = loadConfig({ resolvConf: resolv, flags: { listen: ['127.0.0.1:53', '10.255.255.53'] } });
  t.same(config.dns.upstreams, ['[fd00::53]:53']);
});

t.test('precedence: defaults < file < env < flags', async (t) => {
  const file = fileWith({ store: 'redis://file:6379', dns: { policy: 'random', timeout: '3s' }, vip: { ttl: 7 } });
  const { config, sources } = loadConfig({
    file,
    resolvConf: resolv,
    env: { HOPLITE_STORE: 'redis://env:6379', HOPLITE_DNS_POLICY: 'sequential' },
    flags: { store: 'redis://flag:6379' },
  });
  t.equal(config.store, 'redis://flag:6379');
  t.equal(sources['store'], 'flag --store');
  t.equal(config.dns.policy, 'sequential');
  t.equal(sources['dns.policy'], 'env HOPLITE_DNS_POLICY');
  t.equal(config.dns.timeout, 3000);
  t.equal(sources['dns.timeout'], `file ${file}`);
  t.equal(config.vip.ttl, 7);
});

t.test('lists and maps from strings and repeated flags', async (t) => {
  const { config } = loadConfig({
    resolvConf: resolv,
    env: { HOPLITE_DNS_FORWARD_ZONES: 'corp.example=10.0.0.1,10.0.0.2:5353; lab=[fd00::1]:53', HOPLITE_VIP_POOLS: '10.10.0.0/16, 192.168.0.0/24' },
    flags: { upstream: ['1.1.1.1', '9.9.9.9:5353'], master: '10.0.0.5' },
  });
  t.same(config.dns.forwardZones, { 'corp.example': ['10.0.0.1', '10.0.0.2:5353'], lab: ['[fd00::1]:53'] });
  t.same(config.vip.pools, ['10.10.0.0/16', '192.168.0.0/24']);
  t.same(config.dns.upstreams, ['1.1.1.1', '9.9.9.9:5353']);
  t.same(config.dns.masters, ['10.0.0.5']);
});

t.test('every problem reported at once, naming key, source, value and what is accepted', async (t) => {
  const file = fileWith({ dns: { policy: 'roundrobin', bogus: 1 }, nope: true });
  const err = (() => {
    try {
      loadConfig({
        file,
        resolvConf: resolv,
        env: { HOPLITE_DNS_TIMEOUT: 'soon', HOPLITE_TYPO: 'x' },
        flags: { listen: ['127.0.0.1:99999'], 'vip-ttl': '-1' },
      });
    } catch (e) {
      return e;
    }
    return undefined;
  })();
  t.ok(err instanceof ConfigError);
  const e = err as ConfigError;
  t.equal(e.code, 'HOPLITE_CONFIG');
  t.equal(e.exitCode, 2);
  const keys = e.issues.map((i) => i.key).sort();
  t.same(keys, ['HOPLITE_TYPO', 'dns.bogus', 'dns.listen', 'dns.policy', 'dns.timeout', 'nope', 'vip.ttl']);
  const policy = e.issues.find((i) => i.key === 'dns.policy')!;
  t.equal(policy.value, 'roundrobin');
  t.match(policy.expected, /parallel, sequential, random/);
  t.match(e.message, /dns\.timeout = "soon" \(from env HOPLITE_DNS_TIMEOUT\): expected a duration/);
  t.match(e.message, /dns\.listen .*from flag --listen/);
});

t.test('config file errors', async (t) => {
  t.throws(() => loadConfig({ file: join(dir, 'missing.json') }), { code: 'HOPLITE_CONFIG_FILE', message: /no such file/ });
  t.throws(() => loadConfig({ file: fileWith('{ not json') }), { code: 'HOPLITE_CONFIG_FILE', message: /not valid JSON/ });
  t.throws(() => loadConfig({ file: fileWith('[1]') }), { code: 'HOPLITE_CONFIG_FILE', message: /top level/ });
});

t.test('durations', async (t) => {
  for (const [s, ms] of [['250ms', 250], ['5s', 5000], ['1.5s', 1500], ['2m', 120000], ['1500', 1500]] as const) {
    t.equal(loadConfig({ resolvConf: resolv, env: { HOPLITE_DNS_DEADLINE: s } }).config.dns.deadline, ms, s);
  }
  t.throws(() => loadConfig({ resolvConf: resolv, env: { HOPLITE_DNS_DEADLINE: '5 parsecs' } }), { code: 'HOPLITE_CONFIG' });
  t.throws(() => loadConfig({ resolvConf: resolv, env: { HOPLITE_DNS_DEADLINE: '1ms' } }), { code: 'HOPLITE_CONFIG' });
});

t.test('secrets are masked', async (t) => {
  t.equal(maskUrl('redis://:hunter2@10.0.0.1:6379/0'), 'redis://:***@10.0.0.1:6379/0');
  t.equal(maskUrl('redis+sentinel://admin:pw@h1:26379,h2:26379/mymaster'), 'redis+sentinel://admin:***@h1:26379,h2:26379/mymaster');
  t.equal(maskUrl('redis://10.0.0.1:6379'), 'redis://10.0.0.1:6379');
  const { config } = loadConfig({ resolvConf: resolv, flags: { store: 'redis://:hunter2@127.0.0.1:6379' } });
  t.equal(maskedConfig(config).store, 'redis://:***@127.0.0.1:6379');
  t.notMatch(JSON.stringify(maskedConfig(config)), /hunter2/);
});

t.test('environment names and flags are unique', async (t) => {
  const envs = FIELDS.map((f) => envName(f.key));
  t.equal(new Set(envs).size, envs.length);
  const flags = FIELDS.flatMap((f) => (f.flag ? [f.flag] : []));
  t.equal(new Set(flags).size, flags.length);
  t.equal(envName('dns.tcpIdleTimeout'), 'HOPLITE_DNS_TCP_IDLE_TIMEOUT');
});

t.test('resolv.conf missing gives no upstreams', async (t) => {
  t.same(resolvConfNameservers(join(dir, 'nope')), []);
});
