/**
 * `hoplite vip ...` (the built binary) against a private redis-server: the store chosen by
 * --store and by HOPLITE_STORE, the table moved from the embedded store to Redis through a pipe,
 * a broken import changing nothing, `check --repair` mending keys corrupted on purpose, and a
 * stopped Redis failing fast with exit 1.
 */
import t from 'tap';
import { startRedisServer } from '../../vip/test/helpers/redis-server.js';
import { cliHome, runCli, stdoutJson, type RunResult } from './helpers/run-cli.js';

const redis = await startRedisServer();
t.teardown(() => redis.destroy());
const home = cliHome(t);
const onRedis = (args: string[], stdin?: string): Promise<RunResult> =>
  runCli(['vip', ...args], { home, env: { HOPLITE_STORE: redis.url }, ...(stdin !== undefined ? { stdin } : {}) });

/** RESP reply of ZSCORE/GET etc. as text (the helper's raw client). */
const cmd = (...args: string[]): Promise<string> => redis.command(...args);

const MYAPP = 'myapp.marathon.l4lb.thisdcos.directory';

t.test('allocate, get, list, stats, release on Redis (HOPLITE_STORE and --store)', async (t) => {
  const a = await onRedis(['allocate', '/myapp', '--port', '5555']);
  t.equal(a.code, 0, a.stderr);
  t.match(a.stdout, /myapp\.marathon\.l4lb\.thisdcos\.directory\s+172\.16\.45\.20\s+5555\/tcp\s+no\s+created\n$/, 'the same preferred address as on the embedded store');
  t.equal(await cmd('ZSCORE', '{hoplite:vip}:used', MYAPP), String(0xac102d14), 'written to Redis, under the documented keys');

  const [byFlag, list, stats] = await Promise.all([
    runCli(['vip', 'get', '172.16.45.20', '--store', redis.url, '--json'], { home }),
    onRedis(['list', '--json']),
    onRedis(['stats', '--json']),
  ]);
  t.equal(byFlag.code, 0, byFlag.stderr);
  t.match(stdoutJson(byFlag), { name: MYAPP, ipv4: '172.16.45.20', ports: [{ port: 5555, protocol: 'tcp' }] });
  t.same(stdoutJson<{ vips: { name: string }[] }>(list).vips.map((v) => v.name), [MYAPP]);
  t.match(stdoutJson(stats), { pools: [{ cidr: '172.16.0.0/16', size: 65534, used: 1, quarantined: 0, free: 65533 }] });

  const rel = await onRedis(['release', MYAPP, '--json']);
  t.equal(rel.code, 0, rel.stderr);
  t.match(stdoutJson(rel), { released: true, vip: { ipv4: '172.16.45.20' }, quarantineUntil: /^\d{4}-/ });
  const back = await onRedis(['allocate', 'myapp', '--json']);
  t.match(stdoutJson(back), { fromQuarantine: true, vip: { ipv4: '172.16.45.20' } });
});

t.test('export from the embedded store | import into Redis; a broken import changes nothing', async (t) => {
  const fromApp = await runCli(['vip', 'from-app', '-'], {
    home,
    stdin: JSON.stringify({ id: '/shop', container: { portMappings: [{ containerPort: 80, labels: { VIP_0: '/shop:80' } }] }, portDefinitions: [{ protocol: 'udp', labels: { VIP_1: 'shop-metrics:8125' } }] }),
  });
  t.equal(fromApp.code, 0, fromApp.stderr);
  const exported = await runCli(['vip', 'export'], { home });
  t.equal(exported.code, 0, exported.stderr);

  const imported = await onRedis(['import', '-', '--json'], exported.stdout);
  t.equal(imported.code, 0, imported.stderr);
  t.match(stdoutJson(imported), { imported: true, vips: 2, quarantine: 0 });
  const names = (r: RunResult): string[] => stdoutJson<{ vips: { name: string }[] }>(r).vips.map((v) => v.name);
  const list = await onRedis(['list', '--json']);
  t.same(names(list), ['shop-metrics.marathon.l4lb.thisdcos.directory', 'shop.marathon.l4lb.thisdcos.directory'], 'the Redis table is the embedded one (myapp is gone)');

  const before = (await onRedis(['export'])).stdout;
  const broken = JSON.parse(exported.stdout) as { vips: { ipv4: string }[] };
  broken.vips[1]!.ipv4 = '192.168.1.1';
  const [refused, garbage] = await Promise.all([onRedis(['import', '-'], JSON.stringify(broken)), onRedis(['import', '-'], 'not json')]);
  t.equal(refused.code, 2);
  t.match(refused.stderr, /^error \[HOPLITE_VIP_BAD_IMPORT\]: import refused, nothing changed: 1 problem\(s\): vips\[1\] .*192\.168\.1\.1 is outside the pools/);
  t.equal(garbage.code, 2);
  t.match(garbage.stderr, /^error \[HOPLITE_INPUT_FILE\]/);
  t.equal((await onRedis(['export'])).stdout, before, 'the Redis table did not change');
});

