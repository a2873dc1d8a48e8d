import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createAllocator, openEmbeddedStore, parseStoreSpec, planPools, POOLS_ADOPTED_LOG, type WatchEvent } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'hoplite-vip-allocator-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `a-${n++}.db`);

function fakeClock(start = Date.UTC(2026, 0, 1)) {
  const c = { now: start, clock: () => c.now };
  return c;
}

t.test('allocate: name normalized, preferred address from the hash, idempotent', async (t) => {
  const vips = await createAllocator({ store: `embedded:${fresh()}` });
  t.teardown(() => vips.close());
  const a = await vips.allocate('MyApp', { ports: ['5555/tcp', 5556, { port: 53, protocol: 'udp' }] });
  t.equal(a.vip.name, 'myapp.marathon.l4lb.thisdcos.directory');
  t.equal(a.vip.ipv4, '172.16.45.20', 'the worked example of docs/vip.md');
  t.equal(vips.preferredAddress('myapp'), '172.16.45.20');
  t.same(a.vip.ports, [
    { port: 53, protocol: 'udp' },
    { port: 5555, protocol: 'tcp' },
    { port: 5556, protocol: 'tcp' },
  ]);
  t.equal(a.vip.ipv6, undefined, 'no IPv6 pool, no ipv6');
  const b = await vips.allocate('/myapp');
  t.equal(b.vip.ipv4, a.vip.ipv4);
  t.equal(b.created, false);
  t.equal((await vips.allocate('/mygroup/myapp', { framework: 'Kafka' })).vip.name, 'mygroupmyapp.kafka.l4lb.thisdcos.directory');
  await t.rejects(vips.allocate('///'), { code: 'HOPLITE_VIP_BAD_NAME' });
  await t.rejects(vips.allocate('x', { ports: ['70000/tcp'] }), { code: 'HOPLITE_VIP_BAD_PORT' });
  await t.rejects(vips.allocate('x', { ports: ['80/sctp'] }), { code: 'HOPLITE_VIP_BAD_PORT' });
});

t.test('IPv6 pool: AAAA derived, lookups by IPv6', async (t) => {
  const vips = await createAllocator({ store: fresh(), ipv6Pool: 'fd00:c::/64' });
  t.teardown(() => vips.close());
  const a = await vips.allocate('myapp');
  t.equal(a.vip.ipv6, 'fd00:c::2d14', '172.16.45.20 is offset 0x2d14 in 172.16.0.0/16');
  t.equal(vips.ipv6For('172.16.45.20'), 'fd00:c::2d14');
  t.same(await vips.get('fd00:c::2d14'), a.vip);
  t.same(await vips.get('[fd00:c::2d14]'), a.vip);
  await t.rejects(vips.get('fd00:d::1'), { code: 'HOPLITE_VIP_BAD_ADDRESS' });
  const seen: WatchEvent[] = [];
  await new Promise<void>((resolve) => {
    const w = vips.watch((e) => {
      seen.push(e);
      void w.close().then(resolve);
    });
  });
  t.match(seen[0], { type: 'snapshot', snapshot: { vips: [{ ipv6: 'fd00:c::2d14' }] } });
  t.equal((await vips.snapshot()).vips[0]?.ipv6, 'fd00:c::2d14');
  t.equal((await vips.list())[0]?.ipv6, 'fd00:c::2d14');
});

t.test('labels: named, IP VIP inside a pool (reserved), outside (nothing stored), IPv6', async (t) => {
  const vips = await createAllocator({ store: fresh(), pools: ['10.10.0.0/24'], ipv6Pool: 'fd00:1::/120' });
  t.teardown(() => vips.close());
  const named = await vips.allocateLabel('/web:8080', { key: 'VIP_0', protocol: 'udp,tcp' });
  t.equal(named.vip?.name, 'web.marathon.l4lb.thisdcos.directory');
  t.same(named.vip?.ports, [
    { port: 8080, protocol: 'tcp' },
    { port: 8080, protocol: 'udp' },
  ]);
  const inside = await vips.allocateLabel('10.10.0.77:80');
  t.match(inside, { created: true, vip: { kind: 'ip', name: '10.10.0.77', ipv4: '10.10.0.77', ipv6: 'fd00:1::4d', pinned: true } });
  const outside = await vips.allocateLabel('10.99.0.1:80');
  t.equal(outside.vip, undefined);
  t.equal(outside.label.kind, 'ip');
  const v6 = await vips.allocateLabel('[fd00:1::4e]:443');
  t.match(v6.vip, { kind: 'ip', name: '10.10.0.78', ipv4: '10.10.0.78', ipv6: 'fd00:1::4e' });
  t.equal((await vips.allocateLabel('[fd00:99::1]:443')).vip, undefined, 'an IPv6 outside the pool reserves nothing');
  // A named VIP whose preference is a reserved IP VIP address moves on.
  const all = await vips.list({ kind: 'named' });
  t.equal(all.length, 1);
  await t.rejects(vips.allocateLabel('nonsense'), { code: 'HOPLITE_VIP_BAD_LABEL' });
  await t.rejects(vips.allocateLabel('/x:80', { key: 'PORT_0' }), { code: 'HOPLITE_VIP_BAD_LABEL' });
});

