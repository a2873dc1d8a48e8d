/**
 * The cache stage on its own: a scripted `next` and an injected clock (no sleeps, no sockets).
 * End-to-end tests through createServer are in cache-server.test.ts.
 */
import t from 'tap';
import * as dnsPacket from 'dns-packet';
import { pino } from 'pino';
import type { Answer, Query } from '../src/chain/stage.js';
import { CACHE_DEFAULTS, checkCacheConfig, validateCacheConfig } from '../src/cache/config.js';
import { cacheKey, createCacheStage, type CacheStage } from '../src/cache/stage.js';
import { ConfigError } from '../src/errors.js';
import { Registry } from '../src/metrics/registry.js';
import { validateServerConfig } from '../src/config.js';
import { decode, makeQuery, rcodeOf, type MakeQueryOptions } from './helpers/fake-upstream.js';

type Rr = dnsPacket.Answer;

interface ReplyOptions {
  rcode?: number;
  answers?: Rr[];
  authorities?: Rr[];
  additionals?: Rr[];
  flags?: number;
  /** Add an OPT record (as an upstream answering an EDNS query does). */
  opt?: { udpSize?: number; extendedRcode?: number };
}

/** What an upstream would answer to `q` (its question as asked, the client's ID). */
function reply(q: Query, o: ReplyOptions = {}): Buffer {
  const question = decode(q.raw).questions![0]!;
  const additionals: Rr[] = [...(o.additionals ?? [])];
  if (o.opt) {
    additionals.push({ name: '.', type: 'OPT', udpPayloadSize: o.opt.udpSize ?? 4096, extendedRcode: o.opt.extendedRcode ?? 0, ednsVersion: 0, flags: 0, options: [] } as unknown as Rr);
  }
  return dnsPacket.encode({
    type: 'response',
    id: q.id,
    flags: dnsPacket.RECURSION_AVAILABLE | (q.flags & (dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED)) | (o.flags ?? 0) | (o.rcode ?? 0),
    questions: [question],
    answers: o.answers ?? [],
    authorities: o.authorities ?? [],
    additionals,
  });
}

const A = (name: string, ttl: number, ip = '192.0.2.1'): Rr => ({ name, type: 'A', ttl, data: ip });
const SOA = (zone: string, ttl: number, minimum: number): Rr => ({
  name: zone,
  type: 'SOA',
  ttl,
  data: { mname: 'ns.example', rname: 'hostmaster.example', serial: 1, refresh: 60, retry: 60, expire: 600, minimum },
});

/** A scripted next stage: records every query it gets, answers with `respond`. */
class Next {
  readonly calls: Query[] = [];
  respond: (q: Query) => Answer = (q) => reply(q, { answers: [A(q.qname, 60)] });
  readonly fn = (q: Query): Answer => {
    this.calls.push(q);
    return this.respond(q);
  };
}

interface Setup {
  stage: CacheStage;
  next: Next;
  metrics: Registry;
  clock: { now: number };
  ask(o: MakeQueryOptions): Buffer;
  askAsync(o: MakeQueryOptions): Promise<Buffer>;
  counter(name: string, labels?: Record<string, string>): number;
}

function setup(config: Record<string, unknown> | boolean = {}): Setup {
  const clock = { now: 1_000_000 };
  const metrics = new Registry();
  const stage = createCacheStage(config as never, {
    logger: pino({ level: 'silent' }),
    metrics,
    listenAddresses: [],
    udpMaxResponseSize: 1232,
    clock: () => clock.now,
  });
  const next = new Next();
  const ask = (o: MakeQueryOptions): Buffer => {
    const out = stage.handle(makeQuery(o), next.fn);
    if (!(out instanceof Uint8Array)) throw new Error('expected a synchronous answer');
    return out;
  };
  return {
    stage,
    next,
    metrics,
    clock,
    ask,
    askAsync: async (o) => await stage.handle(makeQuery(o), next.fn),
    counter: (name, labels = {}) => metrics.counter(name, '').get(labels),
  };
}

const ttls = (buf: Buffer): number[] => {
  const m = decode(buf);
  return [...(m.answers ?? []), ...(m.authorities ?? []), ...(m.additionals ?? []).filter((r) => r.type !== 'OPT')].map((r) => (r as { ttl: number }).ttl);
};
const hasOpt = (buf: Buffer): boolean => (decode(buf).additionals ?? []).some((r) => r.type === 'OPT');

// ---- config ------------------------------------------------------------------------------------

