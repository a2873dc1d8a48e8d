/**
 * Redis store specifics against a private redis-server: scripts, free ranges, quarantine,
 * layout changes, import, check/repair, the feed. (The shared behaviour is in
 * redis-conformance.test.ts.)
 */
import t from 'tap';
import { Redis } from 'ioredis';
import { formatIpv4, parseIpv4 } from '../src/addr.js';
import { createAllocator } from '../src/allocator.js';
import { planPools } from '../src/pools.js';
import { createRedisStore, type RedisStore } from '../src/redis/index.js';
import type { PoolLayout, VipChange, VipStore, WatchEvent } from '../src/types.js';
import { startRedisServer } from './helpers/redis-server.js';

const redis = await startRedisServer();
t.teardown(() => redis.destroy());
const raw = new Redis(redis.port, '127.0.0.1');
t.teardown(() => raw.disconnect());

let prefixes = 0;
async function open(layout: PoolLayout, quarantineMs = 60_000, extra: { keyPrefix?: string; updatePools?: boolean } = {}): Promise<RedisStore> {
  const store = (await createRedisStore({
    url: redis.url,
    layout,
    quarantineMs,
    keyPrefix: extra.keyPrefix ?? `t${++prefixes}`,
    ...(extra.updatePools !== undefined ? { updatePools: extra.updatePools } : {}),
  })) as RedisStore;
  t.teardown(() => store.close());
  return store;
}

const small = planPools({ pools: ['10.9.0.0/29'] }).layout; // 6 addresses: .1-.6
const ip = (s: string): number => parseIpv4(s) as number;
const named = (n: string, preferred: number, port = 80) => ({
  name: `${n}.marathon.l4lb.thisdcos.directory`,
  label: n,
  framework: 'marathon',
  ports: [{ port, protocol: 'tcp' as const }],
  preferred,
});

t.test('allocate takes the preferred address, then the next free, wrapping; exhaustion is coded', async (t) => {
  const s = await open(small);
  const a = await s.allocate(named('a', ip('10.9.0.5')), 1000);
  t.equal(a.vip.ipv4, '10.9.0.5');
  t.equal(a.created, true);
  const b = await s.allocate(named('b', ip('10.9.0.5')), 1000);
  t.equal(b.vip.ipv4, '10.9.0.6', 'next free above');
  const c = await s.allocate(named('c', ip('10.9.0.6')), 1000);
  t.equal(c.vip.ipv4, '10.9.0.1', 'wraps to the lowest free');
  for (const n of ['d', 'e', 'f']) await s.allocate(named(n, ip('10.9.0.1')), 1000);
  await t.rejects(s.allocate(named('g', ip('10.9.0.1')), 1000), { code: 'HOPLITE_VIP_POOL_EXHAUSTED' });
  const again = await s.allocate(named('a', 0), 1000);
  t.equal(again.vip.ipv4, '10.9.0.5', 'idempotent');
  t.equal(again.created, false);
  t.equal(await s.revision(), 6, 'one revision per new VIP, none for a repeat');
  const stats = await s.stats(1000);
  t.same(stats, [{ cidr: '10.9.0.0/29', size: 6, used: 6, quarantined: 0, free: 0 }]);
});

t.test('ports merge; revision only when a port is added', async (t) => {
  const s = await open(small);
  await s.allocate(named('a', ip('10.9.0.1'), 80), 0);
  const r1 = await s.allocate(named('a', 0, 53), 0);
  t.same(r1.vip.ports, [{ port: 53, protocol: 'tcp' }, { port: 80, protocol: 'tcp' }]);
  t.equal(r1.vip.updatedRevision, 2);
  t.equal(r1.vip.createdRevision, 1);
  const r2 = await s.allocate(named('a', 0, 53), 0);
  t.equal(r2.vip.updatedRevision, 2);
  t.equal(await s.revision(), 2);
  const none = await s.allocate({ ...named('b', ip('10.9.0.3')), ports: [] }, 0);
  t.same(none.vip.ports, [], 'no ports stays an empty list');
});