t.test('release, quarantine and the clock', async (t) => {
  const c = fakeClock();
  const vips = await createAllocator({ store: fresh(), pools: ['10.20.0.0/29'], quarantineMs: 1000, clock: c.clock });
  t.teardown(() => vips.close());
  const a = await vips.allocate('a');
  t.same(await vips.release('a'), a.vip);
  t.equal(await vips.release('a'), undefined, 'twice: nothing');
  t.match(await vips.quarantine(), [{ name: a.vip.name, ipv4: a.vip.ipv4, until: c.now + 1000 }]);
  const b = await vips.allocate('b');
  t.not(b.vip.ipv4, a.vip.ipv4);
  c.now += 1000;
  t.same(await vips.quarantine(), []);
  // Release by address.
  t.equal((await vips.release(b.vip.ipv4))?.name, b.vip.name);
  t.equal(await vips.release('10.20.0.200'), undefined);
  await t.rejects(vips.release('10.20.0'), { code: 'HOPLITE_VIP_BAD_ADDRESS' });
});

t.test('reserve, reserveIp, get, list filters, stats', async (t) => {
  const vips = await createAllocator({ store: fresh(), pools: ['10.30.0.0/24', '192.168.30.0/24'] });
  t.teardown(() => vips.close());
  const r = await vips.reserve('/db', '10.30.0.9', { ports: ['5432/tcp'] });
  t.match(r.vip, { name: 'db.marathon.l4lb.thisdcos.directory', ipv4: '10.30.0.9', pinned: true });
  await t.rejects(vips.reserve('/other', '10.30.0.9'), { code: 'HOPLITE_VIP_ADDRESS_TAKEN' });
  await t.rejects(vips.reserve('/other', '8.8.8.8'), { code: 'HOPLITE_VIP_ADDRESS_OUTSIDE_POOL' });
  await t.rejects(vips.reserve('/other', 'not-an-address'), { code: 'HOPLITE_VIP_BAD_ADDRESS' });
  await t.rejects(vips.reserve('/other', 'fd00::1'), { code: 'HOPLITE_VIP_BAD_ADDRESS' });
  await vips.reserveIp('192.168.30.5', { ports: ['80'] });
  await vips.allocate('/cache', { framework: 'kafka' });
  t.same(await vips.get('db'), r.vip);
  t.same(await vips.get('db.marathon.l4lb.thisdcos.directory.'), r.vip);
  t.same(await vips.get('10.30.0.9'), r.vip);
  t.equal((await vips.get('192.168.30.5'))?.kind, 'ip');
  t.equal(await vips.get('nobody'), undefined);
  t.same((await vips.list()).map((v) => v.name), ['192.168.30.5', 'cache.kafka.l4lb.thisdcos.directory', 'db.marathon.l4lb.thisdcos.directory']);
  t.same((await vips.list({ framework: 'Kafka' })).map((v) => v.label), ['cache']);
  t.same((await vips.list({ pool: '192.168.30.0/24' })).map((v) => v.name), ['192.168.30.5']);
  t.same((await vips.list({ kind: 'ip' })).length, 1);
  await t.rejects(vips.list({ pool: 'nope' }), { code: 'HOPLITE_VIP_BAD_OPTION' });
  const stats = await vips.stats();
  t.same(stats.map((s) => [s.cidr, s.size]), [
    ['10.30.0.0/24', 254],
    ['192.168.30.0/24', 254],
  ]);
  const cache = (await vips.get('cache.kafka.l4lb.thisdcos.directory'))?.ipv4 ?? '';
  t.equal(stats[0]?.used, cache.startsWith('10.30.') ? 2 : 1);
  t.equal(stats.reduce((n, s) => n + s.used, 0), 3);
});