t.test('config: defaults, true/false, every problem at once', async (t) => {
  t.equal(validateCacheConfig(undefined), CACHE_DEFAULTS);
  t.equal(validateCacheConfig(true), CACHE_DEFAULTS);
  t.equal(validateCacheConfig(false).enabled, false);
  t.equal(validateCacheConfig({ maxTtl: 60 }).maxTtl, 60);
  t.equal(validateCacheConfig({ maxTtl: 60 }).maxEntries, CACHE_DEFAULTS.maxEntries, 'other keys keep their default');
  t.ok(Object.isFrozen(validateCacheConfig({ maxTtl: 60 })));
  const { problems } = checkCacheConfig({ maxEntries: -1, maxTtl: 'long', staleTtl: 1.5, enabled: 'yes', colour: 'blue' });
  t.same(problems.map((p) => p.key).sort(), ['cache.colour', 'cache.enabled', 'cache.maxEntries', 'cache.maxTtl', 'cache.staleTtl']);
  t.same(checkCacheConfig({ minTtl: 100, maxTtl: 50 }).problems.map((p) => p.key), ['cache.minTtl']);
  t.same(checkCacheConfig('on').problems.map((p) => p.key), ['cache']);
  // Reported with the rest of the server config.
  const err = t.throws(() => validateServerConfig({ maxInFlight: 0, cache: { maxNegativeTtl: 0 } })) as ConfigError;
  t.equal(err.code, 'HOPLITE_DNS_CONFIG');
  t.same(err.problems.map((p) => p.key).sort(), ['cache.maxNegativeTtl', 'maxInFlight']);
  t.equal(validateServerConfig({}).cache, CACHE_DEFAULTS);
  t.equal(validateServerConfig({ cache: false }).cache.enabled, false);
  t.throws(() => createCacheStage({ maxTtl: -5 }, { logger: pino({ level: 'silent' }), metrics: new Registry(), listenAddresses: [], udpMaxResponseSize: 1232 }), { code: 'HOPLITE_DNS_CONFIG' });
});

t.test('key: lowercased name, type, class, DO and CD', async (t) => {
  const k = (o: MakeQueryOptions): string => cacheKey(makeQuery(o));
  t.equal(k({ name: 'WWW.Example.ORG' }), k({ name: 'www.example.org' }));
  t.not(k({ name: 'www.example.org' }), k({ name: 'www.example.org', type: 'AAAA' }));
  t.not(k({ name: 'www.example.org' }), k({ name: 'www.example.org', edns: { dnssecOk: true } }));
  t.equal(k({ name: 'www.example.org' }), k({ name: 'www.example.org', edns: { dnssecOk: false } }), 'EDNS without DO: same entry');
  t.not(k({ name: 'www.example.org' }), k({ name: 'www.example.org', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED }));
  t.equal(k({ name: 'x.dclb.thisdcos.global', lookupName: 'x.l4lb.thisdcos.directory' }), k({ name: 'x.dclb.thisdcos.global' }), 'the asked name, not the looked-up one');
});

// ---- positive answers --------------------------------------------------------------------------

t.test('a hit: not asked again, ID, RD, question case, TTL decremented, AA cleared', async (t) => {
  const s = setup();
  s.next.respond = (q) => reply(q, { answers: [A(q.qname, 60)], flags: dnsPacket.AUTHORITATIVE_ANSWER });
  const first = s.ask({ name: 'www.example.org', id: 1 });
  t.equal(decode(first).id, 1);
  t.equal(s.next.calls.length, 1);
  t.equal(s.next.calls[0]!.maxResponseSize, 65535, 'the next stages are asked for the whole answer');
  s.clock.now += 10_400;
  const raw = s.ask({ name: 'WwW.ExAmPlE.oRg', id: 2, flags: 0 });
  t.equal(s.next.calls.length, 1, 'answered from the cache');
  const m = decode(raw) as dnsPacket.DecodedPacket & { flag_aa?: boolean; flag_rd?: boolean };
  t.equal(m.id, 2);
  t.equal(m.questions![0]!.name, 'WwW.ExAmPlE.oRg', "the client's letter case");
  t.equal(m.flag_aa, false, 'a cached answer is not authoritative');
  t.equal(m.flag_rd, false, 'RD from the client');
  t.equal(rcodeOf(raw), 'NOERROR');
  t.same(ttls(raw), [50], '60 - 10 s');
  t.equal((m.answers![0] as dnsPacket.StringAnswer).data, '192.0.2.1');
  t.equal(s.counter('hoplite_dns_cache_hits_total', { kind: 'positive' }), 1);
  t.equal(s.counter('hoplite_dns_cache_misses_total'), 1);
  t.equal(s.counter('hoplite_dns_cache_inserts_total', { kind: 'positive' }), 1);
  s.clock.now += 49_000;
  t.same(ttls(s.ask({ name: 'www.example.org' })), [1], 'one second left');
  t.equal(s.next.calls.length, 1);
  s.clock.now += 1_000;
  s.ask({ name: 'www.example.org' });
  t.equal(s.next.calls.length, 2, 'expired: asked again');
  t.same(ttls(s.ask({ name: 'www.example.org' })), [60], 'the fresh answer');
});

