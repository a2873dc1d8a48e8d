import t, { type Test } from 'tap';
import type * as dnsPacket from 'dns-packet';
import { createServer, MAX_TCP_QUERY, type DnsServer } from '../src/index.js';
import { decode, encodeQuery, TcpClient, udpQuery } from './helpers/dns-client.js';
import { ControlledStage } from './helpers/stages.js';

function metric(server: DnsServer, re: RegExp): number {
  const m = server.metrics.render().match(re);
  return m ? Number(m[1]) : 0;
}

const first = (m: ReturnType<typeof decode>): unknown => (m.answers?.[0] as dnsPacket.StringAnswer | undefined)?.data;

async function start(t: Test, tcp: Record<string, number> = {}, holdPrefix = 'slow') {
  const stage = new ControlledStage('forward', ['upstream'], [], { hold: (q) => q.qname.startsWith(holdPrefix) });
  const server = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }], tcp }, { stages: [stage.factory()] });
  t.teardown(() => server.close({ timeoutMs: 0 }));
  return { server, stage, port: server.addresses()[0]!.port };
}

t.test('pipelined queries are answered as they complete, out of order', async (t) => {
  const { stage, port } = await start(t);
  const c = await TcpClient.connect(port);
  t.teardown(() => c.close());
  c.send(encodeQuery('slow1.example', { id: 1 }));
  c.send(encodeQuery('fast.example', { id: 2 }));
  c.send(encodeQuery('ready.spartan', { id: 3 }));
  await stage.heldCount(1);
  await c.until(() => c.replies.length === 2);
  t.same(
    c.replies.map((r) => r.readUInt16BE(0)),
    [2, 3],
    'the later queries are answered first',
  );
  stage.release('slow1.example', '192.0.2.5');
  await c.until(() => c.replies.length === 3);
  const slow = decode(c.replies[2]!);
  t.equal(slow.id, 1);
  t.equal(first(slow), '192.0.2.5');
});

t.test('partial reads and several frames in one write', async (t) => {
  const { port } = await start(t);
  const c = await TcpClient.connect(port);
  t.teardown(() => c.close());
  const q1 = encodeQuery('ready.spartan', { id: 10 });
  const q2 = encodeQuery('ready.hoplite', { id: 11 });
  const framed = (q: Buffer): Buffer => Buffer.concat([Buffer.from([q.length >> 8, q.length & 0xff]), q]);
  // One byte at a time, each write flushed before the next.
  const bytes = framed(q1);
  for (let i = 0; i < bytes.length; i++) {
    await new Promise<void>((resolve) => c.socket.write(bytes.subarray(i, i + 1), () => resolve()));
  }
  await c.until(() => c.replies.length === 1);
  t.equal(decode(c.replies[0]!).id, 10);
  // Two frames and a half in one write, then the rest.
  const q3 = framed(encodeQuery('ready.spartan', { id: 12 }));
  c.writeRaw(Buffer.concat([framed(q2), q3.subarray(0, 5)]));
  await c.until(() => c.replies.length === 2);
  c.writeRaw(q3.subarray(5));
  await c.until(() => c.replies.length === 3);
  t.same(
    c.replies.map((r) => r.readUInt16BE(0)),
    [10, 11, 12],
  );
});

t.test('FORMERR over TCP keeps the connection; garbage closes only that connection', async (t) => {
  const { server, port } = await start(t);
  const c = await TcpClient.connect(port);
  t.teardown(() => c.close());
  const two = encodeQuery('example.com', { id: 21 });
  two.writeUInt16BE(2, 4);
  c.send(two);
  await c.until(() => c.replies.length === 1);
  t.equal(decode(c.replies[0]!).rcode, 'FORMERR');
  t.equal((await c.query('ready.spartan')).rcode, 'NOERROR', 'still open');

  const other = await TcpClient.connect(port);
  t.teardown(() => other.close());
  // A length shorter than a header.
  const short = await TcpClient.connect(port);
  short.writeRaw(Buffer.from([0, 5, 1, 2, 3, 4, 5]));
  await short.waitClosed();
  // A length beyond MAX_TCP_QUERY.
  const huge = await TcpClient.connect(port);
  huge.writeRaw(Buffer.from([(MAX_TCP_QUERY + 1) >> 8, (MAX_TCP_QUERY + 1) & 0xff, 0, 0]));
  await huge.waitClosed();
  // A DNS response instead of a query.
  const resp = await TcpClient.connect(port);
  const r = encodeQuery('example.com');
  r.writeUInt16BE(r.readUInt16BE(2) | 0x8000, 2);
  resp.send(r);
  await resp.waitClosed();
  t.pass('each garbage connection was closed');
  t.equal((await other.query('ready.hoplite')).rcode, 'NOERROR', 'the others are unaffected');
  t.equal((await udpQuery(port, 'ready.spartan')).msg.rcode, 'NOERROR');
  t.equal(metric(server, /hoplite_dns_server_tcp_connections_total\{event="garbage"\} (\d+)/), 3);
});

t.test('idle connections are closed after tcp.idleTimeoutMs; busy ones are not', async (t) => {
  const { server, stage, port } = await start(t, { idleTimeoutMs: 300 });
  const idle = await TcpClient.connect(port);
  t.equal((await idle.query('ready.spartan')).rcode, 'NOERROR');
  const busy = await TcpClient.connect(port);
  t.teardown(() => busy.close());
  busy.send(encodeQuery('slow-idle.example', { id: 31 }));
  await stage.heldCount(1);
  await idle.waitClosed();
  t.pass('the idle connection was closed');
  t.equal(metric(server, /hoplite_dns_server_tcp_connections_total\{event="idle"\} (\d+)/), 1);
  // The busy one survives its idle periods while its query is in flight...
  const c2 = await TcpClient.connect(port);
  await c2.waitClosed();
  t.equal(metric(server, /hoplite_dns_server_tcp_connections_total\{event="idle"\} (\d+)/), 2, 'another idle connection closed meanwhile');
  t.notOk(busy.closed, 'the busy connection is still open');
  stage.release('slow-idle.example', '192.0.2.31');
  await busy.until(() => busy.replies.length === 1);
  t.equal(first(decode(busy.replies[0]!)), '192.0.2.31');
  // ...and is closed once idle.
  await busy.waitClosed();
  t.pass('closed once idle');
});