t.test('export, import, check through the allocator', async (t) => {
  const a = await createAllocator({ store: fresh(), pools: ['10.40.0.0/24'] });
  const b = await createAllocator({ store: fresh(), pools: ['10.40.0.0/24'] });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  await a.allocate('one');
  await a.allocate('two');
  const table = JSON.parse(JSON.stringify(await a.exportTable()));
  await b.importTable(table);
  t.same((await b.list()).map((v) => [v.name, v.ipv4]), (await a.list()).map((v) => [v.name, v.ipv4]));
  t.same(await b.check(), { ok: true, problems: [], repaired: [] });
  await t.rejects(b.importTable({ ...table, version: 2 }), { code: 'HOPLITE_VIP_BAD_IMPORT' });
});

t.test('options are validated, errors name the option', async (t) => {
  await t.rejects(createAllocator({ store: fresh(), quarantineMs: -5 }), { code: 'HOPLITE_VIP_BAD_OPTION', details: { option: 'quarantineMs' } });
  await t.rejects(createAllocator({ store: fresh(), pools: ['1.2.3.0/24'] }), { code: 'HOPLITE_VIP_BAD_POOL', details: { option: 'pools' } });
  await t.rejects(createAllocator({ store: 'mysql://x' }), { code: 'HOPLITE_VIP_BAD_STORE_URL' });
  await t.rejects(createAllocator({ store: 'redis://:secret@' }), { code: 'HOPLITE_VIP_BAD_STORE_URL' });
  await t.rejects(createAllocator({ store: 'embedded:/a.db', path: '/b.db' }), { code: 'HOPLITE_VIP_BAD_OPTION', details: { option: 'path' } });
  await t.rejects(createAllocator({ store: 42 as unknown as string }), { code: 'HOPLITE_VIP_BAD_OPTION' });
  await t.rejects(createAllocator({ store: fresh(), clock: 'now' as unknown as () => number }), { code: 'HOPLITE_VIP_BAD_OPTION' });
  await t.rejects(createAllocator({ store: 'redis://127.0.0.1:1', redis: { connectTimeoutMs: 300 } }), { code: 'HOPLITE_VIP_STORE_UNAVAILABLE' });
  try {
    await createAllocator({ store: 'redis://user:s3cret@' });
  } catch (err) {
    t.notMatch((err as Error).message, /s3cret/, 'no password in messages');
  }
});

t.test('a store instance is used, not owned', async (t) => {
  const layout = planPools({ pools: ['10.50.0.0/24'] }).layout;
  const store = await openEmbeddedStore({ path: fresh(), layout, quarantineMs: 0 });
  t.teardown(() => store.close());
  const vips = await createAllocator({ store, pools: ['10.50.0.0/24'] });
  await vips.allocate('x');
  await vips.close();
  t.equal((await store.list()).length, 1, 'the store stays open');
  await t.rejects(vips.allocate('y'), { code: 'HOPLITE_VIP_CLOSED' });
  t.throws(() => vips.watch(() => {}), { code: 'HOPLITE_VIP_CLOSED' });
});

t.test('store strings', async (t) => {
  t.same(parseStoreSpec('embedded'), { kind: 'embedded', path: undefined });
  t.same(parseStoreSpec('embedded:/var/lib/hoplite/vip.db'), { kind: 'embedded', path: '/var/lib/hoplite/vip.db' });
  t.same(parseStoreSpec('file:///var/lib/h%20x/vip.db'), { kind: 'embedded', path: '/var/lib/h x/vip.db' });
  t.same(parseStoreSpec('file:rel/vip.db'), { kind: 'embedded', path: 'rel/vip.db' });
  t.same(parseStoreSpec('./vip.db'), { kind: 'embedded', path: './vip.db' });
  t.match(parseStoreSpec('redis://:pw@10.0.0.5:6380/2'), { kind: 'redis', connection: { mode: 'standalone', hosts: [{ host: '10.0.0.5', port: 6380 }], db: 2, password: 'pw' } });
  t.match(parseStoreSpec('rediss://h'), { kind: 'redis', connection: { tls: true } });
  t.match(parseStoreSpec('redis+sentinel://s1,s2:26380/mymaster/1'), {
    kind: 'redis',
    connection: { mode: 'sentinel', masterName: 'mymaster', db: 1, hosts: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }] },
  });
  t.match(parseStoreSpec('redis+cluster://a:7000,b:7001'), { kind: 'redis', connection: { mode: 'cluster', hosts: [{ port: 7000 }, { port: 7001 }] } });
  for (const bad of ['', 'embedded:', 'file:', '~/vip.db', 'vip.db', 'http://x', 'redis+sentinel://h']) {
    t.throws(() => parseStoreSpec(bad), { code: 'HOPLITE_VIP_BAD_STORE_URL' }, JSON.stringify(bad));
  }
});

