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
  layoutKey,
  planPools,
  poolOf,
  rangeToCidrs,
} from '../src/pools.js';
import { configFromRanges, decidePools, encodeStoredPools, layoutFromFingerprint, planFromLayout, poolConfigKey, storedLayout } from '../src/stored-pools.js';
import type { PoolLayout } from '../src/types.js';

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

t.test('the canonical configuration: what the store keeps and compares', async (t) => {
  const plan = planPools({ pools: ['10.1.0.0/24', '10.0.0.0/24'], exclude: ['10.1.0.5', '10.0.0.128/25', '10.9.9.9', '10.0.0.0'], ipv6Pool: 'fd00:c:0::/64' });
  t.same(plan.config, {
    pools: ['10.1.0.0/24', '10.0.0.0/24'],
    exclude: ['10.0.0.128/25', '10.1.0.5'],
    ipv6Pool: 'fd00:c::/64',
    allowNonPrivate: false,
  }, 'pools in configuration order; exclusions as removed, in address order, none touching no pool; canonical IPv6');
  t.equal(plan.layout.config, plan.config, 'the layout carries it');
  // Spelled otherwise, the same addresses: the same key.
  const same = planPools({ pools: ['10.1.0.0/24', '10.0.0.0/24'], exclude: ['10.0.0.128/26', '10.0.0.192/26', '10.1.0.5/32'], ipv6Pool: 'fd00:c::/64', allowNonPrivate: true });
  t.equal(poolConfigKey(same.config), poolConfigKey(plan.config));
  t.not(poolConfigKey(planPools({ pools: ['10.0.0.0/24', '10.1.0.0/24'], exclude: ['10.1.0.5', '10.0.0.128/25'], ipv6Pool: 'fd00:c::/64' }).config), poolConfigKey(plan.config), 'another order: other AAAA');
  t.not(poolConfigKey(planPools({ pools: ['10.1.0.0/24', '10.0.0.0/24'], exclude: ['10.1.0.5', '10.0.0.128/25'] }).config), poolConfigKey(plan.config), 'no IPv6 pool');
  // Planning the canonical configuration again gives the same layout and the same configuration.
  const again = planPools(plan.config);
  t.equal(layoutKey(again.layout), layoutKey(plan.layout));
  t.same(again.config, plan.config);
  t.equal(ipv6For(again, ip('10.0.0.1')), ipv6For(plan, ip('10.0.0.1')));
  t.same(planPools({ pools: ['10.0.0.0/24'], exclude: ['10.0.0.0/30', '10.0.0.255'] }).config.exclude, ['10.0.0.0/30'], 'network inside a hole stays, a lone broadcast goes');
  t.same(planPools({ pools: ['10.0.0.0/24', '10.0.1.0/24'], exclude: ['10.0.1.0/24'] }).config.exclude, ['10.0.1.0/24'], 'a pool excluded whole');
});

t.test('rangeToCidrs', async (t) => {
  t.same(rangeToCidrs(ip('10.0.0.0'), ip('10.0.0.255')), ['10.0.0.0/24']);
  t.same(rangeToCidrs(ip('10.0.0.5'), ip('10.0.0.5')), ['10.0.0.5']);
  t.same(rangeToCidrs(ip('10.0.0.1'), ip('10.0.0.6')), ['10.0.0.1', '10.0.0.2/31', '10.0.0.4/31', '10.0.0.6']);
  t.same(rangeToCidrs(ip('10.0.0.0'), ip('10.255.255.255')), ['10.0.0.0/8']);
});

t.test('a layout without its configuration (written by an older Hoplite) is read back', async (t) => {
  const plan = planPools({ pools: ['192.168.5.0/24', '10.0.0.0/22'], exclude: ['10.0.1.0/24', '10.0.3.7'], ipv6Pool: 'fd00:1::/64' });
  const bare = layoutFromFingerprint(layoutKey(plan.layout));
  t.equal(bare.config, undefined);
  t.equal(bare.size, plan.layout.size);
  const config = configFromRanges(bare);
  t.same(config, { pools: ['10.0.0.0/22', '192.168.5.0/24'], exclude: ['10.0.1.0/24', '10.0.3.7'], allowNonPrivate: false }, 'pools in address order');
  const back = planFromLayout(bare, 'fd00:2::/64');
  t.equal(layoutKey(back.layout), layoutKey(plan.layout), 'the same IPv4 layout');
  t.equal(back.ipv6?.cidr, 'fd00:2::/64', 'with the IPv6 pool given');
  t.equal(planFromLayout(bare, 'fd00:2::/120').ipv6, undefined, 'an IPv6 pool too small for it: none');
  t.equal(planFromLayout(plan.layout, 'fd00:2::/64').ipv6?.cidr, 'fd00:1::/64', 'a layout with its configuration: that one');
  t.equal(configFromRanges(layoutFromFingerprint(layoutKey(planPools({ pools: ['11.0.0.0/24'], allowNonPrivate: true }).layout))).allowNonPrivate, true);
});

t.test('stored pools: encoded with the fingerprint they describe; decidePools', async (t) => {
  const a = planPools({ pools: ['10.0.0.0/24'], ipv6Pool: 'fd00:a::/64' }).layout;
  const b = planPools({ pools: ['10.0.0.0/24'], ipv6Pool: 'fd00:b::/64' }).layout;
  const c = planPools({ pools: ['10.0.1.0/24'] }).layout;
  const stored = (l: PoolLayout, pools: string | null = encodeStoredPools(l) ?? null) => ({ fingerprint: layoutKey(l), pools });
  t.same(storedLayout(layoutKey(a), encodeStoredPools(a)).layout.config, a.config);
  t.equal(storedLayout(layoutKey(c), encodeStoredPools(a)).consistent, false, 'pools of another layout: not followed');
  t.equal(storedLayout(layoutKey(c), encodeStoredPools(a)).layout.config, undefined);
  t.equal(storedLayout(layoutKey(c), null).consistent, true, 'no pools: an older store, nothing wrong');
  t.match(decidePools(undefined, a, false), { outcome: 'created', writeLayout: true, writePools: true });
  t.match(decidePools(stored(a), a, false), { outcome: 'same', writeLayout: false, writePools: false });
  t.match(decidePools(stored(a), b, false), { outcome: 'adopted', writeLayout: false, writePools: false });
  t.match(decidePools(stored(a), b, true), { outcome: 'updated', writeLayout: false, writePools: true }, 'only the IPv6 pool changed');
  t.match(decidePools(stored(a), c, true), { outcome: 'updated', writeLayout: true, writePools: true });
  t.match(decidePools(stored(a, null), b, false), { outcome: 'same', writePools: true }, 'an older store with the same IPv4 layout gets the configuration');
  t.match(decidePools(stored(a, null), c, false), { outcome: 'adopted', writePools: false });
  t.match(decidePools(stored(c, encodeStoredPools(a) ?? null), c, false), { outcome: 'same', writePools: true }, 'stale pools mended by the layout\'s own pools');
  t.match(decidePools(stored(a), layoutFromFingerprint(layoutKey(b)), false), { outcome: 'same', writePools: false }, 'a bare layout compares by IPv4 layout');
});