t.test('lifetime: the lowest TTL of all records, capped by maxTtl, raised to minTtl; records keep their own TTL', async (t) => {
  const s = setup({ maxTtl: 300, minTtl: 0 });
  s.next.respond = (q) =>
    reply(q, {
      answers: [{ name: q.qname, type: 'CNAME', ttl: 7200, data: 'target.example.org' }, A('target.example.org', 120)],
      additionals: [A('other.example.org', 90)],
    });
  s.ask({ name: 'alias.example.org' });
  s.clock.now += 30_000;
  t.same(ttls(s.ask({ name: 'alias.example.org' })), [270, 90, 60], 'CNAME capped at 300, A 120, additional 90, each minus 30');
  s.clock.now += 60_000;
  s.ask({ name: 'alias.example.org' });
  t.equal(s.next.calls.length, 2, 'the entry lived 90 s (the additional record)');

  const low = setup({ minTtl: 20 });
  low.next.respond = (q) => reply(q, { answers: [A(q.qname, 5)] });
  low.ask({ name: 'short.example.org' });
  low.clock.now += 15_000;
  t.same(ttls(low.ask({ name: 'short.example.org' })), [5], 'raised to 20, 15 s old');
  t.equal(low.next.calls.length, 1);
  low.clock.now += 5_000;
  low.ask({ name: 'short.example.org' });
  t.equal(low.next.calls.length, 2);
});

t.test('never cached: TTL 0, TC, SERVFAIL, REFUSED, FORMERR, an extended rcode, another question', async (t) => {
  const cases: Array<[string, (q: Query) => Buffer, string]> = [
    ['ttl 0', (q) => reply(q, { answers: [A(q.qname, 0)] }), 'ttl_zero'],
    ['ttl 0 in the additional section', (q) => reply(q, { answers: [A(q.qname, 60)], additionals: [A('glue.example.org', 0)] }), 'ttl_zero'],
    ['truncated', (q) => reply(q, { answers: [A(q.qname, 60)], flags: dnsPacket.TRUNCATED_RESPONSE }), 'truncated'],
    ['servfail', (q) => reply(q, { rcode: 2 }), 'rcode'],
    ['refused', (q) => reply(q, { rcode: 5 }), 'rcode'],
    ['formerr', (q) => reply(q, { rcode: 1 }), 'rcode'],
    ['extended rcode', (q) => reply(q, { answers: [A(q.qname, 60)], opt: { extendedRcode: 1 } }), 'rcode'],
    ['another question', (q) => { const b = reply(q, { answers: [A(q.qname, 60)] }); b[13] = 'z'.charCodeAt(0); return b; }, 'question'],
    ['trailing bytes', (q) => Buffer.concat([reply(q, { answers: [A(q.qname, 60)] }), Buffer.from([0])]), 'malformed'],
  ];
  for (const [what, respond, reason] of cases) {
    const s = setup();
    s.next.respond = respond;
    const first = s.ask({ name: 'www.example.org' });
    t.ok(first.length >= 12, `${what}: answered`);
    s.ask({ name: 'www.example.org' });
    t.equal(s.next.calls.length, 2, `${what}: asked again`);
    t.equal(s.counter('hoplite_dns_cache_uncached_total', { reason }), 2, `${what}: counted as ${reason}`);
    t.equal(s.stage.store.size, 0);
  }
});