t.test('quarantine: same name gets its address back; others wait until it expires', async (t) => {
  const s = await open(small, 1000);
  const a = await s.allocate(named('a', ip('10.9.0.2')), 0);
  const released = await s.release(a.vip.name, 100);
  t.equal(released?.ipv4, '10.9.0.2');
  t.equal(await s.release(a.vip.name, 100), undefined, 'second release: unknown');
  t.same(await s.quarantine(100), [{ name: a.vip.name, ipv4: '10.9.0.2', until: 1100 }]);
  const b = await s.allocate(named('b', ip('10.9.0.2')), 500);
  t.equal(b.vip.ipv4, '10.9.0.3', 'another name skips the quarantined address');
  const back = await s.allocate(named('a', ip('10.9.0.6')), 600);
  t.equal(back.vip.ipv4, '10.9.0.2');
  t.equal(back.fromQuarantine, true);
  t.equal(back.created, false);
  await s.release(a.vip.name, 700); // until 1700
  t.same((await s.stats(800))[0], { cidr: '10.9.0.0/29', size: 6, used: 1, quarantined: 1, free: 4 });
  const c = await s.allocate(named('c', ip('10.9.0.2')), 1700);
  t.equal(c.vip.ipv4, '10.9.0.2', 'expired quarantine counts as free');
  t.same(await s.quarantine(1700), []);
});

t.test('expired quarantine of the same name is not a take-back', async (t) => {
  const s = await open(small, 1000);
  await s.allocate(named('a', ip('10.9.0.2')), 0);
  await s.release(`a.marathon.l4lb.thisdcos.directory`, 0);
  const r = await s.allocate(named('a', ip('10.9.0.4')), 5000);
  t.equal(r.fromQuarantine, false);
  t.equal(r.vip.ipv4, '10.9.0.4');
  t.same((await s.stats(5000))[0], { cidr: '10.9.0.0/29', size: 6, used: 1, quarantined: 0, free: 5 });
  t.same((await s.check({ repair: false }, 5000)).problems, []);
});

t.test('quarantineMs 0 frees at once', async (t) => {
  const s = await open(small, 0);
  await s.allocate(named('a', ip('10.9.0.2')), 0);
  await s.release('a.marathon.l4lb.thisdcos.directory', 1);
  const b = await s.allocate(named('b', ip('10.9.0.2')), 2);
  t.equal(b.vip.ipv4, '10.9.0.2');
});

t.test('reserve: pin, IP VIP, taken, outside, move', async (t) => {
  const s = await open(small, 1000);
  const ipvip = await s.reserve({ name: '10.9.0.3', label: '10.9.0.3', framework: '', kind: 'ip', ports: [{ port: 80, protocol: 'tcp' }], address: ip('10.9.0.3') }, 0);
  t.equal(ipvip.vip.kind, 'ip');
  t.equal(ipvip.vip.pinned, true);
  const a = await s.allocate(named('a', ip('10.9.0.3')), 0);
  t.equal(a.vip.ipv4, '10.9.0.4', 'a named VIP never gets a reserved address');
  await t.rejects(s.reserve({ ...named('b', 0), kind: 'named', address: ip('10.9.0.3') }, 0), {
    code: 'HOPLITE_VIP_ADDRESS_TAKEN',
    details: { heldBy: '10.9.0.3', reason: 'used' },
  });
  await t.rejects(s.reserve({ ...named('b', 0), kind: 'named', address: ip('10.9.0.7') }, 0), { code: 'HOPLITE_VIP_ADDRESS_OUTSIDE_POOL' });
  // Move a: its old address goes into quarantine under its name.
  const moved = await s.reserve({ ...named('a', 0), kind: 'named', address: ip('10.9.0.6') }, 10);
  t.equal(moved.vip.ipv4, '10.9.0.6');
  t.equal(moved.vip.pinned, true);
  t.same(await s.quarantine(10), [{ name: a.vip.name, ipv4: '10.9.0.4', until: 1010 }]);
  await t.rejects(s.reserve({ ...named('b', 0), kind: 'named', address: ip('10.9.0.4') }, 20), {
    code: 'HOPLITE_VIP_ADDRESS_TAKEN',
    details: { reason: 'quarantined', until: 1010 },
  });
  const ok = await s.reserve({ ...named('b', 0), kind: 'named', address: ip('10.9.0.4') }, 1010);
  t.equal(ok.vip.ipv4, '10.9.0.4', 'expired quarantine can be reserved');
  t.equal((await s.getByAddress('10.9.0.4'))?.name, ok.vip.name);
  t.equal(await s.getByAddress('10.9.0.5'), undefined);
  t.same((await s.check({ repair: false }, 1010)).problems, []);
});

