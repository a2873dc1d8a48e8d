import t from 'tap';
import { pino } from 'pino';
import { createSocket, type RemoteInfo } from 'node:dgram';
import * as dnsPacket from 'dns-packet';
import { createServer, errorResponse, findOpt, Rcode, type DnsServer, type Query } from '../src/index.js';
import { decode, encodeQuery, TcpClient, udpQuery, udpRaw } from './helpers/dns-client.js';
import { answerA, ControlledStage } from './helpers/stages.js';

function metric(server: DnsServer, re: RegExp): number {
  const m = server.metrics.render().match(re);
  return m ? Number(m[1]) : 0;
}

/** A big response to q (n A records), as an upstream might send. */
function bigAnswer(q: Query, n: number): Buffer {
  return answerA(
    q,
    Array.from({ length: n }, (_, i) => `192.0.2.${i % 250}`),
    { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, flags: 0, options: [] } as unknown as dnsPacket.Answer] },
  );
}

t.test('malformed queries: FORMERR, NOTIMP, BADVERS, drops; the server keeps answering', async (t) => {
  const stage = new ControlledStage('forward', ['upstream']);
  const server = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }] }, { stages: [stage.factory()] });
  t.teardown(() => server.close());
  const port = server.addresses()[0]!.port;

  const two = encodeQuery('example.com', { id: 11 });
  two.writeUInt16BE(2, 4);
  const formerr = decode((await udpRaw(port, two))!);
  t.equal(formerr.id, 11);
  t.equal(formerr.rcode, 'FORMERR');

  const notify = encodeQuery('example.com', { id: 12 });
  notify.writeUInt16BE((notify.readUInt16BE(2) & ~0x7800) | (4 << 11), 2);
  const notimp = (await udpRaw(port, notify))!;
  t.equal(notimp.readUInt16BE(0), 12);
  t.equal(notimp[3]! & 0xf, Rcode.NOTIMP);
  t.equal((notimp.readUInt16BE(2) >> 11) & 0xf, 4, 'opcode echoed');

  const v1 = encodeQuery('example.com', { id: 13, edns: 1232 });
  v1[v1.length - 5] = 1;
  const badvers = (await udpRaw(port, v1))!;
  t.equal(badvers[3]! & 0xf, 0);
  const opt = findOpt(badvers, 12 + 13 + 4)!;
  t.ok(opt, 'an OPT record');
  t.equal(badvers[opt[0] + 5], 1, 'extended rcode BADVERS (16)');

  const ptr = Buffer.concat([encodeQuery('x', { id: 14 }).subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
  t.equal(decode((await udpRaw(port, ptr))!).rcode, 'FORMERR', 'a pointer in the question');

  // Unreadable header and responses are dropped: send them, then a good query on the same socket;
  // the first (and only) reply is the good one.
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  t.teardown(() => sock.close());
  const replies: Buffer[] = [];
  const got = new Promise<void>((resolve) => {
    sock.on('message', (m: Buffer) => {
      replies.push(m);
      if (m.readUInt16BE(0) === 99) resolve();
    });
  });
  const response = encodeQuery('example.com', { id: 15 });
  response.writeUInt16BE(response.readUInt16BE(2) | 0x8000, 2);
  sock.send(Buffer.from([1, 2, 3]), port, '127.0.0.1');
  sock.send(Buffer.alloc(0), port, '127.0.0.1');
  sock.send(response, port, '127.0.0.1');
  sock.send(encodeQuery('ready.spartan', { id: 99 }), port, '127.0.0.1');
  await got;
  t.equal(replies.length, 1, 'only the good query was answered');
  t.equal(metric(server, /hoplite_dns_server_dropped_total\{reason="short",transport="udp"\} (\d+)/), 2);
  t.equal(metric(server, /hoplite_dns_server_dropped_total\{reason="response",transport="udp"\} (\d+)/), 1);
  t.equal(metric(server, /hoplite_dns_server_rejected_total\{rcode="FORMERR",reason="qdcount",transport="udp"\} (\d+)/), 1);
  t.equal(metric(server, /hoplite_dns_server_rejected_total\{rcode="NOTIMP",reason="opcode",transport="udp"\} (\d+)/), 1);
  t.equal(metric(server, /hoplite_dns_server_rejected_total\{rcode="BADVERS",reason="edns-version",transport="udp"\} (\d+)/), 1);
});

