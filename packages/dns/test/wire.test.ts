import t from 'tap';
import * as dnsPacket from 'dns-packet';
import {
  addressFromReverseName,
  encodeMessage,
  encodeName,
  errorResponse,
  findOpt,
  fitResponse,
  Flag,
  ipv4Bytes,
  ipv6Bytes,
  isSubdomain,
  lowerName,
  parseQuery,
  QType,
  questionMatches,
  Rcode,
  readName,
  readResponseHeader,
  restoreQuestion,
  reverseName,
  rewriteQuestion,
  skipName,
  withId,
} from '../src/index.js';
import { encodeQuery, decode } from './helpers/dns-client.js';

t.test('parseQuery reads a plain query and its EDNS', async (t) => {
  const plain = parseQuery(encodeQuery('Ready.Spartan', { id: 77, type: 'AAAA' }));
  t.ok(plain.ok);
  if (!plain.ok) return;
  t.equal(plain.query.id, 77);
  t.equal(plain.query.qname, 'Ready.Spartan');
  t.equal(plain.query.qtype, QType.AAAA);
  t.equal(plain.query.qclass, 1);
  t.equal(plain.query.edns, undefined);

  const edns = parseQuery(encodeQuery('example.com', { edns: 4096, dnssecOk: true }));
  t.ok(edns.ok);
  if (!edns.ok) return;
  t.same(edns.query.edns, { udpSize: 4096, dnssecOk: true, version: 0 });

  const small = parseQuery(encodeQuery('example.com', { edns: 100 }));
  t.ok(small.ok && small.query.edns?.udpSize === 512, 'an EDNS size below 512 counts as 512');

  const root = parseQuery(encodeQuery('.', { type: 'NS' }));
  t.ok(root.ok && root.query.qname === '', 'the root is the empty name');
});

