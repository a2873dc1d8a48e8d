/**
 * The cache stage in a real server (createServer, UDP and TCP on 127.0.0.1 port 0) in front of
 * the forward stage and a fake upstream. The cache's clock is injected (expiry without sleeps);
 * the forward stage runs on real time with short timeouts.
 *
 * The cache is given explicitly in `stages` (and `cache: false` keeps createServer from adding its
 * own), so that the injected clock reaches it.
 */
import t from 'tap';
import type * as dnsPacket from 'dns-packet';
import { cacheStageFactory, createServer, forwardStageFactory, type DnsServer } from '../src/index.js';
import { startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.js';
import { decode, TcpClient, udpQuery } from './helpers/dns-client.js';

interface Rig {
  server: DnsServer;
  upstream: FakeUpstream;
  port: number;
  clock: { now: number };
  counter(name: string, labels?: Record<string, string>): number;
}

async function rig(t: { teardown(fn: () => unknown): void }, cache: Record<string, unknown> = {}): Promise<Rig> {
  const upstream = await startFakeUpstream();
  t.teardown(() => upstream.close());
  const clock = { now: 5_000_000 };
  const server = await createServer(
    { listen: [{ address: '127.0.0.1', port: 0 }], cache: false },
    {
      stages: [
        cacheStageFactory(cache, { clock: () => clock.now }),
        forwardStageFactory({ upstreams: { servers: [upstream.key], timeout: 200, deadline: 1000 } }),
      ],
    },
  );
  t.teardown(() => server.close());
  const port = server.addresses().find((a) => a.transport === 'udp')!.port;
  return { server, upstream, port, clock, counter: (name, labels = {}) => server.metrics.counter(name, '').get(labels) };
}

const addresses = (m: ReturnType<typeof decode>): unknown[] => (m.answers ?? []).map((x) => (x as dnsPacket.StringAnswer).data);
const ttl = (m: ReturnType<typeof decode>): number => (m.answers![0] as { ttl: number }).ttl;

t.test('a second query is answered from the cache, not sent upstream', async (t) => {
  const r = await rig(t);
  t.same(
    r.server.stages.map((s) => s.name),
    ['local', 'cache', 'forward'],
  );
  const first = await udpQuery(r.port, 'www.example.org', { id: 11 });
  t.same(addresses(first.msg), ['192.0.2.1']);
  t.equal(r.upstream.received.length, 1);
  r.clock.now += 7_000;
  const second = await udpQuery(r.port, 'WWW.example.ORG', { id: 12 });
  t.equal(r.upstream.received.length, 1, 'not sent upstream');
  t.equal(second.msg.id, 12);
  t.equal(second.msg.questions![0]!.name, 'WWW.example.ORG');
  t.same(addresses(second.msg), ['192.0.2.1']);
  t.equal(ttl(second.msg), 53, "the fake's 60 s, 7 s later");
  t.equal(r.counter('hoplite_dns_cache_hits_total', { kind: 'positive' }), 1);
  t.equal(r.counter('hoplite_dns_server_queries_total', { transport: 'udp', route: 'upstream', rcode: 'NOERROR' }), 2);

  // Negative answers too (search-path amplification): one NXDOMAIN upstream, then cached.
  r.upstream.handler = (q) =>
    q.name.startsWith('nope')
      ? { rcode: 'NXDOMAIN', authorities: [{ name: 'example.org', type: 'SOA', ttl: 60, data: { mname: 'ns.example.org', rname: 'h.example.org', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 30 } }] }
      : undefined;
  for (let i = 0; i < 3; i++) t.equal((await udpQuery(r.port, 'nope.example.org')).msg.rcode, 'NXDOMAIN');
  t.equal(r.upstream.received.length, 2);
  r.clock.now += 61_000;
  await udpQuery(r.port, 'www.example.org');
  t.equal(r.upstream.received.length, 3, 'expired: asked again');
});

t.test('an upstream outage is bridged by stale answers', async (t) => {
  const r = await rig(t, { staleTtl: 3600, staleRefresh: 30 });
  await udpQuery(r.port, 'api.example.org');
  t.equal(r.upstream.received.length, 1);
  r.clock.now += 120_000; // expired a minute ago

  // The upstream answers SERVFAIL: the forward stage fails, the cache answers stale.
  r.upstream.handler = () => ({ rcode: 'SERVFAIL' });
  const stale = await udpQuery(r.port, 'api.example.org');
  t.equal(stale.msg.rcode, 'NOERROR');
  t.same(addresses(stale.msg), ['192.0.2.1']);
  t.equal(ttl(stale.msg), 30);
  t.equal(r.upstream.received.length, 2, 'the upstream was asked first');

  // Within staleRefresh the upstream is not asked again.
  await udpQuery(r.port, 'api.example.org');
  t.equal(r.upstream.received.length, 2);

  // The upstream is gone (no reply at all): after the forward deadline, stale again.
  r.upstream.handler = () => ({ drop: true });
  r.clock.now += 31_000;
  const dropped = await udpQuery(r.port, 'api.example.org');
  t.equal(dropped.msg.rcode, 'NOERROR');
  t.equal(ttl(dropped.msg), 30);
  t.equal(r.counter('hoplite_dns_cache_stale_total', { kind: 'positive' }), 3);
  t.match(r.server.metrics.render(), /hoplite_dns_cache_stale_total\{kind="positive"\} 3/);

  // A name never cached has nothing to bridge with.
  const unknown = await udpQuery(r.port, 'new.example.org');
  t.equal(unknown.msg.rcode, 'SERVFAIL');

  // The upstream is back: fresh answers again.
  r.upstream.handler = () => ({ answers: [{ name: 'api.example.org', type: 'A', ttl: 60, data: '192.0.2.7' }] });
  r.clock.now += 31_000;
  const back = await udpQuery(r.port, 'api.example.org');
  t.same(addresses(back.msg), ['192.0.2.7']);
  t.equal(ttl(back.msg), 60);
});

t.test('a large answer: TC over UDP, the TCP retry is a hit', async (t) => {
  const r = await rig(t);
  const many = Array.from({ length: 30 }, (_, i) => ({ name: 'big.example.org', type: 'A' as const, ttl: 60, data: `10.1.0.${i + 1}` }));
  r.upstream.handler = () => ({ answers: many });
  const udp = await udpQuery(r.port, 'big.example.org');
  t.equal(udp.msg.flag_tc, true);
  t.ok(udp.raw.length <= 512);
  const tcp = await TcpClient.connect(r.port);
  t.teardown(() => tcp.close());
  const full = await tcp.query('big.example.org');
  t.equal(full.answers!.length, 30);
  t.equal(r.upstream.received.length, 1, 'the upstream was asked once');
  const edns = await udpQuery(r.port, 'big.example.org', { edns: 1232 });
  t.equal(edns.msg.answers!.length, 30, 'an EDNS client gets it whole over UDP');
  t.equal(r.upstream.received.length, 1);
});

t.test('cache: false leaves the stage out of the chain', async (t) => {
  const server = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }], cache: false });
  t.teardown(() => server.close());
  t.notOk(server.stages.some((s) => s.name === 'cache'));
  t.notMatch(server.metrics.render(), /hoplite_dns_cache_/, 'no cache metrics either');
});
