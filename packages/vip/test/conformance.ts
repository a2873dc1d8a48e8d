/**
 * The VipStore conformance suite: one set of tests every store (embedded, Redis) must pass.
 *
 *   import t from 'tap';
 *   import { conformance, type ConformanceHarness } from './conformance.js';
 *
 *   conformance(t, {
 *     name: 'redis',
 *     // A FRESH, EMPTY store each call (its own key prefix / file), with this layout.
 *     open: (layout, { quarantineMs }) => createRedisStore({ url, layout, quarantineMs, keyPrefix: uniq() }),
 *     // A second handle on the SAME data as `store`, opened with `layout` (a restart, maybe with other
 *     // pools); `updatePools` passed to the store factory.
 *     reopen: (store, layout, { quarantineMs, updatePools }) => ...,
 *     // Damage the store on purpose, for check/repair (store-specific, outside the VipStore API):
 *     damage: {
 *       leakFree: (store, address) => ...,   // a free address becomes neither free, used nor quarantined
 *       freeUsed: (store, address) => ...,   // a VIP's address is ALSO put back into the free space
 *       trimFeed: (store, revision) => ...,  // drop the change-feed entries up to `revision` (as the
 *                                            // store's own trimming would, much later)
 *     },
 *   });
 *
 * `conformance` registers subtests on `t` (it returns at once); every store it opens is closed by
 * the suite. Addresses passed to `damage` are unsigned integers. The clock is the `now` argument
 * of the VipStore methods: the suite uses a fake time, so quarantine expiry needs no sleeping.
 */
import type { Test } from 'tap';
import { formatIpv4, parseIpv4 } from '../src/addr.js';
import { createAllocator, type Allocator } from '../src/allocator.js';
import { preferredAddress } from '../src/hash.js';
import { vipName } from '../src/names.js';
import { addressAt, layoutKey, planPools } from '../src/pools.js';
import { poolConfigKey } from '../src/stored-pools.js';
import type { AllocateRequest, PoolLayout, VipPort, VipRecord, VipStore, VipTableExport, WatchEvent } from '../src/types.js';

export interface ConformanceHarness {
  /** Shown in test names. */
  name: string;
  open(layout: PoolLayout, opts: { quarantineMs: number }): Promise<VipStore>;
  reopen(store: VipStore, layout: PoolLayout, opts: { quarantineMs: number; updatePools?: boolean }): Promise<VipStore>;
  damage: {
    leakFree(store: VipStore, address: number): Promise<void>;
    freeUsed(store: VipStore, address: number): Promise<void>;
    /** Drop every change-feed entry with a revision <= `revision`. The embedded harness does it
     *  synchronously (before the returned promise settles). */
    trimFeed(store: VipStore, revision: number): Promise<void>;
  };
}

const T0 = Date.UTC(2026, 0, 1);
const Q = 60_000;
const ip = (s: string): number => parseIpv4(s) as number;

function req(raw: string, preferred: number, ports: VipPort[] = [{ port: 80, protocol: 'tcp' }]): AllocateRequest {
  const n = vipName(raw);
  return { name: n.name, label: n.label, framework: n.framework, ports, preferred };
}

function ipReq(address: string, ports: VipPort[] = [{ port: 80, protocol: 'tcp' }]) {
  return { name: address, label: address, framework: '', ports, kind: 'ip' as const, address: ip(address) };
}

function namedReserve(raw: string, address: string, ports: VipPort[] = [{ port: 80, protocol: 'tcp' }]) {
  const n = vipName(raw);
  return { name: n.name, label: n.label, framework: n.framework, ports, kind: 'named' as const, address: ip(address) };
}

async function rejects(t: Test, p: Promise<unknown>, code: string, msg: string): Promise<Record<string, unknown> | undefined> {
  try {
    await p;
    t.fail(`${msg}: expected ${code}, resolved`);
    return undefined;
  } catch (err) {
    t.equal((err as { code?: string }).code, code, msg);
    return err as Record<string, unknown>;
  }
}