t.test('parseQuery verdicts for what it refuses', async (t) => {
  const q = encodeQuery('example.com', { id: 9 });
  t.match(parseQuery(q.subarray(0, 11)), { ok: false, action: 'drop', reason: 'short' });
  const response = Buffer.from(q);
  response.writeUInt16BE(response.readUInt16BE(2) | Flag.QR, 2);
  t.match(parseQuery(response), { ok: false, action: 'drop', reason: 'response' });

  const notify = Buffer.from(q);
  notify.writeUInt16BE((notify.readUInt16BE(2) & ~0x7800) | (4 << 11), 2);
  t.match(parseQuery(notify), { ok: false, action: 'respond', rcode: Rcode.NOTIMP, id: 9 });

  const two = Buffer.from(q);
  two.writeUInt16BE(2, 4);
  t.match(parseQuery(two), { ok: false, action: 'respond', rcode: Rcode.FORMERR, reason: 'qdcount' });
  const none = Buffer.from(q);
  none.writeUInt16BE(0, 4);
  t.match(parseQuery(none), { ok: false, action: 'respond', rcode: Rcode.FORMERR, reason: 'qdcount' });

  t.match(parseQuery(q.subarray(0, q.length - 2)), { ok: false, action: 'respond', rcode: Rcode.FORMERR, reason: 'question' });

  // A compression pointer in the question.
  const ptr = Buffer.concat([q.subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
  t.match(parseQuery(ptr), { ok: false, action: 'respond', rcode: Rcode.FORMERR, reason: 'question' });

  // A label longer than 63 bytes.
  const long = Buffer.concat([q.subarray(0, 12), Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.from([0, 0, 1, 0, 1])]);
  t.match(parseQuery(long), { ok: false, rcode: Rcode.FORMERR });

  const v1 = encodeQuery('example.com', { edns: 1232 });
  v1[v1.length - 5] = 1; // OPT version byte
  t.match(parseQuery(v1), { ok: false, action: 'respond', rcode: Rcode.BADVERS, reason: 'edns-version' });

  const withOpt = encodeQuery('example.com', { edns: 1232 });
  const opt = withOpt.subarray(withOpt.length - 11);
  const twice = Buffer.concat([withOpt, opt]);
  twice.writeUInt16BE(2, 10);
  t.match(parseQuery(twice), { ok: false, rcode: Rcode.FORMERR, reason: 'opt-repeated' });

  const badArcount = Buffer.from(q);
  badArcount.writeUInt16BE(3, 10);
  t.match(parseQuery(badArcount), { ok: false, rcode: Rcode.FORMERR, reason: 'record' });
});

t.test('names: escapes, pointers, limits', async (t) => {
  const wire = encodeName('a\\.b.c\\\\d.\\000x');
  const read = readName(Buffer.concat([Buffer.alloc(12), wire]), 12, false);
  t.equal(read?.name, 'a\\.b.c\\\\d.\\000x', 'escapes round-trip');
  t.equal(read?.end, 12 + wire.length);
  t.equal(encodeName('').length, 1);
  t.equal(encodeName('example.com.').toString('hex'), encodeName('example.com').toString('hex'));
  t.throws(() => encodeName('a'.repeat(64) + '.com'), RangeError);
  t.throws(() => encodeName(('a'.repeat(63) + '.').repeat(4) + 'com'), RangeError);

  // Pointers: backward only.
  const msg = Buffer.concat([Buffer.alloc(12), encodeName('example.com'), Buffer.from([3, 0x77, 0x77, 0x77, 0xc0, 12])]);
  t.equal(readName(msg, 25, true)?.name, 'www.example.com');
  t.equal(readName(msg, 25, false), undefined, 'no pointers allowed in a question');
  const loop = Buffer.concat([Buffer.alloc(12), Buffer.from([0xc0, 12])]);
  t.equal(readName(loop, 12, true), undefined, 'a pointer to itself');
  const forward = Buffer.concat([Buffer.alloc(12), Buffer.from([0xc0, 14, 0])]);
  t.equal(readName(forward, 12, true), undefined, 'a forward pointer');
  t.equal(readName(Buffer.from([5, 0x61]), 0), undefined, 'truncated label');
  t.equal(skipName(msg, 25), 31);
  t.equal(skipName(Buffer.from([5, 0x61]), 0), -1);

  t.equal(lowerName('ReAdY.SPARTAN'), 'ready.spartan');
  t.equal(lowerName('plain'), 'plain');
  t.ok(isSubdomain('a.b.mesos', 'mesos'));
  t.ok(isSubdomain('mesos', 'mesos'));
  t.notOk(isSubdomain('amesos', 'mesos'));
  t.notOk(isSubdomain('a\\.mesos', 'mesos'), 'an escaped dot is not a label boundary');
  t.ok(isSubdomain('anything', ''));
});

t.test('errorResponse, withId, questionMatches, readResponseHeader', async (t) => {
  const q = encodeQuery('Example.COM', { id: 31, edns: 4096, dnssecOk: true, cd: true });
  const p = parseQuery(q);
  t.ok(p.ok);
  if (!p.ok) return;
  const resp = errorResponse({ ...p.query, raw: q }, Rcode.SERVFAIL, 1232);
  const d = decode(resp);
  t.equal(d.id, 31);
  t.equal(d.rcode, 'SERVFAIL');
  t.equal(d.questions?.[0]?.name, 'Example.COM');
  t.ok((d.flags ?? 0) & dnsPacket.RECURSION_DESIRED, 'RD copied');
  t.ok((d.flags ?? 0) & dnsPacket.CHECKING_DISABLED, 'CD copied');
  const opt = d.additionals?.find((a) => a.type === 'OPT') as unknown as { udpPayloadSize: number; flags: number };
  t.equal(opt.udpPayloadSize, 1232);
  t.ok(opt.flags & dnsPacket.DNSSEC_OK, 'DO echoed');

  const badvers = errorResponse({ ...p.query, raw: q }, Rcode.BADVERS, 1232);
  t.equal(badvers[3]! & 0xf, 0, 'header rcode: low bits of 16');
  const o = findOpt(badvers, p.query.questionEnd)!;
  t.equal(badvers[o[0] + 5], 1, 'extended rcode 1 in the OPT');

  const noQuestion = errorResponse({ id: 5, flags: 0, raw: q, questionEnd: 0, edns: undefined }, Rcode.FORMERR, 1232);
  t.equal(noQuestion.length, 12);
  t.equal(noQuestion.readUInt16BE(4), 0);

  const h = readResponseHeader(resp)!;
  t.equal(h.id, 31);
  t.equal(h.rcode, Rcode.SERVFAIL);
  t.equal(h.arcount, 1);
  t.equal(readResponseHeader(q), undefined, 'a query is not a response');
  t.equal(readResponseHeader(resp.subarray(0, 5)), undefined);

  t.ok(questionMatches(resp, encodeQuery('example.com', { id: 1 }), p.query.questionEnd), 'case-insensitive');
  t.notOk(questionMatches(resp, encodeQuery('example.org', { id: 1 }), p.query.questionEnd));
  t.notOk(questionMatches(resp, encodeQuery('example.com', { type: 'AAAA' }), p.query.questionEnd));

  const copy = withId(resp, 999);
  t.equal(copy.readUInt16BE(0), 999);
  t.equal(resp.readUInt16BE(0), 31, 'the original is untouched');
});

t.test('fitResponse keeps question and OPT and sets TC', async (t) => {
  const answers = Array.from({ length: 60 }, (_, i) => ({ type: 'A' as const, name: 'big.example', ttl: 5, data: `10.0.0.${i}` }));
  const big = dnsPacket.encode({
    type: 'response',
    id: 3,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type: 'A', name: 'big.example' }],
    answers,
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, flags: 0, options: [] } as unknown as dnsPacket.Answer],
  });
  t.ok(big.length > 512);
  t.equal(fitResponse(big, 4096), big, 'fits: unchanged');
  const cut = fitResponse(big, 512);
  t.ok(cut.length <= 512);
  const d = decode(cut);
  t.ok(d.flag_tc, 'TC set');
  t.equal(d.answers?.length, 0);
  t.equal(d.questions?.[0]?.name, 'big.example');
  t.equal(d.additionals?.[0]?.type, 'OPT', 'OPT kept');
  t.equal(d.id, 3);
});