t.test('a stage that throws, rejects or answers nonsense: SERVFAIL, counted', async (t) => {
  const stage = new ControlledStage('forward', ['upstream'], [], {
    throwOn: (q) => q.qname === 'throw.example',
    respond: (q) => {
      if (q.qname === 'reject.example') return Promise.reject(new Error('nope'));
      if (q.qname === 'short.example') return Buffer.alloc(3);
      if (q.qname === 'weird.example') return 42 as unknown as Buffer;
      return answerA(q, ['192.0.2.7']);
    },
  });
  const server = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }] }, { stages: [stage.factory()] });
  t.teardown(() => server.close());
  const port = server.addresses()[0]!.port;
  for (const name of ['throw.example', 'reject.example', 'short.example', 'weird.example']) {
    const { msg } = await udpQuery(port, name, { id: 5 });
    t.equal(msg.rcode, 'SERVFAIL', name);
    t.equal(msg.id, 5);
    t.equal(msg.questions?.[0]?.name, name);
  }
  t.equal(metric(server, /hoplite_dns_server_stage_errors_total\{transport="udp"\} (\d+)/), 4);
  const fine = await udpQuery(port, 'fine.example');
  t.equal(fine.msg.rcode, 'NOERROR');
  t.same(fine.msg.answers?.map((a) => (a as dnsPacket.StringAnswer).data), ['192.0.2.7']);
});

t.test('queries in flight beyond maxInFlight get REFUSED; local answers still flow', async (t) => {
  const stage = new ControlledStage('forward', ['upstream'], [], { hold: () => true });
  const server = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }], maxInFlight: 2 }, { stages: [stage.factory()] });
  t.teardown(() => server.close());
  const port = server.addresses()[0]!.port;
  const first = udpQuery(port, 'one.example');
  const second = udpQuery(port, 'two.example');
  await stage.heldCount(2);
  t.equal(server.inFlight, 2);
  const third = await udpQuery(port, 'three.example');
  t.equal(third.msg.rcode, 'REFUSED');
  t.equal(metric(server, /hoplite_dns_server_refused_inflight_total\{transport="udp"\} (\d+)/), 1);
  const ready = await udpQuery(port, 'ready.spartan');
  t.equal(ready.msg.rcode, 'NOERROR', 'a local answer needs no slot');
  stage.release('one.example', '192.0.2.11');
  stage.release('two.example', '192.0.2.22');
  t.same((await first).msg.answers?.map((a) => (a as dnsPacket.StringAnswer).data), ['192.0.2.11']);
  t.same((await second).msg.answers?.map((a) => (a as dnsPacket.StringAnswer).data), ['192.0.2.22']);
  t.equal(server.inFlight, 0);
});

t.test('UDP answers fit the client: 512 without EDNS, its EDNS size capped by udp.maxResponseSize', async (t) => {
  const stage = new ControlledStage('forward', ['upstream'], [], {
    respond: (q) => bigAnswer(q, q.qname.startsWith('n30') ? 30 : q.qname.startsWith('n90') ? 90 : 200),
  });
  const server = await createServer(
    { listen: [{ address: '127.0.0.1', port: 0 }], udp: { maxResponseSize: 1500 } },
    { stages: [stage.factory()] },
  );
  t.teardown(() => server.close());
  const port = server.addresses()[0]!.port;
  // 30 A records: ~850 bytes.
  const plain = await udpQuery(port, 'n30.example');
  t.ok(plain.msg.flag_tc, 'TC without EDNS');
  t.ok(plain.raw.length <= 512);
  const small = await udpQuery(port, 'n30.example', { edns: 800 });
  t.ok(small.msg.flag_tc, 'TC beyond the advertised 800');
  t.ok(small.raw.length <= 800);
  const fits = await udpQuery(port, 'n30.example', { edns: 1232 });
  t.notOk(fits.msg.flag_tc);
  t.equal(fits.msg.answers?.length, 30);
  // 90 records (~1500+): over the configured cap even though the client offers 4096.
  const capped = await udpQuery(port, 'n90.example', { edns: 4096 });
  t.ok(capped.msg.flag_tc, 'capped by udp.maxResponseSize');
  t.ok(capped.raw.length <= 1500);
  t.equal(capped.msg.questions?.[0]?.name, 'n90.example', 'the question is kept');
});

