/**
 * The whole chain as createServer composes it by default (local zones -> masters -> forward),
 * over real sockets, with fake masters, a fake forward-zone server and a fake upstream.
 */
import t from 'tap';
import type * as dnsPacket from 'dns-packet';
import { ConfigError, createServer, MemoryRecordSource, type DnsServer } from '@hoplite/dns';
import { startFakeUpstream, type FakeUpstream } from '../packages/dns/test/helpers/fake-upstream.js';
import { encodeQuery, decode, TcpClient, udpQuery, udpRaw } from '../packages/dns/test/helpers/dns-client.js';

const ZONE = 'l4lb.thisdcos.directory';
let upstream: FakeUpstream;
let corp: FakeUpstream;
let m1: FakeUpstream;
let m2: FakeUpstream;
let server: DnsServer;
let port: number;
const vips = new MemoryRecordSource({ [`web.marathon.${ZONE}`]: [{ type: 'A', address: '10.0.0.1' }] });

t.before(async () => {
  [upstream, corp, m1, m2] = await Promise.all([startFakeUpstream(), startFakeUpstream(), startFakeUpstream(), startFakeUpstream()]);
  corp.handler = () => ({ answers: [{ name: 'db.corp.example', type: 'A', ttl: 60, data: '10.9.9.9' }] });
  server = await createServer({
    listen: [{ address: '127.0.0.1', port: 0 }],
    localZones: [{ zone: ZONE, source: vips }],
    upstreams: [upstream.key],
    forwardZones: { 'corp.example': [corp.key] },
    masters: { servers: [m1.key, m2.key] },
  });
  port = server.addresses()[0]!.port;
});
t.teardown(async () => {
  await server?.close();
  await Promise.all([upstream, corp, m1, m2].map((u) => u?.close()));
});

const a = (m: ReturnType<typeof decode>): unknown[] => (m.answers ?? []).map((x) => (x as dnsPacket.StringAnswer).data);

t.test('the default chain: local, masters, forward zones, upstreams', async (t) => {
  t.same(
    server.stages.map((s) => s.name),
    ['local', 'cache', 'masters', 'forward'],
  );
  const before = upstream.received.length;
  const vip = await udpQuery(port, `web.marathon.${ZONE}`);
  t.same(a(vip.msg), ['10.0.0.1']);
  t.ok(vip.msg.flag_aa, 'local: authoritative');
  t.equal((await udpQuery(port, 'ready.spartan')).msg.rcode, 'NOERROR');

  const ext = await udpQuery(port, 'www.example.com');
  t.same(a(ext.msg), ['192.0.2.1'], 'upstream answer');
  t.equal(upstream.received.length, before + 1, 'local names never reached the upstream');

  const db = await udpQuery(port, 'db.corp.example');
  t.same(a(db.msg), ['10.9.9.9'], 'forward zone');
  t.equal(corp.received.length, 1);

  const m1Before = m1.received.length;
  const m2Before = m2.received.length;
  const leader = await udpQuery(port, 'leader.mesos');
  t.equal(leader.msg.rcode, 'NOERROR', 'masters');
  await m1.waitForQueries(m1Before + 1);
  await m2.waitForQueries(m2Before + 1);
  t.pass('every master was asked');

  const text = server.metrics.render();
  for (const route of ['local', 'masters', 'forward', 'upstream']) {
    t.match(text, new RegExp(`hoplite_dns_server_queries_total\\{rcode="NOERROR",route="${route}",transport="udp"\\} \\d+`), route);
  }
});

t.test('a renamed name that is not local is forwarded renamed and answered with the asked name', async (t) => {
  const n = upstream.received.length;
  const { msg } = await udpQuery(port, 'Master.thisdcos.Global', { id: 99 });
  await upstream.waitForQueries(n + 1);
  t.equal(upstream.received[n]!.name, 'master.thisdcos.directory', 'the upstream saw the looked-up name');
  t.equal(msg.id, 99);
  t.equal(msg.questions?.[0]?.name, 'Master.thisdcos.Global');
  t.equal(msg.answers?.[0]?.name, 'Master.thisdcos.Global');
  const local = await udpQuery(port, 'web.marathon.dclb.thisdcos.global');
  t.same(a(local.msg), ['10.0.0.1'], 'dclb.thisdcos.* answered from the VIP zone');
  t.equal(upstream.received.length, n + 1);
});

t.test('EDNS through the chain: DO passes, the answer fits the client', async (t) => {
  const n = upstream.received.length;
  const { msg } = await udpQuery(port, 'signed.example', { edns: 4096, dnssecOk: true });
  await upstream.waitForQueries(n + 1);
  const sent = upstream.received[n]!.packet.additionals?.find((x) => x.type === 'OPT') as dnsPacket.OptAnswer | undefined;
  t.ok(sent && (sent.flags ?? 0) & 0x8000, 'DO forwarded');
  const opt = msg.additionals?.find((x) => x.type === 'OPT') as unknown as { flags: number } | undefined;
  t.ok(opt && opt.flags & 0x8000, 'DO in the answer');

  upstream.handler = (q) =>
    q.name === 'big.example'
      ? { answers: Array.from({ length: 80 }, (_, i) => ({ name: 'big.example', type: 'A' as const, ttl: 60, data: `192.0.2.${i}` })) }
      : undefined;
  t.teardown(() => {
    upstream.handler = () => undefined;
  });
  const small = await udpRaw(port, encodeQuery('big.example'));
  t.ok(decode(small!).flag_tc, 'TC within 512 bytes');
  t.ok(small!.length <= 512);
  const tcp = await TcpClient.connect(port);
  const whole = await tcp.query('big.example');
  tcp.close();
  t.equal(whole.answers?.length, 80, 'whole over TCP');
});

t.test('config problems of every stage are reported at once', async (t) => {
  let err: unknown;
  try {
    await createServer({
      listen: [{ address: '127.0.0.1', port: 0 }],
      tcp: { idleTimeoutMs: 0 },
      upstreams: ['not-an-address'],
      masters: { zones: [] },
    });
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof ConfigError);
  const keys = (err as ConfigError).problems.map((p) => p.key);
  t.ok(keys.includes('tcp.idleTimeoutMs'), 'a server key');
  t.ok(keys.some((k) => k.startsWith('upstreams')), 'an upstreams key');
  t.ok(keys.some((k) => k.startsWith('masters')), 'a masters key');
});

t.test('an upstream that is one of our own listen addresses is refused at start', async (t) => {
  const probe = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }] });
  const p = probe.addresses()[0]!.port;
  await probe.close();
  await t.rejects(
    createServer({ listen: [{ address: '127.0.0.1', port: p }], upstreams: [`127.0.0.1:${p}`] }),
    { code: 'HOPLITE_DNS_FORWARD_TO_SELF' },
  );
  // The port was released: it can be bound again.
  const again = await createServer({ listen: [{ address: '127.0.0.1', port: p }] });
  t.equal(again.addresses()[0]!.port, p);
  await again.close();
});