t.test('encodeMessage compresses names and decodes with dns-packet', async (t) => {
  const msg = encodeMessage({
    id: 1,
    flags: Flag.QR | Flag.AA,
    question: { name: 'App.Example', type: QType.SRV },
    answers: [
      {
        name: 'app.example',
        type: QType.SRV,
        ttl: 5,
        rdata: [Buffer.from([0, 1, 0, 2, 0, 80]), { name: 'target.example', compress: false }],
      },
    ],
    additional: [{ name: 'target.example', type: QType.A, ttl: 7, rdata: [Buffer.from([10, 1, 2, 3])] }],
    opt: { udpSize: 1232, dnssecOk: true },
  });
  const d = decode(msg);
  t.equal(d.questions?.[0]?.name, 'App.Example');
  const srv = d.answers?.[0] as dnsPacket.SrvAnswer;
  t.equal(srv.name, 'App.Example', 'the owner points at the question (its case)');
  t.same(srv.data, { priority: 1, weight: 2, port: 80, target: 'target.example' });
  t.equal((d.additionals?.[0] as dnsPacket.StringAnswer).data, '10.1.2.3');
  t.equal(d.additionals?.[0]?.name, 'target.example');
  // The owner of the answer is a pointer to offset 12.
  const qEnd = 12 + encodeName('App.Example').length + 4;
  t.equal(msg.readUInt16BE(qEnd), 0xc00c);
  // The SRV target is written in full (RFC 2782).
  const targetAt = msg.indexOf(encodeName('target.example'));
  t.ok(targetAt > qEnd, 'SRV target uncompressed');
  const opt = d.additionals?.[1] as unknown as { type: string; udpPayloadSize: number; flags: number };
  t.equal(opt.type, 'OPT');
  t.ok(opt.flags & dnsPacket.DNSSEC_OK);
  t.throws(() => encodeMessage({ id: 0, flags: 0, question: { name: 'a'.repeat(64), type: 1 } }), RangeError);
});

