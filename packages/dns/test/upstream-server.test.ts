/**
 * End to end: the real server (createServer) with the masters and forward stages, fake masters and
 * upstreams, dns-packet clients over UDP and TCP, and dig.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import dns from 'node:dns';
import { promisify } from 'node:util';
import * as dnsPacket from 'dns-packet';
import { createServer, type DnsServer } from '../src/server.js';
import { forwardStageFactory } from '../src/upstream/forward.js';
import { mastersStageFactory } from '../src/masters/stage.js';
import { literalLookup } from '../src/exchange/address.js';
import { startFakeUpstreams, tcpAsk, udpAsk } from './helpers/fake-upstream.js';

const run = promisify(execFile);

interface Teardown {
  teardown(fn: () => unknown): void;
}

async function serve(t: Teardown, config: Record<string, unknown>): Promise<{ server: DnsServer; port: number }> {
  const cfg = { listen: [{ address: '127.0.0.1', port: 0 }], ...config };
  const server = await createServer(cfg, { stages: [mastersStageFactory(cfg), forwardStageFactory(cfg)] });
  t.teardown(() => server.close({ timeoutMs: 100 }));
  return { server, port: server.addresses()[0]!.port };
}

async function dig(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), '+time=5', '+tries=1', ...args], { timeout: 20_000 });
  return stdout;
}

const A = (name: string, ip: string): dnsPacket.Answer => ({ name, type: 'A', ttl: 30, data: ip });
const rcode = (p: dnsPacket.DecodedPacket) => (p as unknown as { rcode: string }).rcode;
const firstA = (p: dnsPacket.DecodedPacket) => (p.answers?.find((r) => r.type === 'A') as dnsPacket.StringAnswer | undefined)?.data;

t.test('server: upstreams, masters and a forward zone, over UDP and TCP', async (t) => {
  const [u1, u2, m1, m2, corp] = await startFakeUpstreams(t, 5);
  u1!.handler = (q) => ({ answers: [A(q.name, '198.51.100.1')] });
  u2!.handler = (q) => ({ answers: [A(q.name, '198.51.100.1')] });
  m1!.handler = (q) => ({ answers: [A(q.name, '10.0.0.1')] });
  m2!.handler = () => ({ drop: true });
  corp!.handler = (q) => ({ answers: [A(q.name, '10.9.0.1')] });
  const { server, port } = await serve(t, {
    upstreams: [u1!.key, u2!.key],
    masters: { servers: [m1!.key, m2!.key] },
    forwardZones: { 'corp.example': [corp!.key] },
  });
  t.equal(firstA(await udpAsk(port, { name: 'www.example.com' })), '198.51.100.1');
  t.equal(firstA(await tcpAsk(port, { name: 'www.example.org' })), '198.51.100.1');
  t.equal(firstA(await udpAsk(port, { name: 'leader.mesos' })), '10.0.0.1');
  t.equal(m2!.received.length, 1, 'every master asked');
  t.equal(firstA(await udpAsk(port, { name: 'Host.Corp.Example' })), '10.9.0.1');
  t.equal(corp!.received[0]!.name, 'Host.Corp.Example');
  t.equal(u1!.received.filter((r) => r.name.endsWith('corp.example')).length, 0, 'forward zone names never go to the upstreams');
  const metrics = server.metrics.render();
  t.match(metrics, /hoplite_dns_forward_upstream_requests_total\{upstream="127\.0\.0\.1:\d+"\} \d/);
  t.match(metrics, /hoplite_dns_masters_outcomes_total\{outcome="answered"\} 1/);
});

t.test('server: a renamed name goes upstream under its looked-up name; the client sees its own', async (t) => {
  const [u] = await startFakeUpstreams(t, 1);
  u!.handler = (q) => ({ answers: [A(q.name, '198.51.100.9')] });
  const { port } = await serve(t, { upstreams: [u!.key] });
  const p = await udpAsk(port, { name: 'svc.thisdcos.global', id: 4711 });
  t.equal(u!.received[0]!.name, 'svc.thisdcos.directory');
  t.equal(p.id, 4711);
  t.equal(p.questions![0]!.name, 'svc.thisdcos.global');
  t.equal(p.answers![0]!.name, 'svc.thisdcos.global');
  t.equal(firstA(p), '198.51.100.9');
});

t.test('server: every upstream failing -> SERVFAIL within the deadline; no upstreams -> REFUSED', async (t) => {
  const [u] = await startFakeUpstreams(t, 1);
  u!.handler = () => ({ drop: true });
  const { port } = await serve(t, { upstreams: { servers: [u!.key], deadline: 200, timeout: 1000 } });
  const started = performance.now();
  const p = await udpAsk(port, { name: 'slow.example' });
  t.equal(rcode(p), 'SERVFAIL');
  t.ok(performance.now() - started < 3000);
  const { port: port2 } = await serve(t, {});
  t.equal(rcode(await udpAsk(port2, { name: 'x.example' })), 'REFUSED');
});

t.test('server: refuses to start when an upstream is its own listen address', async (t) => {
  // Find a free port, then listen on it and name it as the upstream.
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
  const port = probe.address().port;
  await new Promise<void>((r) => probe.close(() => r()));
  const cfg = { listen: [{ address: '127.0.0.1', port }], upstreams: [`127.0.0.1:${port}`] };
  let caught: { code?: string } | undefined;
  try {
    const s = await createServer(cfg, { stages: [forwardStageFactory(cfg)] });
    await s.close();
  } catch (err) {
    caught = err as typeof caught;
  }
  t.ok(caught, 'createServer rejected');
  t.equal(caught?.code, 'HOPLITE_DNS_FORWARD_TO_SELF');
});

t.test('dig: answers through upstreams and masters; a truncated answer completes over TCP', async (t) => {
  const [u, m] = await startFakeUpstreams(t, 2);
  const big = Array.from({ length: 50 }, (_, i) => A('big.example', `10.1.0.${i + 1}`));
  u!.handler = (q) => (q.name === 'big.example' ? { truncate: true, answers: big } : { answers: [A(q.name, '198.51.100.3')] });
  m!.handler = (q) => (q.name.startsWith('gone') ? { rcode: 'NXDOMAIN' } : { answers: [A(q.name, '10.0.0.7')] });
  const { port } = await serve(t, { upstreams: [u!.key], masters: [m!.key] });
  t.equal((await dig(port, '+short', 'www.example.net', 'A')).trim(), '198.51.100.3');
  t.equal((await dig(port, '+short', '+tcp', 'leader.mesos', 'A')).trim(), '10.0.0.7');
  t.match(await dig(port, 'gone.mesos', 'A'), /status: NXDOMAIN/);
  // dig without EDNS: 512 bytes, TC, then dig retries over TCP by itself and gets all 50.
  const out = await dig(port, '+noedns', 'big.example', 'A');
  t.equal(out.split('\n').filter((l) => /^big\.example\.\s+\d+\s+IN\s+A\s/.test(l)).length, 50);
  t.ok(u!.received.some((r) => r.transport === 'tcp'), 'we retried over TCP upstream');
});

t.test('server: UDP answers and exchanges never call dns.lookup (the sockets resolve IP literals themselves)', async (t) => {
  const [u, m] = await startFakeUpstreams(t, 2);
  u!.handler = (q) => ({ answers: [A(q.name, '198.51.100.5')] });
  m!.handler = (q) => ({ answers: [A(q.name, '10.0.0.5')] });
  // dgram takes dns.lookup when a socket is created without a `lookup` option; count its calls for
  // every socket created from here on (the server's listener and its exchange sockets).
  const original = dns.lookup;
  let calls = 0;
  (dns as { lookup: unknown }).lookup = (...args: unknown[]) => {
    calls++;
    return (original as (...a: unknown[]) => unknown)(...args);
  };
  t.teardown(() => {
    (dns as { lookup: unknown }).lookup = original;
  });
  const { port } = await serve(t, { upstreams: [u!.key], masters: [m!.key] });
  const atStart = calls; // the TCP listener resolves its host once, at start
  // A client that does not use dns.lookup either.
  const client = dgram.createSocket({ type: 'udp4', lookup: literalLookup as unknown as dgram.SocketOptions['lookup'] });
  await new Promise<void>((r) => client.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => client.close());
  const ask = (name: string, id: number): Promise<dnsPacket.DecodedPacket> =>
    new Promise((resolve) => {
      const onMessage = (msg: Buffer): void => {
        const p = dnsPacket.decode(msg);
        if (p.id !== id) return;
        client.off('message', onMessage);
        resolve(p);
      };
      client.on('message', onMessage);
      client.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ name, type: 'A' }] }), port, '127.0.0.1');
    });
  t.equal(firstA(await ask('ready.spartan', 1)), '127.0.0.1', 'a local answer (sent at once)');
  t.equal(firstA(await ask('www.example.com', 2)), '198.51.100.5', 'an upstream answer (sent later)');
  t.equal(firstA(await ask('leader.mesos', 3)), '10.0.0.5', 'a masters answer');
  t.equal(calls, atStart, 'dns.lookup was not called for any query');
  // The check itself works: a socket created without the option does call it.
  const plain = dgram.createSocket('udp4');
  await new Promise<void>((r) => plain.send(Buffer.from([0]), port, '127.0.0.1', () => r()));
  plain.close();
  t.ok(calls > atStart, 'a default socket goes through dns.lookup');
});
