import t from 'tap';
import { formatIpv4, parseIpv4 } from '../src/addr.js';
import {
  addressAt,
  DEFAULT_POOLS,
  indexOfAddress,
  inLayout,
  ipv4ForIpv6,
  ipv6For,
  layoutPools,
  planPools,
  poolOf,
} from '../src/pools.js';

const ip = (s: string) => parseIpv4(s) as number;

t.test('default pool', async (t) => {
  const plan = planPools();
  t.same(DEFAULT_POOLS, ['172.16.0.0/16']);
  t.equal(plan.layout.size, 65534);
  t.same(plan.layout.ranges, [{ start: ip('172.16.0.1'), end: ip('172.16.255.254'), cidr: '172.16.0.0/16' }]);
  t.equal(plan.ipv6, undefined);
});

t.test('network and broadcast never handed out, exclusions honoured', async (t) => {
  const plan = planPools({ pools: ['10.0.0.0/24', '192.168.1.0/30'], exclude: ['10.0.0.10', '10.0.0.128/25', '10.9.9.9'] });
  t.same(
    plan.layout.ranges.map((r) => [formatIpv4(r.start), formatIpv4(r.end), r.cidr]),
    [
      ['10.0.0.1', '10.0.0.9', '10.0.0.0/24'],
      ['10.0.0.11', '10.0.0.127', '10.0.0.0/24'],
      ['192.168.1.1', '192.168.1.2', '192.168.1.0/30'],
    ],
  );
  t.equal(plan.layout.size, 9 + 117 + 2);
  t.same(layoutPools(plan.layout), [
    { cidr: '10.0.0.0/24', size: 126 },
    { cidr: '192.168.1.0/30', size: 2 },
  ]);
  t.same(plan.warnings, ['exclusion 10.9.9.9/32 touches no pool']);
  for (const a of ['10.0.0.0', '10.0.0.10', '10.0.0.128', '10.0.0.255', '192.168.1.0', '192.168.1.3']) t.notOk(inLayout(plan.layout, ip(a)), a);
  for (const a of ['10.0.0.1', '10.0.0.127', '192.168.1.2']) t.ok(inLayout(plan.layout, ip(a)), a);
  t.equal(poolOf(plan.layout, ip('192.168.1.1')), '192.168.1.0/30');
  t.equal(poolOf(plan.layout, ip('10.0.0.10')), undefined);
});

t.test('addressAt / indexOfAddress walk the ranges end to end', async (t) => {
  const { layout } = planPools({ pools: ['192.168.1.0/30', '10.0.0.0/29'], exclude: ['10.0.0.3'] });
  const all = Array.from({ length: layout.size }, (_, i) => formatIpv4(addressAt(layout, i)));
  t.same(all, ['10.0.0.1', '10.0.0.2', '10.0.0.4', '10.0.0.5', '10.0.0.6', '192.168.1.1', '192.168.1.2']);
  all.forEach((a, i) => t.equal(indexOfAddress(layout, ip(a)), i));
  t.equal(indexOfAddress(layout, ip('10.0.0.3')), -1);
  t.throws(() => addressAt(layout, layout.size));
  t.throws(() => addressAt(layout, -1));
});

t.test('refused pools name the option and value', async (t) => {
  const cases: [Parameters<typeof planPools>[0], string, string][] = [
    [{ pools: ['11.0.0.0/8'] }, 'pools', 'RFC 1918'],
    [{ pools: ['8.8.8.0/24'] }, 'pools', 'RFC 1918'],
    [{ pools: ['172.32.0.0/16'] }, 'pools', 'RFC 1918'],
    [{ pools: ['10.0.0.1/24'] }, 'pools', 'host bits'],
    [{ pools: ['10.0.0.0'] }, 'pools', 'prefix length'],
    [{ pools: ['10.0.0.0/31'] }, 'pools', '/8-/30'],
    [{ pools: ['10.0.0.0/7'] }, 'pools', '/8-/30'],
    [{ pools: ['10.0.0.0/33'] }, 'pools', '0-32'],
    [{ pools: ['nonsense/8'] }, 'pools', 'dotted'],
    [{ pools: [] }, 'pools', 'non-empty'],
    [{ pools: ['10.0.0.0/16', '10.0.1.0/24'] }, 'pools', 'overlaps the pool 10.0.0.0/16'],
    [{ pools: ['127.0.0.0/8'], allowNonPrivate: true }, 'pools', 'loopback'],
    [{ pools: ['224.0.0.0/8'], allowNonPrivate: true }, 'pools', 'multicast'],
    [{ pools: ['10.0.0.0/30'], exclude: ['10.0.0.1', '10.0.0.2'] }, 'exclude', 'no address'],
    [{ pools: ['10.0.0.0/30'], exclude: ['10.0.0.x'] }, 'exclude', 'dotted'],
    [{ ipv6Pool: '2001:db8::/64' }, 'ipv6Pool', 'fd00::/8'],
    [{ ipv6Pool: 'fd00::1/64' }, 'ipv6Pool', 'host bits'],
    [{ ipv6Pool: 'fd00::' }, 'ipv6Pool', 'prefix length'],
    [{ ipv6Pool: 'fd00:c::/120' }, 'ipv6Pool', 'fewer than the 65536'],
    [{ ipv6Pool: 'ff00::/64', allowNonPrivate: true }, 'ipv6Pool', 'multicast'],
  ];
  for (const [opts, option, text] of cases) {
    try {
      planPools(opts);
      t.fail(`accepted ${JSON.stringify(opts)}`);
    } catch (err) {
      t.match(err, { code: 'HOPLITE_VIP_BAD_POOL', details: { option } }, JSON.stringify(opts));
      t.match((err as Error).message, text);
      t.match((err as Error).message, option);
    }
  }
});

t.test('allowNonPrivate lets public space in', async (t) => {
  const plan = planPools({ pools: ['11.0.0.0/8'], allowNonPrivate: true, ipv6Pool: '2001:db8::/64' });
  t.equal(plan.layout.size, 2 ** 24 - 2);
  t.equal(plan.ipv6?.cidr, '2001:db8::/64');
});

t.test('IPv6 mirrors the IPv4 pools in configuration order, whole blocks', async (t) => {
  const plan = planPools({ pools: ['10.1.0.0/24', '10.0.0.0/24'], exclude: ['10.1.0.5'], ipv6Pool: 'fd00:c::/64' });
  t.equal(ipv6For(plan, ip('10.1.0.1')), 'fd00:c::1');
  t.equal(ipv6For(plan, ip('10.1.0.255')), 'fd00:c::ff');
  t.equal(ipv6For(plan, ip('10.0.0.1')), 'fd00:c::101', 'second pool in configuration order starts at offset 256');
  t.equal(ipv6For(plan, ip('10.2.0.1')), undefined);
  t.equal(ipv4ForIpv6(plan, 'fd00:c::101'), ip('10.0.0.1'));
  t.equal(ipv4ForIpv6(plan, 'fd00:c::1:0'), undefined, 'past the IPv4 pools');
  t.equal(ipv4ForIpv6(plan, 'fd00:d::1'), undefined);
  t.equal(ipv6For(planPools({ pools: ['10.0.0.0/24'] }), ip('10.0.0.1')), undefined, 'no IPv6 pool');
  t.ok(planPools({ pools: ['10.0.0.0/24'], ipv6Pool: 'fd00::/120' }).ipv6, 'exactly as large is enough');
});