t.test('a pool nearly full: allocation still finds the few free addresses', async (t) => {
  const layout = planPools({ pools: ['10.20.0.0/16'] }).layout;
  const s = await open(layout, 0);
  // Fill all but every 1000th address through the public path would take a while; reserve-free
  // carving through Lua is what the bench does. Here: allocate 300 at one preferred address.
  const base = ip('10.20.0.1');
  for (let i = 0; i < 300; i++) await s.allocate(named(`n${i}`, base), 0);
  const next = await s.allocate(named('last', base), 0);
  t.equal(next.vip.ipv4, formatIpv4(base + 300), 'next free after a run of 300 used addresses');
  t.same((await s.check({ repair: false }, 0)).problems, []);
});

t.test('the layout is written once; other pools are adopted; updatePools adds ranges and stops using removed ones', async (t) => {
  const prefix = 'layout-change';
  const one = planPools({ pools: ['10.9.0.0/29'] }).layout;
  const s1 = await open(one, 0, { keyPrefix: prefix });
  const a = await s1.allocate(named('a', ip('10.9.0.1')), 0);
  const s1b = await open(one, 0, { keyPrefix: prefix });
  t.equal((await s1b.get(a.vip.name))?.ipv4, '10.9.0.1', 'same layout: nothing changed');
  const two = planPools({ pools: ['10.9.1.0/29'] }).layout;
  const adopting = await open(two, 0, { keyPrefix: prefix });
  t.equal(adopting.poolsOutcome, 'adopted');
  t.match((await adopting.allocate(named('c', ip('10.9.1.2')), 0)).vip.ipv4, /^10\.9\.0\./, 'without updatePools: the stored pool');
  await adopting.release('c.marathon.l4lb.thisdcos.directory', 0);
  t.match(JSON.parse((await raw.get(s1.keys.pools)) ?? '{}'), { config: { pools: ['10.9.0.0/29'] } }, 'stored pools untouched');
  const s2 = await open(two, 1000, { keyPrefix: prefix, updatePools: true });
  t.equal(s2.poolsOutcome, 'updated');
  t.match(JSON.parse((await raw.get(s1.keys.pools)) ?? '{}'), { config: { pools: ['10.9.1.0/29'] } });
  const b = await s2.allocate(named('b', ip('10.9.0.2')), 0);
  t.match(b.vip.ipv4, /^10\.9\.1\./, 'allocates from the new pool only');
  t.equal((await s2.get(a.vip.name))?.ipv4, '10.9.0.1', 'existing VIPs keep their address');
  const report = await s2.check({ repair: false }, 0);
  t.same(report.problems.map((p) => p.code), ['OUTSIDE_POOL']);
  await s2.release(a.vip.name, 0);
  t.same(await s2.quarantine(0), [], 'an address outside the pools is dropped, not quarantined');
  t.same((await s2.stats(0))[0], { cidr: '10.9.1.0/29', size: 6, used: 1, quarantined: 0, free: 5 });
  t.same((await s2.check({ repair: false }, 0)).problems, []);
});