t.test('check --repair mends Redis keys corrupted on purpose', async (t) => {
  const shop = stdoutJson<{ ipv4: string }>(await onRedis(['get', 'shop', '--json'])).ipv4;
  const a = shop.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  // The address index loses a name; the free space gets shop's address; the revision falls back.
  await cmd('ZREM', '{hoplite:vip}:used', 'shop-metrics.marathon.l4lb.thisdcos.directory');
  await cmd('ZADD', '{hoplite:vip}:free', String(a), `${a}:${a}`);
  await cmd('SET', '{hoplite:vip}:rev', '0');

  const found = await onRedis(['check', '--json']);
  t.equal(found.code, 1);
  const report = stdoutJson<{ ok: boolean; problems: { code: string; repairable: boolean }[] }>(found);
  t.equal(report.ok, false);
  const codes = new Set(report.problems.map((p) => p.code));
  for (const c of ['INDEX_MISMATCH', 'FREE_OVERLAP', 'REVISION_BEHIND']) t.ok(codes.has(c), `found ${c} (all: ${[...codes].join(', ')})`);
  t.ok(report.problems.every((p) => p.repairable));
  t.match(found.stderr, /HOPLITE_CHECK_FAILED.*can be mended/);

  const repair = await onRedis(['check', '--repair', '--json']);
  t.equal(repair.code, 0, repair.stderr);
  const repaired = stdoutJson<{ ok: boolean; repaired: string[]; remaining: unknown[] }>(repair);
  t.equal(repaired.ok, true);
  t.same(repaired.remaining, []);
  t.ok(repaired.repaired.length >= 3, `said what it did: ${repaired.repaired.join(' | ')}`);
  t.equal(await cmd('ZSCORE', '{hoplite:vip}:used', 'shop-metrics.marathon.l4lb.thisdcos.directory') !== '', true, 'the index entry is back');
  t.ok(Number(await cmd('GET', '{hoplite:vip}:rev')) > 0, 'the revision is ahead again');
  const ok = await onRedis(['check']);
  t.equal(ok.code, 0, ok.stdout + ok.stderr);
  t.equal(ok.stdout, 'ok: no problems\n');
});

t.test('a stopped Redis: exit 1 within seconds, HOPLITE_VIP_STORE_UNAVAILABLE', async (t) => {
  await redis.stop();
  const [allocate, list] = await Promise.all([onRedis(['allocate', 'x']), onRedis(['list', '--json'])]);
  for (const r of [allocate, list]) {
    t.equal(r.code, 1, r.stderr);
    t.equal(r.stdout, '');
    t.match(r.stderr, new RegExp(`^error \\[HOPLITE_VIP_STORE_UNAVAILABLE\\]: VIP store redis://127\\.0\\.0\\.1:${redis.port} unavailable: not ready after 3000 ms`));
    t.notMatch(r.stderr, /warning: redis connection error/, 'no repeated connection warnings');
    // 3 s of connection attempts plus the process's start on a busy machine; never the library's 10 s default.
    t.ok(r.durationMs < 9_000, `failed in ${r.durationMs} ms`);
    t.notOk(r.timedOut);
  }
});