t.test('an answer larger than any UDP datagram (65507 bytes on IPv4) is cut with TC, on both UDP implementations; TCP carries it whole', async (t) => {
  for (const io of ['native', 'dgram'] as const) {
    // 2339 A records of 28 bytes (dns-packet does not compress names): 65,533 bytes with the
    // header, question and OPT, between 65507 and 65535.
    const stage = new ControlledStage('forward', ['upstream'], [], { respond: (q) => bigAnswer(q, 2339) });
    const server = await createServer(
      { listen: [{ address: '127.0.0.1', port: 0 }], udp: { maxResponseSize: 65507, io } },
      { stages: [stage.factory()] },
    );
    t.teardown(() => server.close());
    const port = server.addresses()[0]!.port;
    const over = await udpQuery(port, 'huge.example', { edns: 65535 });
    t.ok(over.msg.flag_tc, `${io}: TC, not an answer the kernel refuses`);
    t.ok(over.raw.length <= 65507);
    const tcp = await TcpClient.connect(port);
    t.teardown(() => tcp.close());
    const whole = await tcp.query('huge.example', { edns: 65535 });
    t.equal(whole.answers?.length, 2339, `${io}: the whole answer over TCP`);
    const size = tcp.replies.at(-1)!.length;
    t.ok(size > 65507 && size <= 65535, `${io}: it is ${size} bytes, more than a UDP datagram carries`);
  }
});

t.test('renamed queries reach the next stage with the looked-up name and return with the asked one', async (t) => {
  const stage = new ControlledStage('forward', ['forward', 'upstream'], [{ zone: 'thisdcos.directory', kind: 'forward' }]);
  const server = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }] }, { stages: [stage.factory()] });
  t.teardown(() => server.close());
  const port = server.addresses()[0]!.port;
  const { msg } = await udpQuery(port, 'Master.thisdcos.GLOBAL', { id: 77 });
  const q = stage.seen.at(-1)!;
  t.equal(q.lookupName, 'master.thisdcos.directory');
  t.equal(q.renamed, true);
  t.same(q.route, { kind: 'forward', zone: 'thisdcos.directory' }, 'routed on the looked-up name');
  t.equal(msg.id, 77);
  t.equal(msg.questions?.[0]?.name, 'Master.thisdcos.GLOBAL');
  t.equal(msg.answers?.[0]?.name, 'Master.thisdcos.GLOBAL');

  const off = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }], renames: false }, { stages: [stage.factory()] });
  t.teardown(() => off.close());
  await udpQuery(off.addresses()[0]!.port, 'master.thisdcos.global');
  t.equal(stage.seen.at(-1)!.lookupName, 'master.thisdcos.global', 'renames off');
  t.equal(stage.seen.at(-1)!.route.kind, 'upstream');
});

t.test('no stage for a route: REFUSED', async (t) => {
  const server = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }] });
  t.teardown(() => server.close());
  const port = server.addresses()[0]!.port;
  const { msg } = await udpQuery(port, 'example.com', { edns: 1232 });
  t.equal(msg.rcode, 'REFUSED');
  t.equal(msg.additionals?.[0]?.type, 'OPT');
});