t.test('IP addresses and reverse names', async (t) => {
  t.same([...ipv4Bytes('10.1.2.3')!], [10, 1, 2, 3]);
  t.equal(ipv4Bytes('10.1.2'), undefined);
  t.equal(ipv4Bytes('::1'), undefined);
  t.equal(ipv6Bytes('::1')!.toString('hex'), '00000000000000000000000000000001');
  t.equal(ipv6Bytes('fd01:c::5')!.toString('hex'), 'fd01000c000000000000000000000005');
  t.equal(ipv6Bytes('2001:db8:1:2:3:4:5:6')!.toString('hex'), '20010db8000100020003000400050006');
  t.equal(ipv6Bytes('::ffff:10.1.2.3')!.toString('hex'), '00000000000000000000ffff0a010203');
  t.equal(ipv6Bytes('1::')!.toString('hex'), '00010000000000000000000000000000');
  t.equal(ipv6Bytes('10.1.2.3'), undefined);
  t.equal(ipv6Bytes('fe80::1%eth0'), undefined);
  t.equal(reverseName('10.1.2.3'), '3.2.1.10.in-addr.arpa');
  t.equal(reverseName('fd01:c::5'), '5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.0.0.0.1.0.d.f.ip6.arpa');
  t.equal(reverseName('nope'), undefined);
  t.equal(addressFromReverseName('3.2.1.10.in-addr.arpa'), '10.1.2.3');
  t.equal(addressFromReverseName(reverseName('fd01:c::5')!), 'fd01:c::5');
  t.equal(addressFromReverseName(reverseName('2001:db8:1:2:3:4:5:6')!), '2001:db8:1:2:3:4:5:6');
  t.equal(addressFromReverseName('2.1.10.in-addr.arpa'), undefined, 'partial');
  t.equal(addressFromReverseName('3.2.1.300.in-addr.arpa'), undefined);
  t.equal(addressFromReverseName('03.2.1.10.in-addr.arpa'), undefined);
  t.equal(addressFromReverseName('example.com'), undefined);
});

t.test('rewriteQuestion and restoreQuestion (renamed queries relayed elsewhere)', async (t) => {
  const asked = encodeQuery('App.Dclb.Thisdcos.Global', { id: 4321, type: 'A', edns: 1232, dnssecOk: true });
  const p = parseQuery(asked);
  t.ok(p.ok);
  if (!p.ok) return;
  const sent = rewriteQuestion(asked, p.query.questionEnd, 'app.l4lb.thisdcos.directory');
  const ds = decode(sent);
  t.equal(ds.id, 4321);
  t.equal(ds.questions?.[0]?.name, 'app.l4lb.thisdcos.directory');
  t.equal(ds.questions?.[0]?.type, 'A');
  t.equal(ds.additionals?.[0]?.type, 'OPT', 'the OPT record is kept');
  t.ok(parseQuery(sent).ok, 'a valid query');

  // A compressed reply from upstream for the looked-up name.
  const reply = encodeMessage({
    id: 999,
    flags: Flag.QR | Flag.RA | Flag.RD,
    question: { name: 'app.l4lb.thisdcos.directory', type: QType.A },
    answers: [
      { name: 'app.l4lb.thisdcos.directory', type: QType.CNAME, ttl: 5, rdata: [{ name: 'real.l4lb.thisdcos.directory' }] },
      { name: 'real.l4lb.thisdcos.directory', type: QType.A, ttl: 5, rdata: [Buffer.from([10, 0, 0, 9])] },
    ],
    authority: [
      {
        name: 'thisdcos.directory',
        type: QType.SOA,
        ttl: 1,
        rdata: [{ name: 'ns.spartan' }, { name: 'hostmaster.spartan' }, Buffer.alloc(20, 1)],
      },
    ],
    opt: { udpSize: 1232, dnssecOk: true },
  });
  const restored = restoreQuestion(reply, asked, p.query.questionEnd, 'app.l4lb.thisdcos.directory');
  t.ok(restored);
  const d = decode(restored!);
  t.equal(d.id, 4321, 'the client ID');
  t.equal(d.questions?.[0]?.name, 'App.Dclb.Thisdcos.Global', 'the asked question, its case kept');
  t.equal(d.answers?.[0]?.name, 'App.Dclb.Thisdcos.Global', 'the owner is the asked name');
  t.equal((d.answers?.[0] as dnsPacket.StringAnswer).data, 'real.l4lb.thisdcos.directory', 'rdata names decompressed and kept');
  t.equal(d.answers?.[1]?.name, 'real.l4lb.thisdcos.directory');
  t.equal((d.authorities?.[0] as dnsPacket.SoaAnswer).data.mname, 'ns.spartan');
  t.equal(d.additionals?.[0]?.type, 'OPT');
  t.ok(questionMatches(restored!, asked, p.query.questionEnd));

  t.equal(restoreQuestion(reply.subarray(0, 40), asked, p.query.questionEnd, 'x'), undefined, 'a cut reply');
  t.equal(restoreQuestion(Buffer.alloc(5), asked, p.query.questionEnd, 'x'), undefined);
});