t.test('DO and CD are part of the key; EDNS is not (the OPT of a hit is ours)', async (t) => {
  const s = setup();
  s.next.respond = (q) => reply(q, { answers: [A(q.qname, 60)], opt: q.edns ? { udpSize: 4096 } : undefined });
  const withOpt = s.ask({ name: 'www.example.org', edns: { udpSize: 1400 } });
  t.ok(hasOpt(withOpt), 'the upstream answer with its OPT on the miss');
  const plain = s.ask({ name: 'www.example.org' });
  t.equal(s.next.calls.length, 1, 'no EDNS: same entry');
  t.notOk(hasOpt(plain), 'no OPT for a client that sent none');
  const again = s.ask({ name: 'www.example.org', edns: { udpSize: 4000 } });
  const opt = (decode(again).additionals ?? []).find((r) => r.type === 'OPT') as unknown as { udpPayloadSize: number; flags: number };
  t.equal(opt.udpPayloadSize, 1232, 'our OPT: our UDP size');
  t.equal(opt.flags & dnsPacket.DNSSEC_OK, 0);
  t.equal(decode(again).additionals!.length, 1, 'one OPT');

  s.ask({ name: 'www.example.org', edns: { dnssecOk: true } });
  t.equal(s.next.calls.length, 2, 'DO: another entry');
  const doHit = s.ask({ name: 'www.example.org', edns: { dnssecOk: true } });
  t.equal(s.next.calls.length, 2);
  const doOpt = (decode(doHit).additionals ?? []).find((r) => r.type === 'OPT') as unknown as { flags: number };
  t.equal(doOpt.flags & dnsPacket.DNSSEC_OK, dnsPacket.DNSSEC_OK, 'DO echoed');

  s.ask({ name: 'www.example.org', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED });
  t.equal(s.next.calls.length, 3, 'CD: another entry');
  const cdHit = s.ask({ name: 'www.example.org', flags: dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED });
  t.equal(s.next.calls.length, 3);
  t.equal(cdHit.readUInt16BE(2) & 0x0010, 0x0010, 'CD set in the answer');
  t.equal(s.stage.store.size, 3);
});

t.test('size: the whole answer is cached; each client gets what fits (additional dropped first, then TC)', async (t) => {
  const s = setup();
  const many = (name: string): Rr[] => Array.from({ length: 30 }, (_, i) => A(name, 60, `10.0.${i >> 8}.${i & 255}`));
  s.next.respond = (q) => reply(q, { answers: many(q.qname) });
  const first = s.ask({ name: 'big.example.org' }); // UDP, no EDNS: 512 bytes
  t.ok(first.length <= 512);
  t.equal(first.readUInt16BE(2) & 0x0200, 0x0200, 'TC for the UDP client');
  t.equal(decode(first).answers?.length ?? 0, 0);
  const tcp = s.ask({ name: 'big.example.org', transport: 'tcp', id: 77 });
  t.equal(s.next.calls.length, 1, 'the TCP retry is a hit');
  t.equal(decode(tcp).answers!.length, 30);
  t.equal(decode(tcp).id, 77);
  t.equal(tcp.readUInt16BE(2) & 0x0200, 0);
  const edns = s.ask({ name: 'big.example.org', edns: { udpSize: 1232 } });
  t.equal(decode(edns).answers!.length, 30, 'fits in 1232');
  t.ok(hasOpt(edns));
  const small = s.ask({ name: 'big.example.org', edns: { udpSize: 512 } });
  t.equal(small.readUInt16BE(2) & 0x0200, 0x0200);
  t.ok(hasOpt(small), 'a truncated answer keeps the OPT');
  t.equal(decode(small).questions![0]!.name, 'big.example.org');

  // Answer fits, additional does not: the additional section goes, no TC (RFC 2181 9).
  const srv = setup();
  srv.next.respond = (q) =>
    reply(q, {
      answers: [{ name: q.qname, type: 'SRV', ttl: 60, data: { priority: 0, weight: 0, port: 80, target: 'a.example.org' } }],
      additionals: many('a.example.org'),
    });
  const trimmed = srv.ask({ name: '_http._tcp.example.org', type: 'SRV' });
  t.equal(trimmed.readUInt16BE(2) & 0x0200, 0, 'no TC');
  t.equal(decode(trimmed).answers!.length, 1);
  t.equal(decode(trimmed).additionals?.length ?? 0, 0);
  srv.clock.now += 5000;
  const trimmedHit = srv.ask({ name: '_http._tcp.example.org', type: 'SRV', edns: { udpSize: 512 } });
  t.same(ttls(trimmedHit), [55]);
  t.equal(decode(trimmedHit).additionals!.length, 1, 'only our OPT');
  t.equal(decode(srv.ask({ name: '_http._tcp.example.org', type: 'SRV', transport: 'tcp' })).additionals!.length, 30);
  t.equal(srv.next.calls.length, 1);
});

t.test('an answer that comes later (a Promise) is cached too', async (t) => {
  const s = setup();
  s.next.respond = (q) => Promise.resolve(reply(q, { answers: [A(q.qname, 60)] }));
  const a = await s.askAsync({ name: 'later.example.org', id: 5 });
  t.equal(decode(a).id, 5);
  const b = s.ask({ name: 'later.example.org', id: 6 });
  t.equal(decode(b).id, 6);
  t.equal(s.next.calls.length, 1);
});