/** A pino logger writing into an array (what the CLI would print as warnings). */
function logSink() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as Record<string, unknown>) });
  return { logger, lines, warnings: () => lines.filter((l) => l['level'] === 40).map((l) => String(l['msg'])) };
}

t.test('createAllocator: the stored pools win; updatePools replaces them', async (t) => {
  const path = fresh();
  const first = logSink();
  const a = await createAllocator({ store: path, pools: ['10.70.0.0/24'], ipv6Pool: 'fd00:70::/64', logger: first.logger });
  t.equal(a.poolsOutcome, 'created');
  t.equal(a.poolsAdopted, false);
  const web = await a.allocate('web');
  await a.close();

  // A stale config: other pools, no IPv6 pool. Nothing changes in the store; the stored pools are used.
  const stale = logSink();
  const b = await createAllocator({ store: path, pools: ['10.71.0.0/24'], logger: stale.logger });
  t.teardown(() => b.close());
  t.equal(b.poolsOutcome, 'adopted');
  t.equal(b.poolsAdopted, true);
  t.same(b.pools.pools, ['10.70.0.0/24']);
  t.equal(b.pools.ipv6Pool, 'fd00:70::/64');
  t.same(b.configuredPools.pools, ['10.71.0.0/24']);
  t.same(await b.get('web'), web.vip, 'same record, same AAAA');
  t.equal(b.preferredAddress('other'), a.preferredAddress('other'));
  t.same(stale.warnings(), ['vip pools differ from the store; using the stored pools'], 'one warning');
  const w = stale.lines.find((l) => l['level'] === 40);
  t.equal(w?.['configured'], '10.71.0.0/24');
  t.equal(w?.['stored'], '10.70.0.0/24 ipv6 fd00:70::/64');

  // The same config again: no warning.
  const again = logSink();
  const c = await createAllocator({ store: path, pools: ['10.70.0.0/24'], ipv6Pool: 'fd00:70::/64', logger: again.logger });
  t.equal(c.poolsOutcome, 'same');
  t.same(again.warnings(), []);
  await c.close();

  // An operator replaces them.
  const upd = logSink();
  const d = await createAllocator({ store: path, pools: ['10.70.0.0/24', '10.71.0.0/24'], ipv6Pool: 'fd00:71::/64', updatePools: true, logger: upd.logger });
  t.teardown(() => d.close());
  t.equal(d.poolsOutcome, 'updated');
  t.equal(d.poolsAdopted, false);
  t.same(upd.warnings(), ['vip pools updated']);
  t.match((await d.get('web'))?.ipv6, /^fd00:71::/, 'AAAA from the new IPv6 pool');
  t.same((await d.stats()).map((s) => s.cidr), ['10.70.0.0/24', '10.71.0.0/24']);
  // The stale process, still open, follows once it reads the pools.
  t.same((await b.refreshPools()).pools, ['10.70.0.0/24', '10.71.0.0/24']);
  t.same(await b.get('web'), await d.get('web'));
  t.equal(b.poolsAdopted, true, 'still not its configured pools');
});

t.test('updatePools: validated; refused with a store instance', async (t) => {
  await t.rejects(createAllocator({ store: fresh(), updatePools: 'yes' as unknown as boolean }), { code: 'HOPLITE_VIP_BAD_OPTION', details: { option: 'updatePools' } });
  const store = await openEmbeddedStore({ path: fresh(), layout: planPools({ pools: ['10.72.0.0/24'] }).layout, quarantineMs: 0 });
  t.teardown(() => store.close());
  await t.rejects(createAllocator({ store, updatePools: true }), { code: 'HOPLITE_VIP_BAD_OPTION', details: { option: 'updatePools' } });
  const sink = logSink();
  const other = await createAllocator({ store, pools: ['10.73.0.0/24'], logger: sink.logger });
  t.equal(other.poolsAdopted, true, 'an instance with other pools: the store\'s are used');
  t.same(other.pools.pools, ['10.72.0.0/24']);
  t.same(sink.warnings(), [POOLS_ADOPTED_LOG]);
  await other.close();
});