t.test('several addresses: each answers from the socket the query came to', async (t) => {
  const server = await createServer({
    listen: [
      { address: '127.0.0.1', port: 0 },
      { address: '127.0.0.2', port: 0 },
    ],
  });
  t.teardown(() => server.close());
  const addrs = server.addresses();
  t.equal(addrs.length, 4);
  t.same(
    addrs.map((a) => a.transport),
    ['udp', 'tcp', 'udp', 'tcp'],
  );
  t.equal(addrs[0]!.port, addrs[1]!.port, 'UDP and TCP share the port');
  for (const a of addrs.filter((x) => x.transport === 'udp')) {
    const sock = createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
    const from = new Promise<RemoteInfo>((resolve) => sock.once('message', (_m, r) => resolve(r)));
    sock.send(encodeQuery('ready.spartan'), a.port, a.address);
    const r = await from;
    sock.close();
    t.equal(r.address, a.address, `reply from ${a.address}`);
    t.equal(r.port, a.port);
  }
});

t.test('IPv6 loopback', async (t) => {
  const server = await createServer({ listen: [{ address: '::1', port: 0 }] });
  t.teardown(() => server.close());
  const a = server.addresses()[0]!;
  t.equal(a.family, 'IPv6');
  const reply = await udpRaw(a.port, encodeQuery('ready.hoplite'), 5000, '::1');
  t.equal(decode(reply!).rcode, 'NOERROR');
});

t.test('a taken port is a ListenError; a failing stage is a StageError; both release the sockets', async (t) => {
  const first = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }] });
  t.teardown(() => first.close());
  const port = first.addresses()[0]!.port;
  await t.rejects(createServer({ listen: [{ address: '127.0.0.1', port }] }), { code: 'HOPLITE_DNS_LISTEN', port });
  await t.rejects(createServer({ listen: [{ address: '192.0.2.1', port: 0 }] }), { code: 'HOPLITE_DNS_LISTEN' });

  // A stage whose start fails: the error names it, and the port it held is free again.
  let held = 0;
  const failing = {
    name: 'forward',
    create: () => ({
      name: 'forward',
      handle: (q: Query) => errorResponse(q, Rcode.SERVFAIL, 1232),
      start: async () => {
        throw new Error('upstream list empty');
      },
    }),
  };
  const probe = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }] });
  held = probe.addresses()[0]!.port;
  await probe.close();
  await t.rejects(createServer({ listen: [{ address: '127.0.0.1', port: held }] }, { stages: [failing] }), {
    code: 'HOPLITE_DNS_STAGE',
    stage: 'forward',
  });
  const again = await createServer({ listen: [{ address: '127.0.0.1', port: held }] });
  t.equal(again.addresses()[0]!.port, held, 'the port was released');
  await again.close();
  await t.rejects(createServer({ listen: [{ address: 'nope', port: 0 }] }), { code: 'HOPLITE_DNS_CONFIG' });
});

t.test('stage context: bound addresses, child logger, registry', async (t) => {
  const stage = new ControlledStage('forward', ['upstream']);
  const server = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }], udp: { maxResponseSize: 1400 } }, { stages: [stage.factory()] });
  t.teardown(() => server.close());
  const ctx = stage.ctx!;
  t.same(ctx.listenAddresses, server.addresses());
  t.equal(ctx.udpMaxResponseSize, 1400);
  t.equal(ctx.metrics, server.metrics);
  t.same(
    server.stages.map((s) => s.name),
    ['local', 'cache', 'forward'],
  );
  await server.close();
  t.ok(stage.closed, 'stages are closed with the server');
  t.same(server.addresses(), []);
});