t.test('renamed queries: cached under the asked name, answered with it', async (t) => {
  const s = setup();
  s.next.respond = (q) => reply(q, { answers: [A(q.qname, 60)] });
  const o = { name: 'App.dclb.thisdcos.global', lookupName: 'app.l4lb.thisdcos.directory' };
  s.ask(o);
  const hit = s.ask({ ...o, name: 'APP.dclb.thisdcos.global' });
  t.equal(s.next.calls.length, 1);
  t.equal(decode(hit).questions![0]!.name, 'APP.dclb.thisdcos.global');
});

t.test('zone transfers and local routes pass through', async (t) => {
  const s = setup();
  s.ask({ name: 'example.org', type: 'AXFR', transport: 'tcp' });
  s.ask({ name: 'example.org', type: 'AXFR', transport: 'tcp' });
  s.ask({ name: 'x.example.org', route: { kind: 'local', zone: 'example.org' } });
  s.ask({ name: 'x.example.org', route: { kind: 'local', zone: 'example.org' } });
  t.equal(s.next.calls.length, 4);
  t.equal(s.stage.store.size, 0);
  t.equal(s.counter('hoplite_dns_cache_misses_total'), 0, 'not counted as misses');
});

// ---- negative answers --------------------------------------------------------------------------

t.test('NXDOMAIN with a SOA: cached for min(SOA TTL, SOA minimum), capped by maxNegativeTtl', async (t) => {
  const s = setup();
  s.next.respond = (q) => reply(q, { rcode: 3, authorities: [SOA('example.org', 3600, 120)] });
  const first = s.ask({ name: 'nope.example.org' });
  t.equal(rcodeOf(first), 'NXDOMAIN');
  s.clock.now += 20_000;
  const hit = s.ask({ name: 'NOPE.example.org' });
  t.equal(s.next.calls.length, 1);
  t.equal(rcodeOf(hit), 'NXDOMAIN');
  t.same(ttls(hit), [100], 'the SOA carries the remaining negative TTL (120 - 20)');
  t.equal(decode(hit).authorities![0]!.type, 'SOA');
  t.equal(s.counter('hoplite_dns_cache_hits_total', { kind: 'negative' }), 1);
  s.clock.now += 100_000;
  s.ask({ name: 'nope.example.org' });
  t.equal(s.next.calls.length, 2, 'expired after 120 s');

  const capped = setup({ maxNegativeTtl: 30 });
  capped.next.respond = (q) => reply(q, { rcode: 3, authorities: [SOA('example.org', 3600, 3600)] });
  capped.ask({ name: 'nope.example.org' });
  capped.clock.now += 29_000;
  t.same(ttls(capped.ask({ name: 'nope.example.org' })), [1]);
  capped.clock.now += 1_000;
  capped.ask({ name: 'nope.example.org' });
  t.equal(capped.next.calls.length, 2, 'capped at 30 s');
});

t.test('NODATA (NOERROR, no answers) with a SOA is negative; without a SOA nothing is cached', async (t) => {
  const s = setup();
  s.next.respond = (q) => reply(q, { authorities: [SOA('example.org', 60, 300)] });
  s.ask({ name: 'www.example.org', type: 'AAAA' });
  const hit = s.ask({ name: 'www.example.org', type: 'AAAA' });
  t.equal(s.next.calls.length, 1);
  t.equal(rcodeOf(hit), 'NOERROR');
  t.equal(decode(hit).answers?.length ?? 0, 0);
  t.equal(s.stage.store.count(1), 1, 'a negative entry');

  const bare = setup();
  bare.next.respond = (q) => reply(q, { rcode: 3 });
  bare.ask({ name: 'nope.example.org' });
  bare.ask({ name: 'nope.example.org' });
  t.equal(bare.next.calls.length, 2);
  t.equal(bare.counter('hoplite_dns_cache_uncached_total', { reason: 'no_soa' }), 2);
  // A referral (NOERROR, NS in authority, no SOA) is not NODATA.
  bare.next.respond = (q) => reply(q, { authorities: [{ name: 'example.org', type: 'NS', ttl: 60, data: 'ns.example.org' }] });
  bare.ask({ name: 'www.example.org' });
  bare.ask({ name: 'www.example.org' });
  t.equal(bare.next.calls.length, 4);
});

// ---- capacity ----------------------------------------------------------------------------------

