import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createAllocator, type VipRecord } from '@hoplite/vip';
import { Registry } from '@hoplite/dns';
import { VipFollower } from '../src/serve/follower.js';
import { VipTable, reverseZone6, reverseZones4 } from '../src/serve/vip-zone.js';

function vip(label: string, ipv4: string, ports: VipRecord['ports'], extra: Partial<VipRecord> = {}): VipRecord {
  return {
    name: `${label}.marathon.l4lb.thisdcos.directory`,
    kind: 'named',
    label,
    framework: 'marathon',
    ipv4,
    ports,
    pinned: false,
    createdRevision: 1,
    updatedRevision: 1,
    ...extra,
  };
}

function rev6(hex: string): string {
  return [...hex].reverse().join('.') + '.ip6.arpa';
}

t.test('reverse zones of pools', async (t) => {
  t.same(reverseZones4('10.200.0.0/16'), ['200.10.in-addr.arpa']);
  t.same(reverseZones4('10.0.0.0/8'), ['10.in-addr.arpa']);
  t.equal(reverseZones4('172.16.0.0/12').length, 16);
  t.equal(reverseZones4('172.16.0.0/12')[15], '31.172.in-addr.arpa');
  t.same(reverseZones4('192.168.1.128/25'), ['1.168.192.in-addr.arpa']);
  t.same(reverseZones4('10.1.4.0/22'), ['4.1.10.in-addr.arpa', '5.1.10.in-addr.arpa', '6.1.10.in-addr.arpa', '7.1.10.in-addr.arpa']);
  t.equal(reverseZone6('fd00:1234::/32'), '4.3.2.1.0.0.d.f.ip6.arpa');
  t.equal(reverseZone6('fd01::/30'), '0.0.0.1.0.d.f.ip6.arpa', 'widened to the nibble boundary above');
});

t.test('forward names: A, AAAA, SRV, empty non-terminals', async (t) => {
  const table = new VipTable({ pools: ['10.200.0.0/16'], ipv6Pool: 'fd00:10::/64' });
  table.load({
    revision: 3,
    vips: [
      vip('myapp', '10.200.0.7', [{ port: 80, protocol: 'tcp' }, { port: 5555, protocol: 'tcp' }, { port: 53, protocol: 'udp' }], { ipv6: 'fd00:10::7' }),
      vip('other', '10.200.1.1', [{ port: 8080, protocol: 'tcp' }]),
    ],
  });
  t.equal(table.size, 2);
  t.equal(table.revision, 3);
  t.same(table.lookup('myapp.marathon.l4lb.thisdcos.directory'), [
    { type: 'A', address: '10.200.0.7' },
    { type: 'AAAA', address: 'fd00:10::7' },
  ]);
  t.same(table.lookup('_myapp._tcp.marathon.l4lb.thisdcos.directory'), [
    { type: 'SRV', priority: 0, weight: 0, port: 80, target: 'myapp.marathon.l4lb.thisdcos.directory' },
    { type: 'SRV', priority: 0, weight: 0, port: 5555, target: 'myapp.marathon.l4lb.thisdcos.directory' },
  ]);
  t.same(table.lookup('_myapp._udp.marathon.l4lb.thisdcos.directory'), [
    { type: 'SRV', priority: 0, weight: 0, port: 53, target: 'myapp.marathon.l4lb.thisdcos.directory' },
  ]);
  t.equal(table.lookup('_other._udp.marathon.l4lb.thisdcos.directory'), undefined, 'no udp port: no SRV name');
  t.same(table.lookup('marathon.l4lb.thisdcos.directory'), [], 'framework is an empty non-terminal');
  t.same(table.lookup('_tcp.marathon.l4lb.thisdcos.directory'), []);
  t.equal(table.lookup('nope.marathon.l4lb.thisdcos.directory'), undefined);
  t.equal(table.lookup('kubernetes.l4lb.thisdcos.directory'), undefined);
});