/** Collects watch events; `until(pred)` resolves when the events so far satisfy pred. */
class Recorder {
  events: WatchEvent[] = [];
  #waiters: { pred: (e: WatchEvent[]) => boolean; resolve: () => void }[] = [];
  listener = (e: WatchEvent): void => {
    this.events.push(e);
    this.#waiters = this.#waiters.filter((w) => {
      if (w.pred(this.events)) {
        w.resolve();
        return false;
      }
      return true;
    });
  };
  until(pred: (e: WatchEvent[]) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    if (pred(this.events)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.events.map((e) => e.type))}`)), timeoutMs);
      this.#waiters.push({
        pred,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  }
  changes(): { revision: number; type: string; name: string; ipv4: string }[] {
    return this.events.flatMap((e) =>
      e.type === 'change' ? [{ revision: e.change.revision, type: e.change.type, name: e.change.vip.name, ipv4: e.change.vip.ipv4 }] : [],
    );
  }
  snapshots(): number {
    return this.events.filter((e) => e.type === 'snapshot').length;
  }
}

/** What a consumer of a chunked watch (WatchOptions.chunkSize) builds from its events, replayed. */
interface ChunkedReplay {
  /** Each completed snapshot: begin's revision, end's, the table at the end, the changes replayed inside it. */
  ends: { begin: number; revision: number; table: VipRecord[]; replayed: number[] }[];
  begins: number;
  chunkSizes: number[];
  /** The table in use after every event, and its revision. */
  table: VipRecord[];
  revision: number;
}

const byName = (x: VipRecord, y: VipRecord): number => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0);

function replayChunked(events: readonly WatchEvent[]): ChunkedReplay {
  let table = new Map<string, VipRecord>();
  let revision = -1;
  let building: Map<string, VipRecord> | undefined;
  let begin = -1;
  let replayed: number[] = [];
  const out: ChunkedReplay = { ends: [], begins: 0, chunkSizes: [], table: [], revision: -1 };
  for (const e of events) {
    if (e.type === 'snapshot-begin') {
      building = new Map();
      begin = e.revision;
      replayed = [];
      out.begins++;
    } else if (e.type === 'snapshot-chunk') {
      out.chunkSizes.push(e.vips.length);
      for (const v of e.vips) building?.set(v.name, v);
    } else if (e.type === 'change') {
      const target = building ?? table;
      if (building) replayed.push(e.change.revision);
      else revision = e.change.revision;
      if (e.change.type === 'put') target.set(e.change.vip.name, e.change.vip);
      else target.delete(e.change.name);
    } else if (e.type === 'snapshot-end') {
      table = building ?? new Map();
      building = undefined;
      revision = e.revision;
      out.ends.push({ begin, revision, table: [...table.values()].sort(byName), replayed });
    } else if (e.type === 'error') building = undefined;
  }
  out.table = [...table.values()].sort(byName);
  out.revision = revision;
  return out;
}

/** The table at `revision` from a plain watch's events: its first snapshot, then its changes up to `revision`. */
function plainTableAt(events: readonly WatchEvent[], revision: number): VipRecord[] {
  const table = new Map<string, VipRecord>();
  let started = false;
  for (const e of events) {
    if (e.type === 'snapshot' && !started) {
      started = true;
      if (e.snapshot.revision > revision) throw new Error(`the plain watch started at ${e.snapshot.revision}, after ${revision}`);
      for (const v of e.snapshot.vips) table.set(v.name, v);
    } else if (e.type === 'change' && started && e.change.revision <= revision) {
      if (e.change.type === 'put') table.set(e.change.vip.name, e.change.vip);
      else table.delete(e.change.name);
    }
  }
  return [...table.values()].sort(byName);
}

function stripRevisions(vips: readonly VipRecord[]) {
  return vips.map((v) => ({ name: v.name, ipv4: v.ipv4, ports: v.ports, pinned: v.pinned, kind: v.kind }));
}

export function conformance(t: Test, h: ConformanceHarness): void {
  const small = planPools({ pools: ['10.0.0.0/29'] }).layout; // 10.0.0.1 - 10.0.0.6
  const two = planPools({ pools: ['10.0.0.0/24', '192.168.7.0/24'], exclude: ['10.0.0.128/25'] }).layout;

  async function open(t: Test, layout: PoolLayout, quarantineMs = Q): Promise<VipStore> {
    const store = await h.open(layout, { quarantineMs });
    t.teardown(() => store.close());
    return store;
  }

  async function reopen(t: Test, store: VipStore, layout: PoolLayout, updatePools?: boolean): Promise<VipStore> {
    const s = await h.reopen(store, layout, { quarantineMs: Q, ...(updatePools !== undefined ? { updatePools } : {}) });
    t.teardown(() => s.close());
    return s;
  }

  async function allocator(t: Test, store: VipStore, pools?: { pools: string[]; ipv6Pool?: string; exclude?: string[] }): Promise<Allocator> {
    const a = await createAllocator({ store, clock: () => T0, ...(pools ?? {}) });
    t.teardown(() => a.close());
    return a;
  }

  t.test(`${h.name}: allocate is idempotent and stable`, async (t) => {
    const s = await open(t, two);
    const r0 = await s.revision();
    const a = await s.allocate(req('/web', ip('10.0.0.20')), T0);
    t.equal(a.created, true);
    t.equal(a.fromQuarantine, false);
    t.match(a.vip, {
      name: 'web.marathon.l4lb.thisdcos.directory',
      kind: 'named',
      label: 'web',
      framework: 'marathon',
      ipv4: '10.0.0.20',
      pinned: false,
      createdRevision: r0 + 1,
      updatedRevision: r0 + 1,
    });
    t.same(a.vip.ports, [{ port: 80, protocol: 'tcp' }]);
    t.equal(a.vip.ipv6, undefined, 'stores leave ipv6 to the allocator');
    t.equal(await s.revision(), r0 + 1);
    for (let i = 0; i < 3; i++) {
      const again = await s.allocate(req('/web', ip('10.0.0.99')), T0);
      t.equal(again.vip.ipv4, '10.0.0.20', 'same address whatever the preference');
      t.equal(again.created, false);
    }
    t.equal(await s.revision(), r0 + 1, 'no change, no revision');
    t.same(await s.get('web.marathon.l4lb.thisdcos.directory'), a.vip);
    t.same(await s.getByAddress('10.0.0.20'), a.vip);
    t.equal(await s.get('nope.marathon.l4lb.thisdcos.directory'), undefined);
    t.equal(await s.getByAddress('10.0.0.21'), undefined);
    await rejects(t, s.getByAddress('10.0.0'), 'HOPLITE_VIP_BAD_ADDRESS', 'bad address');
    t.same(await s.list(), [a.vip]);
    t.same(await s.snapshot(), { revision: r0 + 1, vips: [a.vip] });
  });

  t.test(`${h.name}: collisions take the next free address, wrapping around`, async (t) => {
    const s = await open(t, two);
    const p = ip('10.0.0.126');
    t.equal((await s.allocate(req('a', p), T0)).vip.ipv4, '10.0.0.126');
    t.equal((await s.allocate(req('b', p), T0)).vip.ipv4, '10.0.0.127');
    t.equal((await s.allocate(req('c', p), T0)).vip.ipv4, '192.168.7.1', 'skips the excluded half and the next network address');
    t.equal((await s.allocate(req('d', ip('192.168.7.254')), T0)).vip.ipv4, '192.168.7.254');
    t.equal((await s.allocate(req('e', ip('192.168.7.254')), T0)).vip.ipv4, '10.0.0.1', 'wraps to the lowest free address');
    t.equal((await s.allocate(req('f', ip('192.168.7.255')), T0)).vip.ipv4, '10.0.0.2', 'a preference past the end wraps too');
    t.equal((await s.allocate(req('g', ip('10.0.0.0')), T0)).vip.ipv4, '10.0.0.3', 'a preference on a network address moves up');
  });

  t.test(`${h.name}: another port is added to the VIP`, async (t) => {
    const s = await open(t, small);
    const a = await s.allocate(req('dns', ip('10.0.0.3'), [{ port: 53, protocol: 'udp' }]), T0);
    const b = await s.allocate(req('dns', ip('10.0.0.3'), [{ port: 53, protocol: 'tcp' }, { port: 8080, protocol: 'tcp' }]), T0);
    t.equal(b.vip.ipv4, a.vip.ipv4);
    t.same(b.vip.ports, [
      { port: 53, protocol: 'tcp' },
      { port: 53, protocol: 'udp' },
      { port: 8080, protocol: 'tcp' },
    ]);
    t.equal(b.vip.updatedRevision, a.vip.updatedRevision + 1);
    t.equal(b.vip.createdRevision, a.vip.createdRevision);
    const r = await s.revision();
    await s.allocate(req('dns', ip('10.0.0.3'), [{ port: 53, protocol: 'udp' }]), T0);
    t.equal(await s.revision(), r, 'a port it has already is no change');
    t.same((await s.get(a.vip.name))?.ports, b.vip.ports);
  });

  t.test(`${h.name}: release quarantines the address for its old name`, async (t) => {
    const s = await open(t, small);
    const a = await s.allocate(req('old', ip('10.0.0.2')), T0);
    t.equal(await s.release('nobody.marathon.l4lb.thisdcos.directory', T0), undefined, 'unknown name');
    const r = await s.revision();
    const released = await s.release(a.vip.name, T0 + 1000);
    t.same(released, a.vip);
    t.equal(await s.revision(), r + 1);
    t.equal(await s.get(a.vip.name), undefined);
    t.same(await s.quarantine(T0 + 1000), [{ name: a.vip.name, ipv4: '10.0.0.2', until: T0 + 1000 + Q }]);
    const other = await s.allocate(req('new', ip('10.0.0.2')), T0 + 2000);
    t.equal(other.vip.ipv4, '10.0.0.3', 'another name does not get it during quarantine');
    const back = await s.allocate(req('old', ip('10.0.0.5')), T0 + 3000);
    t.equal(back.vip.ipv4, '10.0.0.2', 'the same name gets its old address back');
    t.equal(back.fromQuarantine, true);
    t.equal(back.created, false);
    t.same(await s.quarantine(T0 + 3000), []);
    // Expiry: release again, then after the quarantine another name may take it.
    await s.release(a.vip.name, T0 + 4000);
    t.same(await s.quarantine(T0 + 4000 + Q), [], 'an entry expires at until');
    const late = await s.allocate(req('late', ip('10.0.0.2')), T0 + 4000 + Q);
    t.equal(late.vip.ipv4, '10.0.0.2', 'free again once the quarantine expired');
    const gone = await s.allocate(req('old', ip('10.0.0.5')), T0 + 5000 + Q);
    t.equal(gone.fromQuarantine, false);
    t.equal(gone.vip.ipv4, '10.0.0.5');
  });

  t.test(`${h.name}: quarantineMs 0 frees at once`, async (t) => {
    const s = await open(t, small, 0);
    const a = await s.allocate(req('x', ip('10.0.0.4')), T0);
    await s.release(a.vip.name, T0);
    t.same(await s.quarantine(T0), []);
    t.equal((await s.allocate(req('y', ip('10.0.0.4')), T0)).vip.ipv4, '10.0.0.4');
  });

  t.test(`${h.name}: reserve pins an address`, async (t) => {
    const s = await open(t, two);
    const pinned = await s.reserve(namedReserve('db', '10.0.0.50'), T0);
    t.match(pinned, { created: true, vip: { ipv4: '10.0.0.50', pinned: true, kind: 'named', name: 'db.marathon.l4lb.thisdcos.directory' } });
    const again = await s.allocate(req('db', ip('10.0.0.1')), T0);
    t.equal(again.vip.ipv4, '10.0.0.50');
    t.equal(again.vip.pinned, true);
    const r = await s.revision();
    await s.reserve(namedReserve('db', '10.0.0.50'), T0);
    t.equal(await s.revision(), r, 'reserving what is already pinned is no change');
    t.equal((await s.allocate(req('other', ip('10.0.0.50')), T0)).vip.ipv4, '10.0.0.51', 'allocation skips a pinned address');

    await rejects(t, s.reserve(namedReserve('x', '10.0.0.51'), T0), 'HOPLITE_VIP_ADDRESS_TAKEN', 'used by another name');
    await rejects(t, s.reserve(namedReserve('x', '10.0.0.200'), T0), 'HOPLITE_VIP_ADDRESS_OUTSIDE_POOL', 'excluded');
    await rejects(t, s.reserve(namedReserve('x', '10.0.0.0'), T0), 'HOPLITE_VIP_ADDRESS_OUTSIDE_POOL', 'network address');
    await rejects(t, s.reserve(namedReserve('x', '10.9.0.1'), T0), 'HOPLITE_VIP_ADDRESS_OUTSIDE_POOL', 'outside every pool');

    // Moving a name: its old address goes into quarantine under its name.
    const web = await s.allocate(req('web', ip('10.0.0.60')), T0);
    const moved = await s.reserve(namedReserve('web', '10.0.0.61', [{ port: 443, protocol: 'tcp' }]), T0 + 10);
    t.equal(moved.vip.ipv4, '10.0.0.61');
    t.equal(moved.created, false);
    t.same(moved.vip.ports, [
      { port: 80, protocol: 'tcp' },
      { port: 443, protocol: 'tcp' },
    ]);
    t.same(await s.getByAddress('10.0.0.60'), undefined);
    t.match(await s.quarantine(T0 + 10), [{ name: web.vip.name, ipv4: '10.0.0.60' }]);
    await rejects(t, s.reserve(namedReserve('thief', '10.0.0.60'), T0 + 20), 'HOPLITE_VIP_ADDRESS_TAKEN', 'quarantined for another name');
    const thief = await s.reserve(namedReserve('thief', '10.0.0.60'), T0 + 10 + Q);
    t.equal(thief.vip.ipv4, '10.0.0.60', 'after the quarantine it can be reserved');
    // Reserve of a quarantined address by its own name.
    await s.release(moved.vip.name, T0 + 100 + Q);
    const own = await s.reserve(namedReserve('web', '10.0.0.61'), T0 + 200 + Q);
    t.equal(own.vip.ipv4, '10.0.0.61');
    t.equal(own.fromQuarantine, true);
  });

  t.test(`${h.name}: an IP VIP inside a pool is reserved`, async (t) => {
    const s = await open(t, two);
    const r = await s.reserve(ipReq('10.0.0.30'), T0);
    t.match(r.vip, { name: '10.0.0.30', kind: 'ip', label: '10.0.0.30', framework: '', ipv4: '10.0.0.30', pinned: true });
    t.equal((await s.allocate(req('named', ip('10.0.0.30')), T0)).vip.ipv4, '10.0.0.31', 'no named VIP gets it');
    const more = await s.reserve(ipReq('10.0.0.30', [{ port: 53, protocol: 'udp' }]), T0);
    t.same(more.vip.ports, [
      { port: 53, protocol: 'udp' },
      { port: 80, protocol: 'tcp' },
    ]);
    await rejects(t, s.reserve(ipReq('10.0.0.31'), T0), 'HOPLITE_VIP_ADDRESS_TAKEN', 'an IP VIP on a named VIP address');
    t.same(await s.get('10.0.0.30'), more.vip);
  });

  t.test(`${h.name}: an exhausted pool is a coded error naming the pool and its size`, async (t) => {
    const s = await open(t, small);
    const got = new Set<string>();
    for (let i = 0; i < 6; i++) got.add((await s.allocate(req(`n${i}`, ip('10.0.0.1')), T0)).vip.ipv4);
    t.equal(got.size, 6);
    const err = await rejects(t, s.allocate(req('n6', ip('10.0.0.1')), T0), 'HOPLITE_VIP_POOL_EXHAUSTED', 'seventh');
    t.match(err, { details: { pools: [{ cidr: '10.0.0.0/29', size: 6 }], size: 6 } });
    t.match(String(err?.['message']), /10\.0\.0\.0\/29.*6/);
    t.equal((await s.allocate(req('n3', ip('10.0.0.1')), T0)).vip.ipv4 !== undefined, true, 'existing names still answer');
    await s.release(vipName('n3').name, T0);
    await rejects(t, s.allocate(req('n7', ip('10.0.0.1')), T0 + 1), 'HOPLITE_VIP_POOL_EXHAUSTED', 'quarantined is not free');
    const late = await s.allocate(req('n7', ip('10.0.0.1')), T0 + Q);
    t.ok(late.vip.ipv4, 'free again after the quarantine');
    t.match(await s.stats(T0 + Q), [{ cidr: '10.0.0.0/29', size: 6, used: 6, quarantined: 0, free: 0 }]);
  });

  t.test(`${h.name}: a pool filled to the last address, many ranges`, async (t) => {
    const layout = planPools({ pools: ['10.1.0.0/24'], exclude: ['10.1.0.10', '10.1.0.20/30', '10.1.0.100'] }).layout;
    const s = await open(t, layout);
    const seen = new Set<string>();
    const names: string[] = [];
    for (let i = 0; i < layout.size; i++) {
      const v = (await s.allocate(req(`fill${i}`, addressAt(layout, (i * 7919) % layout.size)), T0)).vip;
      t.notOk(seen.has(v.ipv4), `${v.ipv4} given once`);
      seen.add(v.ipv4);
      names.push(v.name);
    }
    t.equal(seen.size, layout.size);
    for (const excluded of ['10.1.0.0', '10.1.0.10', '10.1.0.21', '10.1.0.100', '10.1.0.255']) t.notOk(seen.has(excluded), excluded);
    await rejects(t, s.allocate(req('one-more', ip('10.1.0.1')), T0), 'HOPLITE_VIP_POOL_EXHAUSTED', 'full');
    t.match(await s.stats(T0), [{ cidr: '10.1.0.0/24', size: layout.size, used: layout.size, free: 0 }]);
    t.match(await s.check({ repair: false }, T0), { ok: true, problems: [] });
  });

  t.test(`${h.name}: stats per pool`, async (t) => {
    const s = await open(t, two);
    await s.allocate(req('a', ip('10.0.0.1')), T0);
    await s.allocate(req('b', ip('192.168.7.1')), T0);
    await s.allocate(req('c', ip('192.168.7.1')), T0);
    await s.release(vipName('c').name, T0);
    t.same(await s.stats(T0), [
      { cidr: '10.0.0.0/24', size: 127, used: 1, quarantined: 0, free: 126 },
      { cidr: '192.168.7.0/24', size: 254, used: 1, quarantined: 1, free: 252 },
    ]);
  });

  t.test(`${h.name}: concurrent allocations from one client`, async (t) => {
    const s = await open(t, small);
    const names = ['a', 'b', 'c', 'd', 'e'];
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => s.allocate(req(names[i % 5] as string, ip('10.0.0.1')), T0)));
    const byName = new Map<string, Set<string>>();
    for (const r of results) byName.set(r.vip.name, (byName.get(r.vip.name) ?? new Set()).add(r.vip.ipv4));
    for (const [name, set] of byName) t.equal(set.size, 1, `${name} has one address`);
    t.equal(new Set([...byName.values()].map((v) => [...v][0])).size, 5, 'five distinct addresses');
    t.equal(results.filter((r) => r.created).length, 5, 'each name created once');
  });

  t.test(`${h.name}: revisions and the change feed`, async (t) => {
    const s = await open(t, two);
    await s.allocate(req('before', ip('10.0.0.1')), T0);
    const rec = new Recorder();
    const w = s.watch(rec.listener);
    t.teardown(() => w.close());
    await rec.until((e) => e.length >= 1, 'snapshot');
    const first = rec.events[0];
    t.equal(first?.type, 'snapshot');
    const r0 = first?.type === 'snapshot' ? first.snapshot.revision : -1;
    t.equal(r0, await s.revision());
    t.same(first?.type === 'snapshot' ? first.snapshot.vips.map((v) => v.name) : [], [vipName('before').name]);

    const a = await s.allocate(req('w1', ip('10.0.0.10')), T0);
    await s.allocate(req('w1', ip('10.0.0.10'), [{ port: 81, protocol: 'tcp' }]), T0);
    await s.release(a.vip.name, T0);
    await s.reserve(ipReq('10.0.0.40'), T0);
    await rec.until((e) => rec.changes().length >= 4, 'four changes');
    t.same(rec.changes(), [
      { revision: r0 + 1, type: 'put', name: a.vip.name, ipv4: '10.0.0.10' },
      { revision: r0 + 2, type: 'put', name: a.vip.name, ipv4: '10.0.0.10' },
      { revision: r0 + 3, type: 'delete', name: a.vip.name, ipv4: '10.0.0.10' },
      { revision: r0 + 4, type: 'put', name: '10.0.0.40', ipv4: '10.0.0.40' },
    ]);
    const del = rec.events.find((e) => e.type === 'change' && e.change.type === 'delete');
    t.equal(del?.type === 'change' && del.change.type === 'delete' ? del.change.name : '', a.vip.name);
    t.equal(await s.revision(), r0 + 4);
    t.equal(rec.snapshots(), 1, 'no resync while nothing was missed');

    // Resume from a revision: the missed changes, no snapshot.
    const rec2 = new Recorder();
    const w2 = s.watch(rec2.listener, { fromRevision: r0 + 2 });
    t.teardown(() => w2.close());
    await rec2.until(() => rec2.changes().length >= 2, 'resumed changes');
    t.equal(rec2.snapshots(), 0);
    t.same(rec2.changes().map((c) => c.revision), [r0 + 3, r0 + 4]);

    // From a revision the store never had: snapshot.
    const rec3 = new Recorder();
    const w3 = s.watch(rec3.listener, { fromRevision: r0 + 1000 });
    t.teardown(() => w3.close());
    await rec3.until((e) => e.some((x) => x.type === 'snapshot'), 'snapshot after a future revision');

    // An import leaves a gap: watchers resync with a snapshot.
    const table = await s.exportTable(T0);
    await s.importTable({ ...table, vips: table.vips.filter((v) => v.kind === 'named') }, T0);
    await rec.until((e) => rec.snapshots() >= 2, 'resync snapshot after import');
    const last = rec.events[rec.events.length - 1];
    t.equal(last?.type, 'snapshot');
    if (last?.type === 'snapshot') {
      t.equal(last.snapshot.revision, await s.revision());
      t.same(last.snapshot.vips.map((v) => v.name).sort(), table.vips.filter((v) => v.kind === 'named').map((v) => v.name).sort());
    }
    // ...and changes flow on after it.
    await s.allocate(req('after-import', ip('10.0.0.90')), T0);
    await rec.until(() => rec.changes().some((c) => c.name === vipName('after-import').name), 'change after import');
    const changes = rec.changes();
    t.equal(changes[changes.length - 1]?.revision, await s.revision());
    await w.close();
  });

  t.test(`${h.name}: a chunked watch streams the same table as a snapshot`, async (t) => {
    const s = await open(t, two);
    for (let i = 0; i < 23; i++) await s.allocate(req(`chunk${i}`, ip('10.0.0.1')), T0);
    await s.reserve(ipReq('10.0.0.40'), T0);
    for (const bad of [0, 1.5, 100_001, -1]) {
      t.throws(() => s.watch(() => {}, { chunkSize: bad }), { code: 'HOPLITE_VIP_BAD_OPTION' }, `chunkSize ${bad} refused`);
    }
    const rec = new Recorder();
    const w = s.watch(rec.listener, { chunkSize: 5 });
    t.teardown(() => w.close());
    await rec.until((e) => e.some((x) => x.type === 'snapshot-end'), 'snapshot-end');
    const snap = await s.snapshot();
    const r = replayChunked(rec.events);
    t.equal(rec.events[0]?.type, 'snapshot-begin', 'begins with snapshot-begin');
    t.notOk(rec.events.some((e) => e.type === 'snapshot'), 'no whole-table snapshot event');
    t.equal(r.begins, 1);
    t.equal(r.ends.length, 1);
    t.equal(r.ends[0]?.revision, snap.revision, 'the end revision is the store revision');
    t.same(r.ends[0]?.table, [...snap.vips].sort(byName), 'the chunks hold the snapshot table');
    t.ok(r.chunkSizes.length >= 5, `24 records in chunks of at most 5 (${r.chunkSizes.join(',')})`);
    t.ok(r.chunkSizes.every((n) => n >= 1 && n <= 5), 'every chunk holds 1 to 5 records');

    // Changes flow after the end, and apply to the table in use.
    await s.allocate(req('after-chunks', ip('10.0.0.1')), T0);
    await s.release(vipName('chunk3').name, T0);
    const target = await s.revision();
    await rec.until(() => replayChunked(rec.events).revision >= target, 'changes after the snapshot');
    const after = replayChunked(rec.events);
    t.equal(after.revision, target);
    t.same(after.table, [...(await s.snapshot()).vips].sort(byName));

    // An empty table: begin, then end, no chunk.
    const e = await open(t, small);
    const rec2 = new Recorder();
    const w2 = e.watch(rec2.listener, { chunkSize: 1 });
    t.teardown(() => w2.close());
    await rec2.until((x) => x.some((y) => y.type === 'snapshot-end'), 'empty snapshot-end');
    t.same(rec2.events.map((x) => x.type), ['snapshot-begin', 'snapshot-end']);
    const r2 = rec2.events[1];
    t.equal(r2?.type === 'snapshot-end' ? r2.revision : -1, await e.revision());
  });

  t.test(`${h.name}: changes made while a chunked snapshot streams converge (list, then watch)`, async (t) => {
    const s = await open(t, two);
    const N = 40;
    const names = Array.from({ length: N }, (_, i) => vipName(`conv${i}`).name);
    for (let i = 0; i < N; i++) await s.allocate(req(`conv${i}`, ip('10.0.0.1')), T0);
    // A plain watcher from before: the table at any revision, to compare with.
    const plain = new Recorder();
    const wp = s.watch(plain.listener);
    t.teardown(() => wp.close());
    await plain.until(() => plain.snapshots() >= 1, 'plain snapshot');

    // While the chunked snapshot streams, each of its first chunks sets off a change: a new name,
    // a release, a port added, and a name released then pinned elsewhere (deleted, then back with
    // another address: the case where applying an old delete after the table would lose a name).
    const mutations: Promise<unknown>[] = [];
    let fired = 0;
    const mutate = (k: number): Promise<unknown> => {
      switch (k % 4) {
        case 0:
          return s.allocate(req(`conv-new${k}`, ip('10.0.0.1')), T0);
        case 1:
          return s.release(names[k] as string, T0);
        case 2:
          return s.allocate(req(`conv${N - 1 - k}`, ip('10.0.0.1'), [{ port: 81, protocol: 'tcp' }]), T0);
        default:
          return s.release(names[k] as string, T0).then(() => s.reserve(namedReserve(`conv${k}`, `192.168.7.${100 + k}`), T0));
      }
    };
    const rec = new Recorder();
    const w = s.watch(
      (e) => {
        rec.listener(e);
        if (e.type === 'snapshot-chunk' && fired < 8) mutations.push(mutate(fired++));
      },
      { chunkSize: 3 },
    );
    t.teardown(() => w.close());
    await rec.until((e) => e.some((x) => x.type === 'snapshot-end'), 'snapshot-end');
    await Promise.all(mutations);
    t.equal(fired, 8, 'eight changes set off during the snapshot');
    const final = await s.revision();
    await rec.until(() => replayChunked(rec.events).revision >= final, 'the chunked watch reaches the last change');
    await plain.until(() => plain.changes().some((c) => c.revision >= final), 'the plain watch reaches the last change');

    const r = replayChunked(rec.events);
    t.equal(r.begins, 1, 'one snapshot (nothing trimmed)');
    const end = r.ends[0];
    if (end === undefined) throw new Error('no snapshot-end');
    t.ok(end.revision > end.begin, `changes were made while reading (begin ${end.begin}, end ${end.revision})`);
    t.same(end.replayed, Array.from({ length: end.revision - end.begin }, (_, i) => end.begin + 1 + i), 'replayed inside the snapshot: every revision after begin, in order');
    t.same(end.table, plainTableAt(plain.events, end.revision), 'the table at snapshot-end is the table at its revision');
    t.same(r.table, [...(await s.snapshot()).vips].sort(byName), 'and the changes after it lead to the current table');
    t.equal(r.revision, final);
    t.same(r.table, plainTableAt(plain.events, final));
  });

  t.test(`${h.name}: a chunked watch resyncs after a gap (mid-snapshot) and after an import`, async (t) => {
    const s = await open(t, two);
    for (let i = 0; i < 60; i++) await s.allocate(req(`gap${i}`, ip('10.0.0.1')), T0);
    const mutations: Promise<unknown>[] = [];
    let fired = false;
    const rec = new Recorder();
    const w = s.watch(
      (e) => {
        rec.listener(e);
        if (e.type !== 'snapshot-chunk' || fired) return;
        // On the first chunk: two changes, then their feed entries are trimmed away.
        fired = true;
        mutations.push(
          (async () => {
            await s.allocate(req('gap-new1', ip('10.0.0.1')), T0);
            const b = await s.allocate(req('gap-new2', ip('10.0.0.1')), T0);
            await h.damage.trimFeed(s, b.vip.updatedRevision);
          })(),
        );
      },
      { chunkSize: 1 },
    );
    t.teardown(() => w.close());
    await rec.until(() => replayChunked(rec.events).ends.length >= 1, 'a complete snapshot');
    await Promise.all(mutations);
    const r = replayChunked(rec.events);
    t.equal(r.begins, 2, 'the replay found the gap and started over');
    t.equal(r.ends.length, 1, 'only the second one ended');
    t.same(r.table, [...(await s.snapshot()).vips].sort(byName), 'the table is the current one');
    t.equal(r.revision, await s.revision());
    t.ok(r.table.some((v) => v.name === vipName('gap-new2').name));

    // An import: the feed has a gap (embedded) or a reset entry (Redis): a new streamed snapshot.
    const table = await s.exportTable(T0);
    await s.importTable({ ...table, vips: table.vips.filter((v) => !v.name.startsWith('gap1')) }, T0);
    await rec.until(() => replayChunked(rec.events).ends.length >= 2, 'resync after import');
    const r2 = replayChunked(rec.events);
    t.equal(r2.revision, await s.revision());
    t.same(r2.table, [...(await s.snapshot()).vips].sort(byName));
    t.notOk(r2.table.some((v) => v.name === vipName('gap10').name), 'the imported table');
    // ...and changes flow on.
    await s.allocate(req('after-import', ip('10.0.0.1')), T0);
    const target = await s.revision();
    await rec.until(() => replayChunked(rec.events).revision >= target, 'change after import');
    t.ok(replayChunked(rec.events).table.some((v) => v.name === vipName('after-import').name));
  });

  t.test(`${h.name}: export and import`, async (t) => {
    const s = await open(t, two);
    await s.allocate(req('a', ip('10.0.0.5'), [{ port: 80, protocol: 'tcp' }, { port: 53, protocol: 'udp' }]), T0);
    await s.allocate(req('b', ip('10.0.0.5')), T0);
    await s.reserve(namedReserve('c', '192.168.7.7'), T0);
    await s.reserve(ipReq('192.168.7.8'), T0);
    await s.allocate(req('gone', ip('10.0.0.100')), T0);
    await s.release(vipName('gone').name, T0);
    const table = await s.exportTable(T0);
    t.equal(table.format, 'hoplite-vip-table');
    t.equal(table.version, 1);
    t.equal(table.revision, await s.revision());
    t.equal(table.vips.length, 4);
    t.same(table.quarantine, [{ name: vipName('gone').name, ipv4: '10.0.0.100', until: T0 + Q }]);
    const roundTrip = JSON.parse(JSON.stringify(table)) as VipTableExport;

    const d = await open(t, two);
    await d.allocate(req('to-be-replaced', ip('10.0.0.5')), T0);
    const before = await d.revision();
    await d.importTable(roundTrip, T0);
    const again = await d.exportTable(T0);
    t.same(again.vips, table.vips, 'records come back as they were');
    t.same(again.quarantine, table.quarantine);
    t.ok(again.revision > Math.max(before, table.revision), 'the revision moves past both');
    t.equal(await d.get(vipName('to-be-replaced').name), undefined, 'import replaces the table');
    // The free space follows the imported table.
    t.equal((await d.allocate(req('new', ip('10.0.0.5')), T0)).vip.ipv4, '10.0.0.7');
    t.not((await d.allocate(req('new2', ip('10.0.0.100')), T0)).vip.ipv4, '10.0.0.100', 'imported quarantine holds');
    t.equal((await d.allocate(req('gone', ip('10.0.0.1')), T0)).vip.ipv4, '10.0.0.100', 'and gives back to its name');
    t.match(await d.check({ repair: false }, T0), { ok: true });
    t.match(await d.stats(T0), [{ used: 5 }, { used: 2 }]);

    // A broken table changes nothing.
    const current = await d.exportTable(T0);
    const named = roundTrip.vips.find((v) => v.kind === 'named') as VipRecord;
    const broken: VipTableExport = {
      ...roundTrip,
      vips: [...roundTrip.vips, { ...named, name: 'dup.marathon.l4lb.thisdcos.directory', label: 'dup' }],
    };
    const err = await rejects(t, d.importTable(broken, T0), 'HOPLITE_VIP_BAD_IMPORT', 'duplicate address');
    const problems = (err?.['problems'] ?? []) as string[];
    t.equal(problems.length, 1, 'one problem');
    t.match(problems[0], /also the VIP of/);
    const outside: VipTableExport = { ...roundTrip, vips: [{ ...named, ipv4: '10.0.0.200' }] };
    await rejects(t, d.importTable(outside, T0), 'HOPLITE_VIP_BAD_IMPORT', 'address outside the pools');
    await rejects(t, d.importTable({ ...roundTrip, format: 'other' } as unknown as VipTableExport, T0), 'HOPLITE_VIP_BAD_IMPORT', 'format');
    t.same(await d.exportTable(T0), current, 'nothing changed');
  });

  t.test(`${h.name}: check finds damage and repair mends it`, async (t) => {
    const s = await open(t, two);
    const vips: VipRecord[] = [];
    for (let i = 0; i < 10; i++) vips.push((await s.allocate(req(`v${i}`, ip('10.0.0.10')), T0)).vip);
    await s.release((vips[9] as VipRecord).name, T0);
    t.same(await s.check({ repair: false }, T0), { ok: true, problems: [], repaired: [] });

    await h.damage.leakFree(s, ip('10.0.0.50'));
    const leak = await s.check({ repair: false }, T0);
    t.equal(leak.ok, false);
    t.ok(leak.problems.length > 0 && leak.problems.every((p) => p.repairable), 'a leak is repairable');
    t.same(leak.repaired, []);
    const fixed = await s.check({ repair: true }, T0);
    t.equal(fixed.ok, true);
    t.same(fixed.problems, [], 'problems: what remains after the repair, nothing');
    t.ok(fixed.repaired.length > 0, 'says what it did');
    t.same(await s.check({ repair: false }, T0), { ok: true, problems: [], repaired: [] });
    t.equal((await s.allocate(req('leaked', ip('10.0.0.50')), T0)).vip.ipv4, '10.0.0.50', 'the leaked address is usable again');

    const victim = vips[3] as VipRecord;
    await h.damage.freeUsed(s, ip(victim.ipv4));
    const dbl = await s.check({ repair: false }, T0);
    t.equal(dbl.ok, false);
    t.ok(dbl.problems.some((p) => p.subject.includes(victim.ipv4) && p.repairable), 'names the doubly booked address');
    t.match(await s.check({ repair: true }, T0), { ok: true });
    t.not((await s.allocate(req('intruder', ip(victim.ipv4)), T0)).vip.ipv4, victim.ipv4, 'a VIP address is not handed out twice');
    t.same(await s.get(victim.name), victim, 'repair does not touch VIPs');
  });

  t.test(`${h.name}: a second open with other pools adopts the stored ones`, async (t) => {
    const stored = planPools({ pools: ['10.0.0.0/29', '10.0.1.0/29'], ipv6Pool: 'fd00:a::/64' }).layout;
    const s = await open(t, stored);
    t.equal(s.poolsOutcome, 'created');
    t.equal(layoutKey(s.layout), layoutKey(stored));
    const keep = await s.allocate(req('keep', ip('10.0.0.2')), T0);
    const other = planPools({ pools: ['10.0.2.0/29'], ipv6Pool: 'fd00:b::/64' }).layout;
    const s2 = await reopen(t, s, other);
    t.equal(s2.poolsOutcome, 'adopted', 'other pools, no updatePools: the stored ones are kept');
    t.equal(layoutKey(s2.layout), layoutKey(stored), 'the second handle follows the stored layout');
    t.equal(poolConfigKey(s2.layout.config!), poolConfigKey(stored.config!), '...and the stored configuration, IPv6 pool included');
    t.same(await s2.get(keep.vip.name), keep.vip);
    const got = new Set<string>();
    for (let i = 0; i < 11; i++) got.add((await s2.allocate(req(`a${i}`, ip('10.0.0.1')), T0)).vip.ipv4);
    t.ok([...got].every((a) => a.startsWith('10.0.0.') || a.startsWith('10.0.1.')), 'addresses come from the stored pools only');
    const err = await rejects(t, s2.allocate(req('a11', ip('10.0.0.1')), T0), 'HOPLITE_VIP_POOL_EXHAUSTED', 'the stored pools are full');
    t.match(err, { details: { pools: [{ cidr: '10.0.0.0/29' }, { cidr: '10.0.1.0/29' }] } }, 'the error names the stored pools');
    await rejects(t, s2.reserve(namedReserve('x', '10.0.2.1'), T0), 'HOPLITE_VIP_ADDRESS_OUTSIDE_POOL', 'the configured-but-not-stored pool is not used');
    t.same((await s2.stats(T0)).map((p) => p.cidr), ['10.0.0.0/29', '10.0.1.0/29']);
    t.same((await s.stats(T0)).map((p) => p.cidr), ['10.0.0.0/29', '10.0.1.0/29'], 'nothing changed for the first handle');
    t.match(await s2.check({ repair: false }, T0), { ok: true, problems: [] });
    const s3 = await reopen(t, s, stored);
    t.equal(s3.poolsOutcome, 'same');
    const s4 = await reopen(t, s, planPools({ pools: ['10.0.0.0/29', '10.0.1.0/29'], ipv6Pool: 'fd00:c::/64' }).layout);
    t.equal(s4.poolsOutcome, 'adopted', 'another IPv6 pool alone is other pools');
    t.equal(s4.layout.config?.ipv6Pool, 'fd00:a::/64');
    const s5 = await reopen(t, s, planPools({ pools: ['10.0.0.0/29', '10.0.1.0/29'], ipv6Pool: 'fd00:a::/64', allowNonPrivate: true }).layout);
    t.equal(s5.poolsOutcome, 'same', 'allowNonPrivate alone changes no address');
  });

  t.test(`${h.name}: updatePools replaces the stored pools; VIPs stay`, async (t) => {
    const before = planPools({ pools: ['10.0.0.0/29', '10.0.1.0/29'] }).layout;
    const s = await open(t, before);
    const keep = await s.allocate(req('keep', ip('10.0.0.2')), T0);
    const stale = await s.allocate(req('stale', ip('10.0.1.2')), T0);
    const rec = new Recorder();
    const w = s.watch(rec.listener);
    t.teardown(() => w.close());
    await rec.until(() => rec.snapshots() >= 1, 'first snapshot');
    const r0 = await s.revision();
    const after = planPools({ pools: ['10.0.0.0/29', '10.0.2.0/29'] }).layout;
    const s2 = await reopen(t, s, after, true);
    t.equal(s2.poolsOutcome, 'updated');
    t.equal(layoutKey(s2.layout), layoutKey(after));
    t.ok((await s2.revision()) > r0, 'the revision moves');
    await rec.until(() => rec.snapshots() >= 2, 'watchers of the old pools resync (every AAAA may have moved)');
    t.same(await s2.get(keep.vip.name), keep.vip, 'VIPs stay');
    t.same(await s2.get(stale.vip.name), stale.vip, 'even in a removed pool');
    const got = new Set<string>();
    for (let i = 0; i < 11; i++) got.add((await s2.allocate(req(`m${i}`, ip('10.0.1.1')), T0)).vip.ipv4);
    t.ok([...got].every((a) => a.startsWith('10.0.0.') || a.startsWith('10.0.2.')), 'nothing from the removed pool');
    t.ok([...got].some((a) => a.startsWith('10.0.2.')), 'the new pool is used');
    await rejects(t, s2.allocate(req('m11', ip('10.0.1.1')), T0), 'HOPLITE_VIP_POOL_EXHAUSTED', 'the new layout is full');
    t.same((await s2.stats(T0)).map((p) => p.cidr), ['10.0.0.0/29', '10.0.2.0/29']);
    // The first handle, opened with the old pools, follows the stored ones.
    t.same((await s.stats(T0)).map((p) => p.cidr), ['10.0.0.0/29', '10.0.2.0/29'], 'the other handle follows the update');
    t.equal(layoutKey(await s.refreshLayout()), layoutKey(after));
    await rejects(t, s.allocate(req('m12', ip('10.0.1.1')), T0), 'HOPLITE_VIP_POOL_EXHAUSTED', 'and allocates from the new pools only');
    // Once updated, the old pools are other pools: adopted, not written back.
    const s3 = await reopen(t, s, before);
    t.equal(s3.poolsOutcome, 'adopted');
    t.equal(layoutKey(s3.layout), layoutKey(after));
    const report = await s2.check({ repair: true }, T0);
    t.equal(report.ok, false, 'a VIP outside the pools is reported, not repaired');
    t.match(report.problems, [{ code: 'OUTSIDE_POOL', subject: stale.vip.name, repairable: false }]);
    t.same(await s2.get(stale.vip.name), stale.vip);
    await s2.release(stale.vip.name, T0);
    t.same(await s2.quarantine(T0), [], 'an address outside the pools is dropped, not quarantined');
    t.match(await s2.check({ repair: false }, T0), { ok: true });
    t.equal((await reopen(t, s, after, true)).poolsOutcome, 'same', 'updatePools with the stored pools changes nothing');
  });

  t.test(`${h.name}: check with repair reports what remains, and what it did`, async (t) => {
    const s0 = await open(t, planPools({ pools: ['10.0.0.0/29', '10.0.1.0/29'] }).layout);
    const stale = await s0.allocate(req('stale', ip('10.0.1.2')), T0);
    await s0.allocate(req('fine', ip('10.0.0.2')), T0);
    const s = await reopen(t, s0, planPools({ pools: ['10.0.0.0/29'] }).layout, true);
    await h.damage.leakFree(s, ip('10.0.0.5'));
    const found = await s.check({ repair: false }, T0);
    t.equal(found.ok, false);
    t.ok(found.problems.some((p) => p.code === 'OUTSIDE_POOL' && !p.repairable), 'the VIP outside the pools');
    t.ok(found.problems.some((p) => p.code === 'FREE_LEAK' && p.repairable), 'the leak');
    t.same(found.repaired, [], 'nothing repaired without repair');
    const report = await s.check({ repair: true }, T0);
    t.equal(report.ok, false, 'not ok: a problem remains');
    t.same(
      report.problems.map((p) => [p.code, p.subject, p.repairable]),
      [['OUTSIDE_POOL', stale.vip.name, false]],
      'problems: only what remains after the repair',
    );
    t.ok(report.repaired.length > 0, 'repaired: what was done');
    t.same(await s.check({ repair: false }, T0), { ok: false, problems: report.problems, repaired: [] }, 'a check after it agrees');
    const again = await s.check({ repair: true }, T0);
    t.same(again, { ok: false, problems: report.problems, repaired: [] }, 'nothing repairable: nothing done');
  });

  t.test(`${h.name}: the allocator follows the stored pools (preferred address, AAAA, lookups, stats)`, async (t) => {
    const A = planPools({ pools: ['10.60.0.0/24', '10.61.0.0/24'], exclude: ['10.60.0.7'], ipv6Pool: 'fd00:60::/64' });
    const B = { pools: ['192.168.60.0/24'], ipv6Pool: 'fd00:99::/64' };
    const s1 = await open(t, A.layout);
    const a1 = await allocator(t, s1, { pools: ['10.60.0.0/24', '10.61.0.0/24'], exclude: ['10.60.0.7'], ipv6Pool: 'fd00:60::/64' });
    t.equal(a1.poolsAdopted, false, 'configured with the stored pools');
    t.equal(a1.poolsOutcome, 'same');
    const s2 = await reopen(t, s1, planPools(B).layout);
    const a2 = await allocator(t, s2, B);
    t.equal(a2.poolsAdopted, true, 'configured with other pools: the stored ones are used');
    t.equal(a2.poolsOutcome, 'adopted');
    t.same(a2.configuredPools.pools, B.pools);
    t.same(a2.pools, A.config, 'pools: the stored configuration');
    t.equal(layoutKey(a2.plan.layout), layoutKey(A.layout), 'plan: the stored layout');
    for (const name of ['web', 'db', '/grp/api', 'x-1']) {
      const want = formatIpv4(preferredAddress(vipName(name).name, A.layout));
      t.equal(a2.preferredAddress(name), want, `${name}: preferred address from the stored pools`);
      t.equal(a1.preferredAddress(name), want);
    }
    const web = await a2.allocate('web');
    t.equal(web.vip.ipv4, a2.preferredAddress('web'), 'an empty store gives the preferred address');
    t.match(web.vip.ipv6, /^fd00:60::/, 'AAAA from the stored IPv6 pool');
    t.equal(web.vip.ipv6, a1.ipv6For(web.vip.ipv4));
    t.same(await a1.get('web'), web.vip, 'both handles answer the same record, AAAA included');
    t.same(await a2.get(web.vip.ipv6 as string), web.vip, 'lookup by the stored IPv6 pool');
    await t.rejects(a2.get('fd00:99::1'), { code: 'HOPLITE_VIP_BAD_ADDRESS' }, 'the configured IPv6 pool is not used');
    t.same((await a2.stats()).map((p) => p.cidr), ['10.60.0.0/24', '10.61.0.0/24']);
    const inside = await a2.allocateLabel('10.61.0.9:80');
    t.match(inside.vip, { kind: 'ip', ipv4: '10.61.0.9', ipv6: a1.ipv6For('10.61.0.9') }, 'an IP VIP inside a stored pool is reserved');
    t.equal((await a2.allocateLabel('192.168.60.9:80')).vip, undefined, 'inside the configured-but-not-stored pool: nothing to reserve');
    t.same((await a2.list({ pool: '10.61.0.0/24', kind: 'ip' })).map((v) => v.ipv4), ['10.61.0.9'], 'list --pool over the stored pools');
    t.same(await a2.list({ pool: '192.168.60.0/24' }), []);
    const a3 = await allocator(t, s2);
    t.equal(a3.poolsAdopted, false, 'no pool options: the store\'s pools, nothing to warn about');
    t.same(a3.pools, A.config);
    t.same(await a3.get('web'), web.vip);
  });

  t.test(`${h.name}: AAAA are the same from every process, whatever its own ipv6Pool`, async (t) => {
    const pools = ['10.62.0.0/24'];
    const s1 = await open(t, planPools({ pools, ipv6Pool: 'fd00:62::/64' }).layout);
    const a1 = await allocator(t, s1, { pools, ipv6Pool: 'fd00:62::/64' });
    const other = await allocator(t, await reopen(t, s1, planPools({ pools, ipv6Pool: 'fd00:77::/64' }).layout), { pools, ipv6Pool: 'fd00:77::/64' });
    const none = await allocator(t, await reopen(t, s1, planPools({ pools }).layout), { pools });
    t.equal(other.poolsAdopted, true);
    t.equal(none.poolsAdopted, true);
    const names = ['alpha', 'beta', 'gamma'];
    const viaA1 = await a1.allocate(names[0] as string);
    const viaOther = await other.allocate(names[1] as string);
    const viaNone = await none.allocate(names[2] as string);
    for (const [i, r] of [viaA1, viaOther, viaNone].entries()) {
      t.match(r.vip.ipv6, /^fd00:62::/, `${names[i]}: AAAA from the stored IPv6 pool`);
      for (const a of [a1, other, none]) t.same(await a.get(names[i] as string), r.vip, `${names[i]}: every process answers the same record`);
    }
    t.same((await other.snapshot()).vips, (await a1.snapshot()).vips);
    t.same((await none.list()).map((v) => v.ipv6), (await a1.list()).map((v) => v.ipv6));
  });

  t.test(`${h.name}: an update of the pools reaches a running allocator`, async (t) => {
    const pools = ['10.63.0.0/24'];
    const s1 = await open(t, planPools({ pools, ipv6Pool: 'fd00:63::/64' }).layout);
    const a1 = await allocator(t, s1);
    const web = await a1.allocate('web');
    t.match(web.vip.ipv6, /^fd00:63::/);
    const rec = new Recorder();
    const w = a1.watch(rec.listener);
    t.teardown(() => w.close());
    await rec.until(() => rec.snapshots() >= 1, 'first snapshot');
    // A chunked watch through the allocator: chunks carry the AAAA too.
    const chunked = new Recorder();
    const wc = a1.watch(chunked.listener, { chunkSize: 1 });
    t.teardown(() => wc.close());
    const chunkIpv6 = (es: readonly WatchEvent[]): (string | undefined)[] =>
      es.flatMap((e) => (e.type === 'snapshot-chunk' ? e.vips.filter((v) => v.name === web.vip.name).map((v) => v.ipv6) : []));
    await chunked.until((es) => es.some((e) => e.type === 'snapshot-end'), 'first chunked snapshot');
    t.same(chunkIpv6(chunked.events), [web.vip.ipv6], 'the chunk holds the VIP with its AAAA');
    const s2 = await reopen(t, s1, planPools({ pools, ipv6Pool: 'fd00:64::/64' }).layout, true);
    t.equal(s2.poolsOutcome, 'updated');
    const ipv6Of = (e: WatchEvent): string | undefined => (e.type === 'snapshot' ? e.snapshot.vips.find((v) => v.name === web.vip.name)?.ipv6 : undefined);
    await rec.until((es) => es.some((e) => ipv6Of(e)?.startsWith('fd00:64::') === true), 'a resync snapshot with the new AAAA');
    await chunked.until((es) => es.filter((e) => e.type === 'snapshot-end').length >= 2, 'a chunked resync');
    t.match(chunkIpv6(chunked.events)[1], /^fd00:64::/, 'the resync chunks carry the new AAAA');
    t.equal(a1.pools.ipv6Pool, 'fd00:64::/64', 'the running allocator follows the stored pools');
    t.match(a1.ipv6For(web.vip.ipv4), /^fd00:64::/);
    t.match((await a1.get('web'))?.ipv6, /^fd00:64::/);
    const a2 = await allocator(t, s2, { pools, ipv6Pool: 'fd00:64::/64' });
    t.equal(a2.poolsAdopted, false);
    t.same(await a2.get('web'), await a1.get('web'));
  });

  t.test(`${h.name}: closed`, async (t) => {
    const s = await h.open(small, { quarantineMs: Q });
    await s.close();
    await s.close();
    await rejects(t, s.allocate(req('x', ip('10.0.0.1')), T0), 'HOPLITE_VIP_CLOSED', 'allocate after close');
    await rejects(t, s.get('x'), 'HOPLITE_VIP_CLOSED', 'get after close');
    t.throws(() => s.watch(() => {}), { code: 'HOPLITE_VIP_CLOSED' });
  });

  void formatIpv4;
  void stripRevisions;
}