t.test('capacity: CLOCK eviction per kind; negatives never push out positives', async (t) => {
  const s = setup({ maxEntries: 3, maxNegativeEntries: 2 });
  s.next.respond = (q) => (q.qname.startsWith('nx') ? reply(q, { rcode: 3, authorities: [SOA('example.org', 60, 60)] }) : reply(q, { answers: [A(q.qname, 60)] }));
  for (const n of ['a', 'b', 'c']) s.ask({ name: `${n}.example.org` });
  s.ask({ name: 'a.example.org' }); // referenced: survives the hand once
  s.ask({ name: 'd.example.org' });
  t.equal(s.stage.store.count(0), 3);
  t.equal(s.counter('hoplite_dns_cache_evictions_total', { kind: 'positive' }), 1);
  const calls = s.next.calls.length;
  s.ask({ name: 'a.example.org' });
  s.ask({ name: 'd.example.org' });
  t.equal(s.next.calls.length, calls, 'a (referenced) and d (new) are cached');
  s.ask({ name: 'b.example.org' });
  t.equal(s.next.calls.length, calls + 1, 'b (oldest, unreferenced) was evicted');

  for (let i = 0; i < 10; i++) s.ask({ name: `nx${i}.example.org` });
  t.equal(s.stage.store.count(1), 2, 'negative entries within their own cap');
  t.equal(s.stage.store.count(0), 3, 'positive entries untouched');
  t.equal(s.counter('hoplite_dns_cache_evictions_total', { kind: 'negative' }), 8);
  const gauges = s.metrics.render();
  t.match(gauges, /hoplite_dns_cache_entries\{kind="positive"\} 3/);
  t.match(gauges, /hoplite_dns_cache_entries\{kind="negative"\} 2/);
  t.match(gauges, /hoplite_dns_cache_bytes\{kind="positive"\} \d+/);

  const off = setup({ maxNegativeEntries: 0 });
  off.next.respond = (q) => reply(q, { rcode: 3, authorities: [SOA('example.org', 60, 60)] });
  off.ask({ name: 'nx.example.org' });
  off.ask({ name: 'nx.example.org' });
  t.equal(off.next.calls.length, 2, 'maxNegativeEntries 0: no negative caching');
  t.equal(off.counter('hoplite_dns_cache_uncached_total', { reason: 'too_large' }), 2);
});

t.test('capacity: byte budgets', async (t) => {
  const s = setup({ maxBytes: 2000 });
  for (let i = 0; i < 20; i++) s.ask({ name: `host${i}.example.org` });
  t.ok(s.stage.store.bytes(0) <= 2000, `${s.stage.store.bytes(0)} bytes`);
  t.ok(s.stage.store.count(0) >= 2 && s.stage.store.count(0) < 20);
  const tiny = setup({ maxBytes: 100 });
  tiny.ask({ name: 'host.example.org' });
  t.equal(tiny.stage.store.size, 0, 'an entry larger than the budget is not stored');
});

// ---- stale answers -----------------------------------------------------------------------------

t.test('serve stale (RFC 8767): the next stages fail -> an expired entry within staleTtl, TTL 30', async (t) => {
  const s = setup({ staleTtl: 3600, staleRefresh: 30 });
  s.ask({ name: 'www.example.org', id: 1 });
  s.clock.now += 600_000; // expired 540 s ago
  s.next.respond = (q) => reply(q, { rcode: 2 });
  const stale = s.ask({ name: 'WWW.example.org', id: 2 });
  t.equal(s.next.calls.length, 2, 'the next stages were asked first');
  t.equal(rcodeOf(stale), 'NOERROR');
  t.equal(decode(stale).id, 2);
  t.equal(decode(stale).questions![0]!.name, 'WWW.example.org');
  t.same(ttls(stale), [30]);
  t.equal(s.counter('hoplite_dns_cache_stale_total', { kind: 'positive' }), 1);

  // Within staleRefresh: stale at once, the next stages are not asked.
  s.clock.now += 29_000;
  t.same(ttls(s.ask({ name: 'www.example.org' })), [30]);
  t.equal(s.next.calls.length, 2);
  t.equal(s.counter('hoplite_dns_cache_stale_total', { kind: 'positive' }), 2);
  // After it: asked again; they answer again -> fresh entry.
  s.clock.now += 1_000;
  s.next.respond = (q) => reply(q, { answers: [A(q.qname, 60, '192.0.2.99')] });
  const fresh = s.ask({ name: 'www.example.org' });
  t.equal(s.next.calls.length, 3);
  t.equal((decode(fresh).answers![0] as dnsPacket.StringAnswer).data, '192.0.2.99');
  t.same(ttls(fresh), [60]);
});