t.test('close() drains queries in flight, refuses new ones, then closes', async (t) => {
  const stage = new ControlledStage('forward', ['upstream'], [], { hold: () => true });
  const server = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }] }, { stages: [stage.factory()] });
  const port = server.addresses()[0]!.port;
  const pending = udpQuery(port, 'slow.example');
  await stage.heldCount(1);
  const closing = server.close({ timeoutMs: 30000 });
  const during = await udpQuery(port, 'ready.spartan');
  t.equal(during.msg.rcode, 'REFUSED', 'new queries refused while draining');
  stage.release('slow.example', '192.0.2.99');
  const answered = await pending;
  t.same(answered.msg.answers?.map((a) => (a as dnsPacket.StringAnswer).data), ['192.0.2.99'], 'the query in flight is answered');
  await closing;
  // Closed: the port can be bound again.
  const reuse = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    reuse.once('error', reject);
    reuse.bind(port, '127.0.0.1', resolve);
  });
  reuse.close();
  t.pass('the UDP port is free after close()');

  // The deadline: a query that never completes does not hold close() forever.
  const stuck = new ControlledStage('forward', ['upstream'], [], { hold: () => true });
  const s2 = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }] }, { stages: [stuck.factory()] });
  void udpQuery(s2.addresses()[0]!.port, 'never.example').catch(() => undefined);
  await stuck.heldCount(1);
  const started = Date.now();
  await s2.close({ timeoutMs: 200 });
  t.ok(Date.now() - started < 10000, 'close() returned after its deadline');
});

t.test('fuzz over the sockets: random and mutated messages never stop the server', async (t) => {
  const stage = new ControlledStage('forward', ['upstream']);
  const server = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }] }, { stages: [stage.factory()] });
  t.teardown(() => server.close());
  const port = server.addresses()[0]!.port;
  let seed = 12345;
  const rnd = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 4294967296;
  };
  const seeds = [encodeQuery('ready.spartan', { edns: 1232 }), encodeQuery('x.example', { type: 'SRV' }), encodeQuery('a.dclb.thisdcos.global')];
  const mutate = (): Buffer => {
    if (rnd() < 0.3) {
      const b = Buffer.alloc(Math.floor(rnd() * 100));
      for (let i = 0; i < b.length; i++) b[i] = Math.floor(rnd() * 256);
      return b;
    }
    const b = Buffer.from(seeds[Math.floor(rnd() * seeds.length)]!);
    for (let f = 0; f < 1 + Math.floor(rnd() * 4); f++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
    return rnd() < 0.2 ? b.subarray(0, Math.floor(rnd() * b.length)) : b;
  };
  const sock = createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', resolve));
  t.teardown(() => sock.close());
  // Bounded: 3000 datagrams, sent in batches that wait for the socket to flush.
  for (let batch = 0; batch < 30; batch++) {
    await Promise.all(
      Array.from({ length: 100 }, () => new Promise<void>((resolve) => sock.send(mutate(), port, '127.0.0.1', () => resolve()))),
    );
  }
  // And garbage byte streams over TCP on a few connections.
  for (let c = 0; c < 5; c++) {
    const conn = await TcpClient.connect(port);
    const junk = Buffer.alloc(2000);
    for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(rnd() * 256);
    conn.writeRaw(junk);
    conn.close();
  }
  const after = await udpQuery(port, 'ready.spartan');
  t.equal(after.msg.rcode, 'NOERROR', 'still answering over UDP');
  const tcp = await TcpClient.connect(port);
  t.equal((await tcp.query('ready.hoplite')).rcode, 'NOERROR', 'and over TCP');
  tcp.close();
  t.equal(metric(server, /hoplite_dns_server_stage_errors_total\{transport="udp"\} (\d+)/), 0, 'no stage blew up');
});

t.test('logs carry the stage name as component', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
  const stage = new ControlledStage('forward', ['upstream'], [], { throwOn: () => true });
  const server = await createServer({ listen: [{ address: '127.0.0.1', port: 0 }] }, { stages: [stage.factory()], logger });
  t.teardown(() => server.close());
  stage.ctx!.logger.info('hello');
  await udpQuery(server.addresses()[0]!.port, 'boom.example');
  t.ok(lines.some((l) => l.component === 'server' && l.msg === 'dns server started'));
  t.ok(lines.some((l) => l.component === 'forward' && l.msg === 'hello'), 'a stage logger is a child with component = its name');
  t.ok(lines.some((l) => l.component === 'server' && l.msg === 'stage failed' && l.route === 'upstream'));
  t.notOk(lines.some((l) => JSON.stringify(l).includes('boom.example')), 'the untrusted name is not logged');
});
