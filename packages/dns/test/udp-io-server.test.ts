/**
 * The whole server (createServer) on each UDP implementation, `udp.io` 'dgram' and 'native': the
 * listeners and every exchange socket are the chosen kind. Real fake masters and a fake upstream
 * (helpers/fake-upstream.ts), dns-packet clients over UDP on IPv4 and IPv6.
 */
import t from 'tap';
import dgram from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import { pino } from 'pino';
import { ConfigError, createServer, type DnsServer } from '../src/index.js';
import { nativeUdpStatus } from '../src/io/udp.js';
import { startFakeUpstreams, udpAsk } from './helpers/fake-upstream.js';
import { decode, encodeQuery, udpRaw } from './helpers/dns-client.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

interface LogLine {
  readonly msg: string;
  readonly level: number;
  readonly [key: string]: unknown;
}

/** A server on 127.0.0.1 and ::1 with the given udp.io, logging (debug and up) into `lines`. */
async function serve(t: Teardown, io: 'dgram' | 'native', config: Record<string, unknown>): Promise<{ server: DnsServer; port: number; port6: number; lines: LogLine[] }> {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  const server = await createServer(
    {
      listen: [
        { address: '127.0.0.1', port: 0 },
        { address: '::1', port: 0 },
      ],
      udp: { io },
      cache: false,
      ...config,
    },
    { logger },
  );
  t.teardown(() => server.close({ timeoutMs: 100 }));
  const udp = server.addresses().filter((a) => a.transport === 'udp');
  return { server, port: udp.find((a) => a.family === 'IPv4')!.port, port6: udp.find((a) => a.family === 'IPv6')!.port, lines };
}

function metric(server: DnsServer, re: RegExp): number {
  const m = server.metrics.render().match(re);
  return m ? Number(m[1]) : 0;
}

const A = (name: string, ip: string): dnsPacket.Answer => ({ name, type: 'A', ttl: 30, data: ip });
const rcode = (p: dnsPacket.DecodedPacket): string => (p as unknown as { rcode: string }).rcode;
const addressesOf = (p: dnsPacket.DecodedPacket): string[] =>
  (p.answers ?? []).filter((r) => r.type === 'A').map((r) => (r as dnsPacket.StringAnswer).data);

t.test('the native addon is available here (this file tests both implementations)', async (t) => {
  t.equal(nativeUdpStatus().available, true, nativeUdpStatus().reason ?? 'loads');
});