t.test('serve stale: a failure that comes later (Promise); nothing stale beyond staleTtl', async (t) => {
  const s = setup({ staleTtl: 100, staleRefresh: 0 });
  s.next.respond = (q) => reply(q, { rcode: 3, authorities: [SOA('example.org', 60, 60)] });
  s.ask({ name: 'nope.example.org' });
  s.clock.now += 120_000; // expired 60 s ago
  s.next.respond = (q) => Promise.resolve(reply(q, { rcode: 2 }));
  const stale = await s.askAsync({ name: 'nope.example.org' });
  t.equal(rcodeOf(stale), 'NXDOMAIN', 'a stale negative answer');
  t.same(ttls(stale), [30]);
  t.equal(s.counter('hoplite_dns_cache_stale_total', { kind: 'negative' }), 1);
  await s.askAsync({ name: 'nope.example.org' });
  t.equal(s.next.calls.length, 3, 'staleRefresh 0: asked every time');
  s.clock.now += 40_000; // expired 100 s ago: past staleTtl
  const failed = await s.askAsync({ name: 'nope.example.org' });
  t.equal(rcodeOf(failed), 'SERVFAIL');
  t.equal(s.stage.store.size, 0, 'dropped');

  const off = setup({ staleTtl: 0 });
  off.ask({ name: 'www.example.org' });
  off.clock.now += 61_000;
  off.next.respond = (q) => reply(q, { rcode: 2 });
  t.equal(rcodeOf(off.ask({ name: 'www.example.org' })), 'SERVFAIL', 'staleTtl 0: no stale answers');
});

t.test('a definitive answer that is not cached replaces the old entry (no stale answer from before it)', async (t) => {
  const s = setup();
  s.ask({ name: 'www.example.org' });
  s.clock.now += 61_000;
  s.next.respond = (q) => reply(q, { answers: [A(q.qname, 0)] });
  s.ask({ name: 'www.example.org' });
  t.equal(s.stage.store.size, 0);
  s.next.respond = (q) => reply(q, { rcode: 2 });
  t.equal(rcodeOf(s.ask({ name: 'www.example.org' })), 'SERVFAIL');
});

t.test('keepOnNxdomain: the last good answer over a later NXDOMAIN, for a while', async (t) => {
  const s = setup({ keepOnNxdomain: 300 });
  s.ask({ name: 'app.example.org' });
  s.clock.now += 120_000; // expired 60 s ago
  s.next.respond = (q) => reply(q, { rcode: 3, authorities: [SOA('example.org', 60, 60)] });
  const kept = s.ask({ name: 'app.example.org' });
  t.equal(rcodeOf(kept), 'NOERROR');
  t.same(ttls(kept), [30], 'as a stale answer');
  t.equal(s.counter('hoplite_dns_cache_kept_total'), 1);
  s.clock.now += 240_000; // expired 300 s ago
  t.equal(rcodeOf(s.ask({ name: 'app.example.org' })), 'NXDOMAIN', 'then the NXDOMAIN wins');
  t.equal(rcodeOf(s.ask({ name: 'app.example.org' })), 'NXDOMAIN', 'and is cached');
  t.equal(s.next.calls.length, 3);

  const off = setup();
  off.ask({ name: 'app.example.org' });
  off.clock.now += 61_000;
  off.next.respond = (q) => reply(q, { rcode: 3, authorities: [SOA('example.org', 60, 60)] });
  t.equal(rcodeOf(off.ask({ name: 'app.example.org' })), 'NXDOMAIN', 'off by default');

  // Independent of staleTtl: entries are kept for the longer of the two.
  const noStale = setup({ keepOnNxdomain: 120, staleTtl: 0 });
  noStale.ask({ name: 'app.example.org' });
  noStale.clock.now += 100_000;
  noStale.next.respond = (q) => reply(q, { rcode: 2 });
  t.equal(rcodeOf(noStale.ask({ name: 'app.example.org' })), 'SERVFAIL', 'staleTtl 0: no stale answer for a failure');
  noStale.next.respond = (q) => reply(q, { rcode: 3, authorities: [SOA('example.org', 60, 60)] });
  t.equal(rcodeOf(noStale.ask({ name: 'app.example.org' })), 'NOERROR', 'but kept over an NXDOMAIN');
});