t.test('export / import round trip; bad import changes nothing', async (t) => {
  const s = await open(small, 1000);
  await s.allocate(named('a', ip('10.9.0.1')), 0);
  await s.allocate(named('b', ip('10.9.0.2')), 0);
  await s.release('b.marathon.l4lb.thisdcos.directory', 100);
  const table = await s.exportTable(200);
  t.equal(table.vips.length, 1);
  t.same(table.quarantine, [{ name: 'b.marathon.l4lb.thisdcos.directory', ipv4: '10.9.0.2', until: 1100 }]);

  const s2 = await open(small, 1000);
  await s2.allocate(named('z', ip('10.9.0.5')), 0);
  const before = await s2.exportTable(200);
  const bad = { ...table, vips: [...table.vips, { ...table.vips[0]!, name: 'dup.marathon.l4lb.thisdcos.directory', label: 'dup' }] };
  await t.rejects(s2.importTable(bad, 200), { code: 'HOPLITE_VIP_BAD_IMPORT' });
  t.same(await s2.exportTable(200), before, 'nothing changed');

  await s2.importTable(table, 200);
  const after = await s2.exportTable(200);
  t.same(after.vips, table.vips, 'records kept, revisions included');
  t.same(after.quarantine, table.quarantine);
  t.equal(after.revision, Math.max(before.revision, table.revision) + 1);
  const b = await s2.allocate(named('b', ip('10.9.0.6')), 300);
  t.equal(b.vip.ipv4, '10.9.0.2', 'imported quarantine honoured');
  t.same((await s2.check({ repair: false }, 300)).problems, []);
});

t.test('check finds damage and repair mends it', async (t) => {
  const s = await open(small, 1000);
  await s.allocate(named('a', ip('10.9.0.1')), 0);
  await s.allocate(named('b', ip('10.9.0.2')), 0);
  const k = s.keys;
  t.same((await s.check({ repair: false }, 0)).problems, []);
  // Damage: lose an index entry, leak a free range, put a used address back into free.
  await raw.zrem(k.used, 'a.marathon.l4lb.thisdcos.directory');
  await raw.zrem(k.free, '3:3'); // no such member: harmless
  const free = await raw.zrange(k.free, 0, -1);
  await raw.del(k.free);
  await raw.zadd(k.free, ip('10.9.0.2'), `${ip('10.9.0.2')}:${ip('10.9.0.3')}`);
  await raw.zadd(k.free, ip('10.9.1.1'), `${ip('10.9.1.1')}:${ip('10.9.1.1')}`);
  await raw.set(k.rev, '1');
  const report = await s.check({ repair: false }, 0);
  t.same(report.problems.map((p) => p.code).sort(), ['FREE_LEAK', 'FREE_OUTSIDE_POOL', 'FREE_OVERLAP', 'INDEX_MISMATCH', 'REVISION_BEHIND']);
  t.equal(report.problems.find((p) => p.code === 'FREE_OVERLAP')?.subject, '10.9.0.2');
  t.equal(report.problems.find((p) => p.code === 'FREE_OUTSIDE_POOL')?.subject, '10.9.1.1');
  t.ok(report.problems.every((p) => p.repairable));
  t.equal(report.ok, false);
  const fixed = await s.check({ repair: true }, 0);
  t.equal(fixed.ok, true, JSON.stringify(fixed));
  t.equal(fixed.repaired.length, 5);
  t.same(await raw.zrange(k.free, 0, -1), free, 'free ranges rebuilt');
  t.equal(await s.revision(), 2);
  const c = await s.allocate(named('c', ip('10.9.0.1')), 0);
  t.equal(c.vip.ipv4, '10.9.0.3');
});

/** Redis Cluster's key slot: CRC16/XMODEM of the hash tag, mod 16384 (redis-cluster-test checks it against CLUSTER KEYSLOT). */
function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  const part = open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(part)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

t.test('keys share one hash tag', async (t) => {
  const s = await open(small);
  t.equal(keySlot('123456789'), 12739, 'CRC16/XMODEM check value');
  const slots = new Set(s.keys.all.map(keySlot));
  t.equal(slots.size, 1);
  const found = await raw.keys(`${s.keys.tag}*`);
  t.ok(found.every((key) => s.keys.all.includes(key)), 'no key outside keys.ts');
});

t.test('a flushed Redis is re-initialized on the next write', async (t) => {
  const s = await open(small, 0, { keyPrefix: 'flushed' });
  await s.allocate(named('a', ip('10.9.0.1')), 0);
  await raw.del(...s.keys.all);
  const r = await s.allocate(named('b', ip('10.9.0.1')), 0);
  t.equal(r.vip.ipv4, '10.9.0.1');
  t.equal(r.vip.createdRevision, 1);
});