t.test('PTR inside the pools, nothing outside', async (t) => {
  const table = new VipTable({ pools: ['10.200.0.0/16', '172.16.0.0/12'], ipv6Pool: 'fd00:10::/64' });
  table.load({ revision: 1, vips: [vip('myapp', '10.200.0.7', [], { ipv6: 'fd00:10::7' })] });
  t.same(table.lookup('7.0.200.10.in-addr.arpa'), [{ type: 'PTR', target: 'myapp.marathon.l4lb.thisdcos.directory' }]);
  t.same(table.lookup(rev6('fd000010000000000000000000000007')), [{ type: 'PTR', target: 'myapp.marathon.l4lb.thisdcos.directory' }]);
  t.equal(table.lookup('8.0.200.10.in-addr.arpa'), undefined, 'free address: NXDOMAIN');
  t.same(table.lookup('0.200.10.in-addr.arpa'), [], 'partial name inside a pool: no data');
  t.ok(table.owns('1.2.20.172.in-addr.arpa'));
  t.notOk(table.owns('1.2.32.172.in-addr.arpa'), '172.32 is outside 172.16/12');
  t.notOk(table.owns('1.2.3.4.in-addr.arpa'));
  t.ok(table.owns(rev6('fd000010000000000000000000000123')));
  t.ok(table.owns('0.1.0.0.0.0.d.f.ip6.arpa'), 'partial name above the pool');
  t.notOk(table.owns(rev6('fd000020000000000000000000000001')), 'fd00:20:: is outside fd00:10::/64');
  t.equal(table.lookup(rev6('fd000010000000000000000000000008')), undefined, 'free v6 address: NXDOMAIN');
  t.ok(table.reverseZones.includes('200.10.in-addr.arpa'));
  t.ok(table.reverseZones.includes('0.0.0.0.0.0.0.0.0.1.0.0.0.0.d.f.ip6.arpa'));
});

t.test('changes: put, port added, delete; version moves', async (t) => {
  const table = new VipTable({ pools: ['10.200.0.0/16'] });
  table.load({ revision: 0, vips: [] });
  const v0 = table.version;
  const a = vip('a', '10.200.0.1', [{ port: 80, protocol: 'tcp' }]);
  table.apply({ revision: 1, type: 'put', vip: a });
  t.ok(table.version > v0);
  t.same(table.lookup('a.marathon.l4lb.thisdcos.directory'), [{ type: 'A', address: '10.200.0.1' }]);
  table.apply({ revision: 2, type: 'put', vip: { ...a, ports: [{ port: 80, protocol: 'tcp' }, { port: 81, protocol: 'udp' }] } });
  t.equal(table.lookup('_a._udp.marathon.l4lb.thisdcos.directory')?.length, 1);
  table.apply({ revision: 3, type: 'delete', name: a.name, vip: a });
  t.equal(table.lookup('a.marathon.l4lb.thisdcos.directory'), undefined);
  t.equal(table.lookup('marathon.l4lb.thisdcos.directory'), undefined, 'last VIP gone: the framework name is gone too');
  t.equal(table.lookup('1.0.200.10.in-addr.arpa'), undefined);
  t.equal(table.revision, 3);
});

