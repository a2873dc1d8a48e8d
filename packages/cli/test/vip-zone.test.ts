import t from 'tap';
import type { VipRecord } from '@hoplite/vip';
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