for (const io of ['dgram', 'native'] as const) {
  t.test(`udp.io ${io}: the server forwards, fans out, checks replies, falls back to TCP`, async (t) => {
    const [up, m1, m2, m3] = await startFakeUpstreams(t, 4);
    const { server, port, port6, lines } = await serve(t, io, {
      upstreams: [up!.key],
      masters: { servers: [m1!.key, m2!.key, m3!.key], nxdomainGrace: 50 },
    });
    const masterDrops = (reason: string): number => metric(server, new RegExp(`hoplite_dns_masters_dropped_replies_total\\{reason="${reason}"\\} (\\d+)`));

    t.test('the start log names the implementation in use', async (t) => {
      const started = lines.find((l) => l.msg === 'dns server started');
      t.ok(started, 'logged');
      t.equal(started?.udpIo, io);
    });

    t.test('forwarding: an upstream answer reaches the client, over IPv4 and IPv6 listeners', async (t) => {
      up!.handler = (q) => ({ answers: [A(q.name, '198.51.100.7')] });
      const p = await udpAsk(port, { name: 'www.example.com', id: 501 });
      t.equal(p.id, 501);
      t.same(addressesOf(p), ['198.51.100.7']);
      const p6 = await udpAsk(port6, { name: 'www.example.org', id: 502 }, 10_000, '::1');
      t.equal(p6.id, 502);
      t.same(addressesOf(p6), ['198.51.100.7']);
      t.equal(up!.received.filter((r) => r.transport === 'udp').length, 2);
    });

    t.test('fan-out: every master is asked; the first good answer wins without waiting for the slow one', async (t) => {
      const before = [m1!, m2!, m3!].map((m) => m.received.length);
      m1!.handler = (q) => ({ delay: 3000, answers: [A(q.name, '10.0.0.1')] });
      m2!.handler = (q) => ({ answers: [A(q.name, '10.0.0.2')] });
      m3!.handler = () => ({ drop: true });
      const started = performance.now();
      const p = await udpAsk(port, { name: 'leader.mesos', id: 503 });
      const ms = performance.now() - started;
      t.same(addressesOf(p), ['10.0.0.2']);
      t.ok(ms < 2500, `answered before the slow master (${ms.toFixed(0)} ms)`);
      const asked = [m1!, m2!, m3!].map((m, i) => m.received.length - before[i]!);
      t.same(asked, [1, 1, 1], 'each master asked once');
      const ids = [m1!, m2!, m3!].map((m) => m.received.at(-1)!.id);
      t.ok(ids.every((id) => id === ids[0]), 'one datagram, one ID, for all three');
    });

    t.test('a reply with a wrong ID is dropped and counted; the real one is taken', async (t) => {
      const dropsBefore = masterDrops('id');
      m1!.handler = (q) => [{ wrongId: true, answers: [A(q.name, '10.6.6.6')] }, { delay: 50, answers: [A(q.name, '10.0.0.1')] }];
      m2!.handler = () => ({ drop: true });
      m3!.handler = () => ({ drop: true });
      const p = await udpAsk(port, { name: 'marathon.mesos', id: 504 });
      t.same(addressesOf(p), ['10.0.0.1']);
      t.equal(masterDrops('id') - dropsBefore, 1, 'dropped_replies_total{reason="id"} counted it');
    });

    t.test('a reply from another port never reaches the exchange socket (connected: the kernel drops it)', async (t) => {
      const sourceBefore = masterDrops('source');
      const sentBefore = m1!.wrongPortSent;
      m1!.handler = (q) => [{ wrongPort: true, answers: [A(q.name, '10.6.6.6')] }, { delay: 50, answers: [A(q.name, '10.0.0.1')] }];
      m2!.handler = () => ({ drop: true });
      m3!.handler = () => ({ drop: true });
      const p = await udpAsk(port, { name: 'master.mesos', id: 505 });
      t.same(addressesOf(p), ['10.0.0.1']);
      t.equal(m1!.wrongPortSent - sentBefore, 1, 'the wrong-port reply was sent');
      t.equal(masterDrops('source') - sourceBefore, 0, 'and never seen by the exchanger');
    });

    t.test('a truncated upstream reply is retried over TCP', async (t) => {
      const many = Array.from({ length: 20 }, (_, i) => `10.1.0.${i + 1}`);
      up!.handler = (q) => ({ truncate: true, answers: many.map((ip) => A(q.name, ip)) });
      const tcpBefore = up!.received.filter((r) => r.transport === 'tcp').length;
      const p = await udpAsk(port, { name: 'big.example', id: 506, edns: { udpSize: 1232 } });
      t.equal(rcode(p), 'NOERROR');
      t.same(addressesOf(p), many, 'the full answer, from the TCP retry');
      t.equal(up!.received.filter((r) => r.transport === 'tcp').length - tcpBefore, 1, 'one TCP query upstream');
      t.equal(metric(server, /hoplite_dns_forward_upstream_tcp_retries_total\{upstream="[^"]+"\} (\d+)/), 1);
    });

    t.test('a malformed query gets FORMERR', async (t) => {
      const two = encodeQuery('example.com', { id: 507 });
      two.writeUInt16BE(2, 4); // QDCOUNT 2 with one question
      const reply = await udpRaw(port, two, 10_000);
      t.ok(reply, 'answered');
      const d = decode(reply!);
      t.equal(d.id, 507);
      t.equal(d.rcode, 'FORMERR');
    });

    t.test('no socket errors were logged', async (t) => {
      t.same(
        lines.filter((l) => l.msg === 'udp socket error'),
        [],
      );
    });
  });

  t.test(`udp.io ${io}: a master that is down (ICMP port unreachable) breaks nothing and logs nothing`, async (t) => {
    const [live] = await startFakeUpstreams(t, 1);
    live!.handler = (q) => ({ answers: [A(q.name, '10.0.0.9')] });
    // A port nobody listens on: every query to it comes back as ICMP port unreachable.
    const probe = dgram.createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
    const deadPort = probe.address().port;
    await new Promise<void>((r) => probe.close(() => r()));
    const { port, lines } = await serve(t, io, {
      masters: { servers: [live!.key, `127.0.0.1:${deadPort}`], nxdomainGrace: 50 },
    });
    for (let i = 0; i < 10; i++) {
      const p = await udpAsk(port, { name: `app${i}.marathon.mesos`, id: 600 + i });
      t.same(addressesOf(p), ['10.0.0.9'], `query ${i} answered by the live master`);
    }
    t.same(
      lines.filter((l) => l.msg === 'udp socket error').map((l) => (l.err as { code?: string } | undefined)?.code),
      [],
      'no socket errors logged (ECONNREFUSED is expected and ignored)',
    );
  });
}

t.test('udp.io must be auto, native or dgram', async (t) => {
  let caught: unknown;
  try {
    const s = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }], udp: { io: 'bogus' as 'auto' } });
    await s.close();
  } catch (err) {
    caught = err;
  }
  t.ok(caught instanceof ConfigError, 'a ConfigError');
  const err = caught as ConfigError;
  t.equal(err.code, 'HOPLITE_DNS_CONFIG');
  t.same(
    err.problems.map((p) => p.key),
    ['udp.io'],
  );
  t.equal(err.problems[0]!.value, 'bogus');
  t.match(err.message, /udp\.io/);
});
