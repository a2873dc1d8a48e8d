import t from 'tap';
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultEmbeddedPath, EmbeddedStore, openEmbeddedStore } from '../src/embedded/index.js';
import { parseIpv4 } from '../src/addr.js';
import { planPools } from '../src/pools.js';
import { vipName } from '../src/names.js';
import { createAllocator } from '../src/allocator.js';
import { conformance } from './conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'hoplite-vip-embedded-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = () => join(dir, `store-${n++}.db`);

function withDb<T>(path: string, fn: (db: Database.Database) => T): T {
  const db = new Database(path, { timeout: 5000 });
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

conformance(t, {
  name: 'embedded',
  open: (layout, { quarantineMs }) => openEmbeddedStore({ path: fresh(), layout, quarantineMs }),
  reopen: (store, layout, { quarantineMs, updatePools }) =>
    openEmbeddedStore({ path: (store as EmbeddedStore).path, layout, quarantineMs, ...(updatePools !== undefined ? { updatePools } : {}) }),
  damage: {
    async leakFree(store, address) {
      withDb((store as EmbeddedStore).path, (db) => {
        const row = db.prepare('SELECT first, last FROM vip_free WHERE first <= ? AND last >= ?').get(address, address) as
          | { first: number; last: number }
          | undefined;
        if (row === undefined) throw new Error(`${address} is not free`);
        db.prepare('DELETE FROM vip_free WHERE first = ?').run(row.first);
        if (row.first < address) db.prepare('INSERT INTO vip_free VALUES (?, ?)').run(row.first, address - 1);
        if (row.last > address) db.prepare('INSERT INTO vip_free VALUES (?, ?)').run(address + 1, row.last);
      });
    },
    async freeUsed(store, address) {
      withDb((store as EmbeddedStore).path, (db) => db.prepare('INSERT INTO vip_free VALUES (?, ?)').run(address, address));
    },
    async trimFeed(store, revision) {
      withDb((store as EmbeddedStore).path, (db) => db.prepare('DELETE FROM vip_changes WHERE revision <= ?').run(revision));
    },
  },
});

const layout = planPools({ pools: ['10.0.0.0/24'] }).layout;
const req = (raw: string, preferred = parseIpv4('10.0.0.1') as number) => {
  const v = vipName(raw);
  return { name: v.name, label: v.label, framework: v.framework, ports: [{ port: 80, protocol: 'tcp' as const }], preferred };
};

t.test('data survives close and reopen', async (t) => {
  const path = fresh();
  const a = await openEmbeddedStore({ path, layout, quarantineMs: 1000 });
  const v = await a.allocate(req('keep'), 0);
  await a.release((await a.allocate(req('q'), 0)).vip.name, 0);
  const rev = await a.revision();
  await a.close();
  const b = await openEmbeddedStore({ path, layout, quarantineMs: 1000 });
  t.teardown(() => b.close());
  t.same(await b.get(v.vip.name), v.vip);
  t.equal(await b.revision(), rev);
  t.equal((await b.quarantine(0)).length, 1);
});

t.test('two handles on one file see each other at once', async (t) => {
  const path = fresh();
  const a = await openEmbeddedStore({ path, layout, quarantineMs: 0 });
  const b = await openEmbeddedStore({ path, layout, quarantineMs: 0 });
  t.teardown(async () => {
    await a.close();
    await b.close();
  });
  const results = await Promise.all(
    Array.from({ length: 60 }, (_, i) => (i % 2 === 0 ? a : b).allocate(req(`n${i % 12}`), 0)),
  );
  const byName = new Map<string, string>();
  for (const r of results) {
    const had = byName.get(r.vip.name);
    if (had !== undefined) t.equal(r.vip.ipv4, had, `${r.vip.name} one address`);
    byName.set(r.vip.name, r.vip.ipv4);
  }
  t.equal(new Set(byName.values()).size, 12);
  t.same(await a.list(), await b.list());
});

t.test('a locked database is retried, then STORE_UNAVAILABLE', async (t) => {
  const path = fresh();
  const s = await openEmbeddedStore({ path, layout, quarantineMs: 0, busyTimeoutMs: 200 });
  t.teardown(() => s.close());
  const patient = await openEmbeddedStore({ path, layout, quarantineMs: 0, busyTimeoutMs: 120_000 });
  t.teardown(() => patient.close());
  const locker = new Database(path);
  locker.exec('BEGIN IMMEDIATE');
  const started = Date.now();
  await t.rejects(s.allocate(req('x'), 0), { code: 'HOPLITE_VIP_STORE_UNAVAILABLE' });
  t.ok(Date.now() - started >= 150, 'kept trying for about busyTimeoutMs');
  t.equal(await s.get(vipName('x').name), undefined, 'reads go on while another process writes (WAL)');
  // Released while we wait: the allocation goes through.
  t.ok(await openEmbeddedStore({ path, layout, quarantineMs: 0, busyTimeoutMs: 200 }).then((o) => o.close()).then(() => true), 'opening needs no write lock when nothing changes');
  const pending = patient.allocate(req('y'), 0);
  setTimeout(() => {
    locker.exec('COMMIT');
    locker.close();
  }, 50);
  t.equal((await pending).vip.name, vipName('y').name);
});

t.test('refuses a file that is not ours', async (t) => {
  const other = fresh();
  withDb(other, (db) => db.exec('CREATE TABLE users (id INTEGER)'));
  await t.rejects(openEmbeddedStore({ path: other, layout, quarantineMs: 0 }), { code: 'HOPLITE_VIP_STORE_INCOMPATIBLE' });
  const junk = fresh();
  writeFileSync(junk, 'this is not a database, not at all, definitely not'.repeat(100));
  await t.rejects(openEmbeddedStore({ path: junk, layout, quarantineMs: 0 }), { code: 'HOPLITE_VIP_STORE_INCOMPATIBLE' });
  const newer = fresh();
  (await openEmbeddedStore({ path: newer, layout, quarantineMs: 0 })).close();
  withDb(newer, (db) => db.exec('UPDATE vip_state SET schema = 99'));
  await t.rejects(openEmbeddedStore({ path: newer, layout, quarantineMs: 0 }), { code: 'HOPLITE_VIP_STORE_INCOMPATIBLE' });
});

t.test('bad options', async (t) => {
  await t.rejects(openEmbeddedStore({ path: '', layout, quarantineMs: 0 }), { code: 'HOPLITE_VIP_BAD_OPTION' });
  await t.rejects(openEmbeddedStore({ path: ':memory:', layout, quarantineMs: 0 }), { code: 'HOPLITE_VIP_BAD_OPTION' });
  await t.rejects(openEmbeddedStore({ path: fresh(), layout, quarantineMs: -1 }), { code: 'HOPLITE_VIP_BAD_OPTION' });
  await t.rejects(openEmbeddedStore({ path: fresh(), layout, quarantineMs: 0, synchronous: 'off' as 'full' }), { code: 'HOPLITE_VIP_BAD_OPTION' });
  const file = fresh();
  writeFileSync(file, '');
  await t.rejects(openEmbeddedStore({ path: join(file, 'sub', 'vip.db'), layout, quarantineMs: 0 }), { code: 'HOPLITE_VIP_STORE_UNAVAILABLE' });
});

t.test('the change log is trimmed, and a watcher further behind resyncs', async (t) => {
  const path = fresh();
  const s = await openEmbeddedStore({ path, layout, quarantineMs: 0, changeLogSize: 5 });
  t.teardown(() => s.close());
  for (let i = 0; i < 12; i++) await s.allocate(req(`c${i}`), 0);
  t.equal(withDb(path, (db) => db.prepare('SELECT count(*) AS n FROM vip_changes').get() as { n: number }).n, 5);
  const events: string[] = [];
  await new Promise<void>((resolve) => {
    const w = s.watch(
      (e) => {
        events.push(e.type);
        void w.close().then(resolve);
      },
      { fromRevision: 2 },
    );
  });
  t.same(events, ['snapshot']);
});

t.test('default path', async (t) => {
  t.equal(defaultEmbeddedPath({ XDG_STATE_HOME: '/var/state' }, '/home/u'), '/var/state/hoplite/vip.db');
  t.equal(defaultEmbeddedPath({ XDG_STATE_HOME: 'relative' }, '/home/u'), '/home/u/.local/state/hoplite/vip.db');
  t.equal(defaultEmbeddedPath({}, '/home/u'), '/home/u/.local/state/hoplite/vip.db');
});

t.test('a file of an older version (no pools column): same IPv4 pools write the configuration, other ones are adopted', async (t) => {
  const A = planPools({ pools: ['10.0.0.0/24'], ipv6Pool: 'fd00:a::/64' }).layout;
  const old = fresh();
  const made = await openEmbeddedStore({ path: old, layout: A, quarantineMs: 0 });
  const v = await made.allocate(req('keep'), 0);
  await made.close();
  const dropColumn = (path: string) => withDb(path, (db) => db.exec('ALTER TABLE vip_state DROP COLUMN pools'));
  dropColumn(old);
  const other = planPools({ pools: ['10.1.0.0/24'], ipv6Pool: 'fd00:b::/64' }).layout;
  const adopted = await openEmbeddedStore({ path: old, layout: other, quarantineMs: 0 });
  t.teardown(() => adopted.close());
  t.equal(adopted.poolsOutcome, 'adopted');
  t.equal(adopted.layout.config, undefined, 'the file knows only its IPv4 layout');
  t.same(adopted.layout.ranges, A.ranges);
  const vips = await createAllocator({ store: adopted, pools: ['10.1.0.0/24'], ipv6Pool: 'fd00:b::/64' });
  t.same(vips.pools, { pools: ['10.0.0.0/24'], exclude: [], ipv6Pool: 'fd00:b::/64', allowNonPrivate: false }, 'IPv4 pools read back, this process\'s IPv6 pool');
  t.equal((await vips.get('keep'))?.ipv6, 'fd00:b::1');
  t.same(await adopted.check({ repair: false }, 0), { ok: true, problems: [], repaired: [] });
  t.equal(withDb(old, (db) => db.prepare('SELECT pools FROM vip_state').get() as { pools: string | null }).pools, null, 'nothing written');

  const same = await openEmbeddedStore({ path: old, layout: A, quarantineMs: 0 });
  t.teardown(() => same.close());
  t.equal(same.poolsOutcome, 'same');
  t.same(same.layout.config, A.config, 'the configuration is written now');
  t.same(await same.get(v.vip.name), v.vip);
  const later = await openEmbeddedStore({ path: old, layout: planPools({ pools: ['10.0.0.0/24'], ipv6Pool: 'fd00:b::/64' }).layout, quarantineMs: 0 });
  t.teardown(() => later.close());
  t.equal(later.poolsOutcome, 'adopted', 'from then on the IPv6 pool is stored too');
  t.equal(later.layout.config?.ipv6Pool, 'fd00:a::/64');
  await t.resolves(adopted.refreshLayout().then((l) => t.same(l.config, A.config, 'a running handle follows')));
});

t.test('stored pools that no longer describe the layout (an older version rewrote it): LAYOUT_DIFFERS, mended by the layout\'s pools', async (t) => {
  const A = planPools({ pools: ['10.0.0.0/24'] }).layout;
  const B = planPools({ pools: ['10.0.0.0/24', '10.2.0.0/24'] }).layout;
  const path = fresh();
  const s = await openEmbeddedStore({ path, layout: A, quarantineMs: 0 });
  await s.allocate(req('keep'), 0);
  await s.close();
  const poolsOfA = withDb(path, (db) => (db.prepare('SELECT pools FROM vip_state').get() as { pools: string }).pools);
  (await openEmbeddedStore({ path, layout: B, quarantineMs: 0, updatePools: true })).close();
  withDb(path, (db) => db.prepare('UPDATE vip_state SET pools = ?').run(poolsOfA)); // what an older version leaves
  const C = planPools({ pools: ['10.3.0.0/24'] }).layout;
  const s2 = await openEmbeddedStore({ path, layout: C, quarantineMs: 0 });
  t.teardown(() => s2.close());
  t.equal(s2.poolsOutcome, 'adopted');
  t.same(s2.layout.ranges, B.ranges, 'the layout is followed');
  t.equal(s2.layout.config, undefined);
  const report = await s2.check({ repair: true }, 0);
  t.same(report.problems.map((p) => [p.code, p.repairable]), [['LAYOUT_DIFFERS', false]]);
  const s3 = await openEmbeddedStore({ path, layout: B, quarantineMs: 0 });
  t.teardown(() => s3.close());
  t.equal(s3.poolsOutcome, 'same');
  t.same(s3.layout.config, B.config);
  t.same(await s3.check({ repair: false }, 0), { ok: true, problems: [], repaired: [] });
});