t.test('watch: snapshot, then changes in order; an import resyncs', async (t) => {
  const s = await open(small, 1000);
  await s.allocate(named('a', ip('10.9.0.1')), 0);
  const events: WatchEvent[] = [];
  let notify: (() => void) | undefined;
  const w = s.watch((e) => {
    events.push(e);
    notify?.();
  });
  t.teardown(() => w.close());
  const until = async (pred: () => boolean): Promise<void> => {
    while (!pred()) await new Promise<void>((r) => (notify = r));
  };
  await until(() => events.length >= 1);
  t.equal(events[0]?.type, 'snapshot');
  if (events[0]?.type === 'snapshot') {
    t.equal(events[0].snapshot.revision, 1);
    t.same(events[0].snapshot.vips.map((v) => v.ipv4), ['10.9.0.1']);
  }
  await s.allocate(named('b', ip('10.9.0.2')), 0);
  await s.release('a.marathon.l4lb.thisdcos.directory', 0);
  await until(() => events.length >= 3);
  const changes = events.slice(1).map((e) => (e.type === 'change' ? e.change : undefined)) as VipChange[];
  t.same(changes.map((c) => [c.revision, c.type, c.vip.name]), [
    [2, 'put', 'b.marathon.l4lb.thisdcos.directory'],
    [3, 'delete', 'a.marathon.l4lb.thisdcos.directory'],
  ]);
  const table = await s.exportTable(0);
  await s.importTable(table, 0);
  await until(() => events.length >= 4);
  t.equal(events[3]?.type, 'snapshot', 'import -> resync');
  if (events[3]?.type === 'snapshot') t.equal(events[3].snapshot.revision, 4);

  // fromRevision: a second watcher resumes without a snapshot while the feed still holds it.
  await s.allocate(named('c', ip('10.9.0.3')), 0);
  const from: WatchEvent[] = [];
  let notify2: (() => void) | undefined;
  const w2 = s.watch(
    (e) => {
      from.push(e);
      notify2?.();
    },
    { fromRevision: 4 },
  );
  t.teardown(() => w2.close());
  while (from.length < 1) await new Promise<void>((r) => (notify2 = r));
  t.equal(from[0]?.type, 'change');
  if (from[0]?.type === 'change') t.equal(from[0].change.revision, 5);
});

t.test('watch: a trimmed feed is a gap, healed by a snapshot', async (t) => {
  const s = await open(planPools({ pools: ['10.30.0.0/24'] }).layout, 0);
  const first = await s.allocate(named('x0', ip('10.30.0.1')), 0);
  t.equal(first.vip.createdRevision, 1);
  const events: WatchEvent[] = [];
  let notify: (() => void) | undefined;
  const w = s.watch((e) => {
    events.push(e);
    notify?.();
  }, { fromRevision: 0 });
  t.teardown(() => w.close());
  // fromRevision 0 with the feed intact: change 1 arrives without a snapshot.
  while (events.length < 1) await new Promise<void>((r) => (notify = r));
  t.equal(events[0]?.type, 'change');
  // Trim the feed behind the watcher's back while it is idle, then write.
  await w.close();
  for (let i = 1; i <= 5; i++) await s.allocate(named(`x${i}`, ip('10.30.0.1')), 0);
  await raw.xtrim(s.keys.feed, 'MAXLEN', 2);
  const ev2: WatchEvent[] = [];
  let notify2: (() => void) | undefined;
  const w2 = s.watch((e) => {
    ev2.push(e);
    notify2?.();
  }, { fromRevision: 1 });
  t.teardown(() => w2.close());
  while (ev2.length < 1) await new Promise<void>((r) => (notify2 = r));
  t.equal(ev2[0]?.type, 'snapshot', 'gap -> snapshot');
  if (ev2[0]?.type === 'snapshot') t.equal(ev2[0].snapshot.vips.length, 6);
});

t.test('closed store refuses calls', async (t) => {
  const s: VipStore = await open(small);
  await s.close();
  await t.rejects(s.get('x'), { code: 'HOPLITE_VIP_CLOSED' });
  await t.rejects(s.allocate(named('a', 1), 0), { code: 'HOPLITE_VIP_CLOSED' });
});