t.test('an OPT in the middle of the additional section is cut out; TTL offsets follow', async (t) => {
  const s = setup();
  s.next.respond = (q) => {
    const opt = { name: '.', type: 'OPT', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, options: [] } as unknown as Rr;
    return dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: dnsPacket.RECURSION_AVAILABLE,
      questions: decode(q.raw).questions,
      answers: [A(q.qname, 60)],
      additionals: [opt, A('extra.example.org', 40)],
    });
  };
  s.ask({ name: 'www.example.org', edns: {} });
  s.clock.now += 10_000;
  const hit = s.ask({ name: 'www.example.org' });
  t.same(ttls(hit), [50, 30]);
  t.notOk(hasOpt(hit));
  const hitEdns = s.ask({ name: 'www.example.org', edns: {} });
  t.same(ttls(hitEdns), [50, 30]);
  t.equal(decode(hitEdns).additionals!.length, 2, 'the record and our OPT');
});

// ---- prefetch ----------------------------------------------------------------------------------

t.test('prefetch: a popular entry near expiry is asked again in the background', async (t) => {
  const s = setup({ prefetch: 3, prefetchPercent: 10 });
  let address = '192.0.2.1';
  s.next.respond = (q) => reply(q, { answers: [A(q.qname, 100, address)] });
  s.ask({ name: 'popular.example.org' });
  s.ask({ name: 'popular.example.org' });
  s.ask({ name: 'popular.example.org' }); // 2 hits so far
  s.clock.now += 85_000; // 15 s left: not yet within 10 %
  s.ask({ name: 'popular.example.org' }); // 3 hits
  t.equal(s.next.calls.length, 1);
  s.clock.now += 6_000; // 9 s left
  address = '192.0.2.2';
  const hit = s.ask({ name: 'popular.example.org' });
  t.same(ttls(hit), [9], 'the client is answered from the entry');
  t.equal(s.next.calls.length, 2, 'and the next stages were asked in the background');
  t.equal(s.next.calls[1]!.maxResponseSize, 65535);
  t.equal(s.counter('hoplite_dns_cache_prefetches_total'), 1);
  const after = s.ask({ name: 'popular.example.org' });
  t.equal((decode(after).answers![0] as dnsPacket.StringAnswer).data, '192.0.2.2', 'the refreshed entry');
  t.same(ttls(after), [100]);
  t.equal(s.next.calls.length, 2);

  // A slow refresh: one at a time per entry; a failure leaves the entry as it was.
  s.clock.now += 91_000;
  let release: (b: Buffer) => void = () => {};
  s.next.respond = (q) => new Promise<Buffer>((resolve) => (release = () => resolve(reply(q, { rcode: 2 }))));
  for (let i = 0; i < 3; i++) s.ask({ name: 'popular.example.org' });
  s.clock.now += 1_000;
  for (let i = 0; i < 3; i++) s.ask({ name: 'popular.example.org' });
  t.equal(s.next.calls.length, 3, 'one refresh on its way');
  release(Buffer.alloc(0));
  await new Promise((r) => setImmediate(r));
  t.equal((decode(s.ask({ name: 'popular.example.org' })).answers![0] as dnsPacket.StringAnswer).data, '192.0.2.2', 'SERVFAIL changed nothing');

  const off = setup();
  for (let i = 0; i < 10; i++) off.ask({ name: 'popular.example.org' });
  off.clock.now += 59_000;
  off.ask({ name: 'popular.example.org' });
  t.equal(off.next.calls.length, 1, 'off by default');
});

// ---- docs --------------------------------------------------------------------------------------

t.test('docs: every cache key and metric is in docs/dns.md#cache; the README examples validate', async (t) => {
  const { readFileSync } = await import('node:fs');
  const { fileURLToPath } = await import('node:url');
  const root = fileURLToPath(new URL('../../../', import.meta.url));
  const doc = readFileSync(`${root}docs/dns.md`, 'utf8');
  const section = doc.slice(doc.indexOf('## Cache'), doc.indexOf('## Options'));
  t.ok(section.length > 1000, 'the section exists');
  for (const k of Object.keys(CACHE_DEFAULTS)) t.match(section, `| \`cache.${k}\` | \`${String((CACHE_DEFAULTS as unknown as Record<string, unknown>)[k])}\``, k);
  const s = setup();
  const names = [...s.metrics.render().matchAll(/^# TYPE (hoplite_dns_cache_\w+)/gm)].map((m) => m[1]!);
  t.ok(names.length >= 9);
  for (const n of names) t.match(section, `| \`${n}\` |`, n);

  const readme = readFileSync(`${root}packages/dns/src/cache/README.md`, 'utf8');
  const examples = [...readme.matchAll(/cache: (\{[^}]*\}|true|false)/g)].map((m) => m[1]!);
  t.ok(examples.length >= 2);
  for (const e of examples) {
    const json = e.replace(/([{,]\s*)([A-Za-z]+):/g, '$1"$2":');
    t.doesNotThrow(() => validateCacheConfig(JSON.parse(json)), e);
  }
});
