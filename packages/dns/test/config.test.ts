import t from 'tap';
import { ConfigError, MemoryRecordSource, SERVER_DEFAULTS, validateServerConfig, LOCAL_ZONE_DEFAULTS } from '../src/index.js';

t.test('defaults apply and the result is frozen', async (t) => {
  const c = validateServerConfig({});
  t.same(c.listen, [{ address: '127.0.0.1', port: 53 }]);
  t.same(c.tcp, SERVER_DEFAULTS.tcp);
  t.equal(c.udp.maxResponseSize, 1232);
  t.equal(c.maxInFlight, 10000);
  t.equal(c.renames, true);
  t.equal(c.ready, true);
  t.same(c.localZones, []);
  t.ok(Object.isFrozen(c));
  t.ok(Object.isFrozen(c.tcp));
  t.ok(Object.isFrozen(c.listen));
  t.ok(Object.isFrozen(c.listen[0]));
  const partial = validateServerConfig({ tcp: { idleTimeoutMs: 500 } });
  t.equal(partial.tcp.idleTimeoutMs, 500);
  t.equal(partial.tcp.maxConnections, SERVER_DEFAULTS.tcp.maxConnections, 'other tcp keys keep their default');
});

t.test('every problem is reported at once, with key, value and what is accepted', async (t) => {
  let err: unknown;
  try {
    validateServerConfig({
      listen: [{ address: 'localhost', port: 53 }, { address: '127.0.0.1', port: 70000 }, { address: '::1', port: 53, extra: 1 }],
      tcp: { idleTimeoutMs: -1, maxConnections: 'many' },
      udp: { maxResponseSize: 100 },
      maxInFlight: 0,
      renames: 'yes',
      bogus: true,
      localZones: [
        { zone: 'a'.repeat(64) + '.x', source: {} },
        { zone: 'l4lb.thisdcos.directory', source: new MemoryRecordSource(), reverseZones: ['10.example'], ttl: 1.5, soa: { serial: -1, nope: 1 } },
        { zone: 'spartan', source: new MemoryRecordSource() },
      ],
    });
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof ConfigError);
  const ce = err as ConfigError;
  t.equal(ce.code, 'HOPLITE_DNS_CONFIG');
  const keys = ce.problems.map((p) => p.key).sort();
  t.same(keys, [
    'bogus',
    'listen[0].address',
    'listen[1].port',
    'listen[2].extra',
    'localZones[0].source',
    'localZones[0].zone',
    'localZones[1].reverseZones[0]',
    'localZones[1].soa.nope',
    'localZones[1].soa.serial',
    'localZones[1].ttl',
    'localZones[2].zone',
    'maxInFlight',
    'renames',
    'tcp.idleTimeoutMs',
    'tcp.maxConnections',
    'udp.maxResponseSize',
  ]);
  const port = ce.problems.find((p) => p.key === 'listen[1].port')!;
  t.equal(port.value, 70000);
  t.match(port.expected, /0 \.\. 65535/);
  t.match(ce.message, /listen\[1\]\.port: got 70000, expected/);
});

t.test('udp.maxResponseSize stops at 65507, the largest payload an IPv4 UDP datagram carries', async (t) => {
  t.equal(validateServerConfig({ udp: { maxResponseSize: 65507 } }).udp.maxResponseSize, 65507);
  for (const bad of [65508, 65535]) {
    try {
      validateServerConfig({ udp: { maxResponseSize: bad } });
      t.fail(`${bad} accepted`);
    } catch (e) {
      const ce = e as ConfigError;
      t.equal(ce.code, 'HOPLITE_DNS_CONFIG');
      t.same(ce.problems.map((p) => [p.key, p.value]), [['udp.maxResponseSize', bad]]);
      t.match(ce.message, new RegExp(`udp\\.maxResponseSize: got ${bad}, expected .*512 \\.\\. 65507`));
    }
  }
});

t.test('listen entries: duplicates refused, port 0 may repeat, IPv6 accepted', async (t) => {
  t.throws(
    () => validateServerConfig({ listen: [{ address: '127.0.0.1', port: 5300 }, { address: '127.0.0.1', port: 5300 }] }),
    { code: 'HOPLITE_DNS_CONFIG' },
  );
  t.throws(() => validateServerConfig({ listen: [] }), { code: 'HOPLITE_DNS_CONFIG' });
  const c = validateServerConfig({ listen: [{ address: '127.0.0.1', port: 0 }, { address: '127.0.0.1', port: 0 }, { address: '::1', port: 0 }] });
  t.equal(c.listen.length, 3);
  t.throws(() => validateServerConfig('nope'), { code: 'HOPLITE_DNS_CONFIG' });
});

t.test('local zones: defaults, normalization, the built-in zones', async (t) => {
  const src = new MemoryRecordSource();
  const c = validateServerConfig({ localZones: [{ zone: 'L4LB.thisdcos.directory.', source: src, reverseZones: ['10.IN-ADDR.arpa.'] }] });
  const z = c.localZones[0]!;
  t.equal(z.zone, 'l4lb.thisdcos.directory');
  t.same(z.reverseZones, ['10.in-addr.arpa']);
  t.equal(z.source, src, 'the source is the object given (not copied, not frozen)');
  t.equal(z.ttl, 5);
  t.same(z.soa, LOCAL_ZONE_DEFAULTS.soa);
  t.same(z.soa, { mname: 'ns.spartan', rname: 'hostmaster.spartan', serial: 1, refresh: 60, retry: 180, expire: 86400, minimum: 1, ttl: 3600 });
  t.same(z.ns, { name: 'ns.spartan', ttl: 3600 });
  t.notOk(Object.isFrozen(src));
  // With ready: false, the zone `spartan` may be configured.
  const own = validateServerConfig({ ready: false, localZones: [{ zone: 'spartan', source: src }] });
  t.equal(own.localZones[0]!.zone, 'spartan');
  // Duplicated zones.
  t.throws(() => validateServerConfig({ localZones: [{ zone: 'a.b', source: src }, { zone: 'A.B', source: src }] }), { code: 'HOPLITE_DNS_CONFIG' });
});