t.test('keys of an older version (no pools key), and pools left stale by one', async (t) => {
  const prefix = 'legacy';
  const A = planPools({ pools: ['10.9.0.0/29'], ipv6Pool: 'fd00:9::/64' }).layout;
  const s = await open(A, 0, { keyPrefix: prefix });
  const a = await s.allocate(named('a', ip('10.9.0.1')), 0);
  const poolsOfA = await raw.get(s.keys.pools);
  await raw.del(s.keys.pools);
  const other = planPools({ pools: ['10.9.1.0/29'] }).layout;
  const adopted = await open(other, 0, { keyPrefix: prefix });
  t.equal(adopted.poolsOutcome, 'adopted');
  t.equal(adopted.layout.config, undefined, 'only the IPv4 layout is known');
  t.same(adopted.layout.ranges, A.ranges);
  t.equal(await raw.exists(s.keys.pools), 0, 'nothing written');
  const same = await open(A, 0, { keyPrefix: prefix });
  t.equal(same.poolsOutcome, 'same');
  t.equal(await raw.get(s.keys.pools), poolsOfA, 'the same IPv4 pools write the configuration');
  t.same((await adopted.refreshLayout()).config, A.config, 'a running handle follows');
  t.same(await same.get(a.vip.name), a.vip);

  // An older version rewrites the layout and leaves the pools: they are ignored, check says so.
  const B = planPools({ pools: ['10.9.0.0/29', '10.9.2.0/29'] }).layout;
  await open(B, 0, { keyPrefix: prefix, updatePools: true });
  await raw.set(s.keys.pools, poolsOfA as string);
  const s2 = await open(planPools({ pools: ['10.9.3.0/29'] }).layout, 0, { keyPrefix: prefix });
  t.equal(s2.poolsOutcome, 'adopted');
  t.same(s2.layout.ranges, B.ranges, 'the layout is followed');
  t.equal(s2.layout.config, undefined);
  t.same((await s2.check({ repair: true }, 0)).problems.map((p) => [p.code, p.repairable]), [['LAYOUT_DIFFERS', false]]);
  const s3 = await open(B, 0, { keyPrefix: prefix });
  t.equal(s3.poolsOutcome, 'same');
  t.same(s3.layout.config, B.config, 'mended by a process with the layout\'s pools');
  t.same(await s3.check({ repair: false }, 0), { ok: true, problems: [], repaired: [] });
});

t.test('createAllocator on Redis: the stored pools win; updatePools replaces them', async (t) => {
  const prefix = 'facade-pools';
  const a = await createAllocator({ store: redis.url, pools: ['10.9.4.0/24'], ipv6Pool: 'fd00:94::/64', redis: { keyPrefix: prefix } });
  t.teardown(() => a.close());
  t.equal(a.poolsOutcome, 'created');
  const web = await a.allocate('web');
  const b = await createAllocator({ store: redis.url, pools: ['10.9.5.0/24'], redis: { keyPrefix: prefix } });
  t.teardown(() => b.close());
  t.equal(b.poolsOutcome, 'adopted');
  t.equal(b.poolsAdopted, true);
  t.same(await b.get('web'), web.vip, 'same record, AAAA included');
  t.equal(b.preferredAddress('x'), a.preferredAddress('x'));
  const c = await createAllocator({ store: redis.url, pools: ['10.9.5.0/24'], updatePools: true, redis: { keyPrefix: prefix } });
  t.teardown(() => c.close());
  t.equal(c.poolsOutcome, 'updated');
  t.equal(c.poolsAdopted, false);
  t.equal((await c.get('web'))?.ipv6, undefined, 'no IPv6 pool stored any more');
  t.match((await c.allocate('new')).vip.ipv4, /^10\.9\.5\./);
  t.same((await a.stats()).map((s) => s.cidr), ['10.9.5.0/24'], 'a running allocator follows (stats reads the pools)');
  t.equal(a.poolsAdopted, true);
  t.equal((await a.get('web'))?.ipv6, undefined);
});