t.test('connection cap: the oldest idle connection makes room; when all are busy the new one is closed', async (t) => {
  const { server, stage, port } = await start(t, { maxConnections: 2 });
  const a = await TcpClient.connect(port);
  t.equal((await a.query('ready.spartan')).rcode, 'NOERROR');
  const b = await TcpClient.connect(port);
  t.equal((await b.query('ready.spartan')).rcode, 'NOERROR');
  const c = await TcpClient.connect(port);
  t.teardown(() => c.close());
  t.equal((await c.query('ready.spartan')).rcode, 'NOERROR', 'the new connection is served');
  await a.waitClosed();
  t.pass('the oldest idle connection was closed');
  t.notOk(b.closed);
  t.equal(metric(server, /hoplite_dns_server_tcp_connections_total\{event="evicted"\} (\d+)/), 1);

  // Make both open connections busy.
  b.send(encodeQuery('slow-b.example', { id: 1 }));
  c.send(encodeQuery('slow-c.example', { id: 2 }));
  await stage.heldCount(2);
  const d = await TcpClient.connect(port);
  await d.waitClosed();
  t.pass('a connection beyond the cap is closed when every other one is busy');
  t.equal(metric(server, /hoplite_dns_server_tcp_connections_total\{event="rejected"\} (\d+)/), 1);
  t.equal(server.tcpConnections, 2);
  stage.releaseAll();
  await b.until(() => b.replies.length === 2);
  await c.until(() => c.replies.length === 2);
  b.close();
});

t.test('per-connection cap on queries in flight: the connection is not read further until one completes', async (t) => {
  const { stage, port } = await start(t, { maxQueriesPerConnection: 2 });
  const c = await TcpClient.connect(port);
  t.teardown(() => c.close());
  c.send(encodeQuery('slow-1.example', { id: 1 }));
  c.send(encodeQuery('slow-2.example', { id: 2 }));
  c.send(encodeQuery('slow-3.example', { id: 3 }));
  c.send(encodeQuery('ready.spartan', { id: 4 }));
  await stage.heldCount(2);
  // Another connection is answered meanwhile: the cap is per connection.
  const other = await TcpClient.connect(port);
  t.equal((await other.query('ready.hoplite')).rcode, 'NOERROR');
  other.close();
  t.equal(stage.held.length, 2, 'the third query was not read yet');
  t.equal(c.replies.length, 0, 'nor the fourth');
  stage.release('slow-1.example');
  await stage.heldCount(2);
  t.same(
    stage.held.map((h) => h.query.qname),
    ['slow-2.example', 'slow-3.example'],
  );
  await c.until(() => c.replies.length === 1);
  stage.release('slow-2.example');
  await c.until(() => c.replies.length === 3, 10000);
  t.same(
    c.replies.map((r) => r.readUInt16BE(0)),
    [1, 2, 4],
  );
  stage.release('slow-3.example');
  await c.until(() => c.replies.length === 4);
});

t.test('a client that half-closes still gets its answers', async (t) => {
  const { stage, port } = await start(t);
  const c = await TcpClient.connect(port);
  c.send(encodeQuery('slow-half.example', { id: 41 }));
  c.send(encodeQuery('ready.spartan', { id: 42 }));
  await stage.heldCount(1);
  c.socket.end();
  stage.release('slow-half.example');
  await c.waitClosed();
  t.same(
    c.replies.map((r) => r.readUInt16BE(0)).sort(),
    [41, 42],
    'both answered before the server closed its side',
  );
});

t.test('large answers over TCP are not truncated', async (t) => {
  const stage = new ControlledStage('forward', ['upstream'], [], {
    addresses: Array.from({ length: 300 }, (_, i) => `198.51.100.${i % 250}`),
  });
  const server = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }] }, { stages: [stage.factory()] });
  t.teardown(() => server.close());
  const c = await TcpClient.connect(server.addresses()[1]!.port);
  t.teardown(() => c.close());
  const m = await c.query('many.example');
  t.notOk(m.flag_tc);
  t.equal(m.answers?.length, 300);
  const u = await udpQuery(server.addresses()[0]!.port, 'many.example', { edns: 4096 });
  t.ok(u.msg.flag_tc, 'the same answer over UDP is truncated');
});

t.test('close() with open TCP connections: idle ones closed at once, busy ones after their answer', async (t) => {
  const stage = new ControlledStage('forward', ['upstream'], [], { hold: () => true });
  const server = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }] }, { stages: [stage.factory()] });
  const port = server.addresses()[0]!.port;
  const idle = await TcpClient.connect(port);
  const busy = await TcpClient.connect(port);
  busy.send(encodeQuery('slow-close.example', { id: 51 }));
  await stage.heldCount(1);
  const closing = server.close({ timeoutMs: 30000 });
  await idle.waitClosed();
  t.notOk(busy.closed);
  stage.release('slow-close.example', '192.0.2.51');
  await busy.waitClosed();
  t.equal(busy.replies.length, 1, 'answered before closing');
  t.equal(first(decode(busy.replies[0]!)), '192.0.2.51');
  await closing;
});