/** A deterministic PRNG (mulberry32) so that a failing fuzz case can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('fuzz: random and mutated packets never throw, verdicts stay answerable', async (t) => {
  const rnd = prng(20261128);
  const seeds = [
    encodeQuery('example.com'),
    encodeQuery('a.b.c.d.mesos', { type: 'SRV', edns: 4096, dnssecOk: true }),
    encodeQuery('ready.spartan', { type: 'AAAA', edns: 512 }),
    encodeQuery('.', { type: 'NS' }),
  ];
  let ok = 0;
  let respond = 0;
  let drop = 0;
  const N = 20000;
  for (let i = 0; i < N; i++) {
    let buf: Buffer;
    if (i % 4 === 0) {
      buf = Buffer.alloc(Math.floor(rnd() * 80));
      for (let j = 0; j < buf.length; j++) buf[j] = Math.floor(rnd() * 256);
    } else {
      const seed = seeds[i % seeds.length]!;
      buf = Buffer.from(seed);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let f = 0; f < flips; f++) buf[Math.floor(rnd() * buf.length)] = Math.floor(rnd() * 256);
      if (rnd() < 0.2) buf = buf.subarray(0, Math.floor(rnd() * buf.length));
      if (rnd() < 0.1) buf = Buffer.concat([buf, Buffer.from([0xc0, Math.floor(rnd() * 256)])]);
    }
    const r = parseQuery(buf);
    if (r.ok) {
      ok++;
      if (r.query.questionEnd > buf.length) t.fail(`questionEnd past the end for case ${i}`);
      const resp = errorResponse({ ...r.query, raw: buf }, Rcode.SERVFAIL, 1232);
      fitResponse(resp, 12);
    } else if (r.action === 'respond') {
      respond++;
      const resp = errorResponse({ id: r.id, flags: r.flags, raw: buf, questionEnd: r.questionEnd, edns: r.edns }, r.rcode, 1232);
      const h = readResponseHeader(resp);
      if (!h || h.id !== r.id) t.fail(`bad error response for case ${i}`);
    } else {
      drop++;
    }
    // The reply-side helpers must not throw on anything either.
    readResponseHeader(buf);
    findOpt(buf, 12);
    if (buf.length >= 12) fitResponse(buf, 12);
    restoreQuestion(buf, seeds[0]!, seeds[0]!.length, 'example.com');
  }
  t.equal(ok + respond + drop, N);
  t.ok(ok > 0 && respond > 0 && drop > 0, `all verdicts seen (ok ${ok}, respond ${respond}, drop ${drop})`);
});

t.test('removeOpt takes the OPT record out wherever it stands in the additional section (ARCOUNT one less); without one the message comes back as is', async (t) => {
  const { removeOpt } = await import('../src/wire/relay.js');
  const glue = { name: 'ns.example', type: 'A' as const, ttl: 60, data: '192.0.2.53' };
  const opt = { name: '.', type: 'OPT' as const, udpPayloadSize: 1232, flags: 0, options: [] } as unknown as dnsPacket.Answer;
  const build = (additionals: dnsPacket.Answer[]) =>
    dnsPacket.encode({
      id: 9,
      type: 'response',
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name: 'www.example', type: 'A', class: 'IN' }],
      answers: [{ name: 'www.example', type: 'A', ttl: 60, data: '192.0.2.1' }],
      additionals,
    });
  for (const [what, additionals] of [
    ['OPT last', [glue, opt]],
    ['OPT first, glue after it', [opt, glue]],
  ] as const) {
    const buf = build([...additionals]);
    const questionEnd = skipName(buf, 12) + 4;
    const out = removeOpt(buf, questionEnd);
    const d = dnsPacket.decode(out);
    t.equal(out.readUInt16BE(10), 1, `${what}: ARCOUNT 1`);
    t.same(d.additionals!.map((a) => a.type), ['A'], `${what}: the glue kept, the OPT gone`);
    t.same(d.answers!.map((a) => (a as { data: string }).data), ['192.0.2.1'], `${what}: the answer kept`);
    t.equal(out.length, buf.length - 11, `${what}: 11 bytes shorter`);
  }
  const none = build([glue]);
  t.equal(removeOpt(none, skipName(none, 12) + 4), none, 'no OPT: the same buffer');
});