t.test('a streamed snapshot is built beside the table in use and swapped at its end', async (t) => {
  const table = new VipTable({ pools: ['10.200.0.0/16'] });
  const keep = vip('keep', '10.200.0.1', [{ port: 80, protocol: 'tcp' }]);
  const gone = vip('gone', '10.200.0.2', [{ port: 80, protocol: 'tcp' }]);
  const moved = vip('moved', '10.200.0.3', [{ port: 80, protocol: 'tcp' }]);
  table.load({ revision: 5, vips: [keep, gone, moved] });
  const keepEntry = [...table.entries()].find((e) => e.name === keep.name);
  const v0 = table.version;

  table.beginLoad();
  t.ok(table.loading);
  table.loadChunk([keep, { ...moved, ipv4: '10.200.0.30' }, { ...keep, kind: 'ip', name: '10.200.9.9' }]);
  table.loadChunk([vip('fresh', '10.200.0.4', [{ port: 53, protocol: 'udp' }]), { ...moved, ipv4: '10.200.0.31' }]);
  table.applyToLoad({ revision: 6, type: 'delete', name: keep.name, vip: keep });
  table.applyToLoad({ revision: 7, type: 'put', vip: keep });
  // Until the end, the table in use answers, unchanged.
  t.equal(table.version, v0, 'loading does not touch the table in use');
  t.equal(table.revision, 5);
  t.same(table.lookup(gone.name), [{ type: 'A', address: '10.200.0.2' }], 'a name missing from the new table still answers');
  t.same(table.lookup(moved.name), [{ type: 'A', address: '10.200.0.3' }]);
  t.equal(table.lookup('fresh.marathon.l4lb.thisdcos.directory'), undefined);
  t.equal(table.size, 3);

  table.commitLoad(7);
  t.notOk(table.loading);
  t.ok(table.version > v0);
  t.equal(table.revision, 7);
  t.equal(table.size, 3, 'keep, moved, fresh (the IP VIP has no name)');
  t.equal(table.lookup(gone.name), undefined);
  t.same(table.lookup(moved.name), [{ type: 'A', address: '10.200.0.31' }], 'a name seen twice: the later record wins');
  t.same(table.lookup('3.0.200.10.in-addr.arpa'), undefined, 'the old address is free');
  t.same(table.lookup('31.0.200.10.in-addr.arpa'), [{ type: 'PTR', target: moved.name }]);
  t.equal(table.lookup('30.0.200.10.in-addr.arpa'), undefined, 'the address of the replaced record is not kept');
  t.same(table.lookup('_fresh._udp.marathon.l4lb.thisdcos.directory')?.length, 1);
  t.equal(table.lookup('_udp.marathon.l4lb.thisdcos.directory')?.length, 0, 'empty non-terminals follow the new table');
  t.equal([...table.entries()].find((e) => e.name === keep.name), keepEntry, 'an unchanged VIP keeps its entry');

  // Aborted: the table in use stays.
  table.beginLoad();
  table.loadChunk([gone]);
  table.abortLoad();
  table.commitLoad(99);
  t.equal(table.revision, 7, 'nothing to commit after an abort');
  t.equal(table.lookup(gone.name), undefined);
  // A whole snapshot drops a table being built.
  table.beginLoad();
  table.load({ revision: 8, vips: [gone] });
  t.notOk(table.loading);
  t.same(table.lookup(gone.name), [{ type: 'A', address: '10.200.0.2' }]);
});

t.test('the follower streams resyncs: every name answers throughout, the new table at once at the end', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hoplite-vip-zone-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = join(dir, 'vip.db');
  const pools = ['10.200.0.0/16'];
  const N = 2500;
  const record = (i: number): VipRecord => vip(`n${i}`, `10.200.${Math.floor((i + 1) / 256)}.${(i + 1) % 256}`, [{ port: 80, protocol: 'tcp' }]);
  const admin = await createAllocator({ store, pools });
  t.teardown(() => admin.close());
  const table0 = await admin.exportTable();
  await admin.importTable({ ...table0, revision: 1, vips: Array.from({ length: N }, (_, i) => record(i)) });

  const table = new VipTable({ pools });
  const follower = new VipFollower({ table, allocator: { store, pools }, logger: pino({ level: 'silent' }), metrics: new Registry(), snapshotFile: '' });
  follower.start();
  t.teardown(() => follower.close());
  await follower.whenSynced();
  t.equal(table.size, N);
  const before = table.revision;

  // A resync: an import of the same table without n0 and with one new name.
  const fresh = vip('fresh', '10.200.200.1', [{ port: 80, protocol: 'tcp' }]);
  const all = await admin.exportTable();
  await admin.importTable({ ...all, vips: [...all.vips.filter((v) => v.name !== record(0).name), fresh] });
  const after = await admin.revision();
  t.ok(after > before);

  // Between every turn of the event loop until the new table is in use: the table is either the old
  // one (n0, no fresh) or the new one (fresh, no n0), and every other name answers.
  let turns = 0;
  let loadingTurns = 0;
  const problems: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const deadline = Date.now() + 20_000;
    const probe = (): void => {
      turns++;
      if (table.loading) loadingTurns++;
      const old = table.revision < after;
      if ((table.lookup(record(0).name) !== undefined) !== old) problems.push(`n0 at revision ${table.revision}`);
      if ((table.lookup(fresh.name) !== undefined) === old) problems.push(`fresh at revision ${table.revision}`);
      for (let i = 1; i < N; i += 7) if (table.lookup(record(i).name) === undefined) problems.push(`n${i} missing at revision ${table.revision}`);
      if (!old && !table.loading) return resolve();
      if (Date.now() > deadline) return reject(new Error(`no resync within 20 s (revision ${table.revision}, ${turns} turns)`));
      setImmediate(probe);
    };
    probe();
  });
  t.same(problems, [], 'no name vanished, no half-built table answered');
  t.ok(loadingTurns >= 2, `queries were answered while the new table was being built (${loadingTurns} turns)`);
  t.equal(table.size, N);
  t.equal(table.revision, after);
});
