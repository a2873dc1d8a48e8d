// The local stage's direct answers (A/AAAA/SRV/PTR with one record, NXDOMAIN, NODATA written without the
// cache) must say exactly what the cached path says: both stages answer the same queries and the
// decoded messages are compared field by field. Plus: the cost of the direct path does not depend
// on the cache (a zone larger than the cache answers every name), eviction keeps the cache bounded.
import t from 'tap';
import { pino } from 'pino';
import type * as dnsPacket from 'dns-packet';
import { LocalStage } from '../src/local/stage.js';
import { MemoryRecordSource } from '../src/local/sources.js';
import { validateLocalZones } from '../src/local/config.js';
import { Registry } from '../src/metrics/registry.js';
import { Router } from '../src/router/router.js';
import type { Answer } from '../src/chain/stage.js';
import type { ZoneRecord } from '../src/local/types.js';
import { decode, encodeQuery, type QueryOptions } from './helpers/dns-client.js';
import { queryFromRaw } from './helpers/fake-upstream.js';

const ZONE = 'l4lb.thisdcos.directory';
const records: Record<string, ZoneRecord[]> = {
  [`web.marathon.${ZONE}`]: [
    { type: 'A', address: '10.0.0.1' },
    { type: 'AAAA', address: 'fd01:c::1' },
  ],
  [`api.marathon.${ZONE}`]: [{ type: 'A', address: '10.0.0.9', ttl: 60 }],
  [`two.${ZONE}`]: [
    { type: 'A', address: '10.0.0.2' },
    { type: 'A', address: '10.0.0.3' },
  ],
  [`alias.${ZONE}`]: [{ type: 'CNAME', target: `api.marathon.${ZONE}` }],
  [`bad.${ZONE}`]: [{ type: 'A', address: '010.0.0.1' }],
  [`bad6.${ZONE}`]: [{ type: 'AAAA', address: 'fd01::zz' }],
  [`_web._tcp.marathon.${ZONE}`]: [{ type: 'SRV', priority: 0, weight: 0, port: 80, target: `web.marathon.${ZONE}` }],
  [`_ext._udp.${ZONE}`]: [{ type: 'SRV', priority: 1, weight: 2, port: 53, target: 'Ns1.Example.ORG' }],
  [`_two._tcp.${ZONE}`]: [
    { type: 'SRV', priority: 0, weight: 0, port: 80, target: `api.marathon.${ZONE}` },
    { type: 'SRV', priority: 0, weight: 0, port: 81, target: `api.marathon.${ZONE}` },
  ],
  [`_esc._tcp.${ZONE}`]: [{ type: 'SRV', priority: 0, weight: 0, port: 80, target: `we\\.b.${ZONE}` }],
  [`_badport._tcp.${ZONE}`]: [{ type: 'SRV', priority: 0, weight: 0, port: 70000, target: `api.marathon.${ZONE}` }],
  [`_tobad._tcp.${ZONE}`]: [{ type: 'SRV', priority: 0, weight: 0, port: 80, target: `bad.${ZONE}` }],
  [`_big._tcp.${ZONE}`]: [{ type: 'SRV', priority: 0, weight: 0, port: 80, target: `big.${ZONE}` }],
  [`big.${ZONE}`]: Array.from({ length: 40 }, (_, i): ZoneRecord => ({ type: 'A', address: `10.3.0.${i}` })),
  '1.0.0.10.in-addr.arpa': [{ type: 'PTR', target: `web.marathon.${ZONE}` }],
  '2.0.0.10.in-addr.arpa': [{ type: 'PTR', target: `Two.${ZONE}.` }],
};
for (let i = 0; i < 300; i++) records[`vip${i}.marathon.${ZONE}`] = [{ type: 'A', address: `10.1.${i >> 8}.${i & 0xff}` }];

function makeStage(direct: boolean, maxCacheEntries = 10000): { stage: LocalStage; metrics: Registry; route: Router } {
  const problems: unknown[] = [];
  const zones = validateLocalZones(
    [
      {
        zone: ZONE,
        source: new MemoryRecordSource(records),
        reverseZones: ['10.in-addr.arpa'],
        soa: { mname: 'ns.spartan', rname: 'hostmaster.spartan', minimum: 7 },
      },
    ],
    'localZones',
    problems as never,
  );
  t.same(problems, [], 'zone config valid');
  const metrics = new Registry();
  const stage = new LocalStage(zones, { logger: pino({ level: 'silent' }), metrics, udpMaxResponseSize: 1232, maxCacheEntries, directAnswers: direct });
  return { stage, metrics, route: new Router(stage.routes, {}) };
}

function ask(s: { stage: LocalStage; route: Router }, name: string, opts: QueryOptions = {}): dnsPacket.Packet & { rcode?: string } {
  const lookupName = s.route.rename(name.toLowerCase());
  const q = queryFromRaw(encodeQuery(name, opts), { lookupName, route: s.route.route(lookupName) });
  const out: Answer = s.stage.handle(q, () => {
    throw new Error(`${name} went past the local stage`);
  });
  if (!Buffer.isBuffer(out)) throw new Error('local answers are synchronous');
  return decode(out);
}

const cases: Array<[string, QueryOptions]> = [];
for (const name of [
  `web.marathon.${ZONE}`,
  `WEB.Marathon.L4lb.${ZONE}`.replace('L4lb.l4lb', 'L4LB'),
  `api.marathon.${ZONE}`,
  `two.${ZONE}`,
  `alias.${ZONE}`,
  `bad.${ZONE}`,
  `bad6.${ZONE}`,
  `nope.${ZONE}`,
  `deep.nope.Marathon.${ZONE}`,
  `marathon.${ZONE}`,
  ZONE,
  `_web._tcp.marathon.${ZONE}`,
  `_ext._udp.${ZONE}`,
  `_two._tcp.${ZONE}`,
  `_esc._tcp.${ZONE}`,
  `_badport._tcp.${ZONE}`,
  `_tobad._tcp.${ZONE}`,
  `_big._tcp.${ZONE}`,
  '2.0.0.10.in-addr.arpa',
  `vip7.marathon.${ZONE}`,
  '1.0.0.10.in-addr.arpa',
  '9.9.0.10.in-addr.arpa',
  `x.dclb.thisdcos.directory`,
  `web.marathon.dclb.thisdcos.directory`,
]) {
  const types: QueryOptions[] = [{ type: 'A' }, { type: 'AAAA' }, { type: 'SRV' }, { type: 'TXT' }, { type: 'CNAME' }, { type: 'PTR' }, { qtype: 255 }];
  for (const type of types) {
    cases.push([name, { ...type }]);
    cases.push([name, { ...type, edns: 4096, dnssecOk: true, id: 77, cd: true }]);
    cases.push([name, { ...type, edns: 512, rd: false }]);
  }
}

t.test('direct answers equal the cached path, field by field', async (t) => {
  const direct = makeStage(true);
  const cached = makeStage(false);
  for (const [name, opts] of cases) {
    const label = `${name} ${opts.type ?? opts.qtype ?? 'A'} ${opts.edns ?? 'no-edns'}`;
    const a = ask(direct, name, opts);
    const b = ask(cached, name, opts);
    t.same(a, b, label);
  }
  const counted = direct.metrics.render();
  const m = /hoplite_dns_local_direct_answers_total (\d+)/.exec(counted);
  t.ok(m && Number(m[1]) > cases.length / 4, `many answers were direct (${m?.[1]})`);
  t.match(cached.metrics.render(), /hoplite_dns_local_direct_answers_total 0\b/, 'none with directAnswers: false');
  t.match(counted, /hoplite_dns_local_bad_records_total [1-9]/, 'a bad address still goes the full way and is counted');
});

t.test('direct answers: what each says', async (t) => {
  const s = makeStage(true);
  const a = ask(s, `WEB.marathon.${ZONE}`, { id: 9, edns: 1232, dnssecOk: true });
  t.equal(a.id, 9);
  t.equal(a.rcode, 'NOERROR');
  t.ok((a as { flag_aa?: boolean }).flag_aa, 'AA');
  t.equal(a.questions?.[0]?.name, `WEB.marathon.${ZONE}`, 'the asked case in the question');
  t.same(
    a.answers?.map((r) => [r.name, r.type, (r as { ttl?: number }).ttl, (r as dnsPacket.StringAnswer).data]),
    [[`WEB.marathon.${ZONE}`, 'A', 5, '10.0.0.1']],
  );
  const opt = a.additionals?.[0] as unknown as { type: string; udpPayloadSize: number; flags: number };
  t.equal(opt.type, 'OPT');
  t.equal(opt.udpPayloadSize, 1232);
  t.equal(opt.flags & 0x8000, 0x8000, 'DO echoed');

  const nx = ask(s, `Nope.Deep.${ZONE.toUpperCase()}`);
  t.equal(nx.rcode, 'NXDOMAIN');
  const soa = nx.authorities?.[0] as dnsPacket.SoaAnswer;
  t.equal(soa.type, 'SOA');
  t.equal(soa.name.toLowerCase(), ZONE, 'owner: the apex (pointing into the question)');
  t.equal(soa.ttl, 7, 'negative TTL: min(SOA TTL, minimum)');
  t.equal(soa.data.mname, 'ns.spartan');
  t.equal(soa.data.minimum, 7);

  const nodata = ask(s, `api.marathon.${ZONE}`, { type: 'AAAA' });
  t.equal(nodata.rcode, 'NOERROR');
  t.equal(nodata.answers?.length ?? 0, 0);
  t.equal(nodata.authorities?.[0]?.type, 'SOA');
});

t.test('a zone far larger than the cache: every name answered, the cache bounded', async (t) => {
  const s = makeStage(true, 50);
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 300; i++) {
      const a = ask(s, `vip${i}.marathon.${ZONE}`);
      t.equal((a.answers?.[0] as dnsPacket.StringAnswer | undefined)?.data, `10.1.${i >> 8}.${i & 0xff}`);
      const srv = ask(s, `_two._tcp.${ZONE}`, { type: 'SRV', id: i });
      t.equal(srv.answers?.length, 2);
      ask(s, `nope${i}.${ZONE}`, { type: 'TXT' });
      ask(s, `vip${i}.marathon.${ZONE}`, { type: 'TXT' });
    }
  }
  const text = s.metrics.render();
  const num = (name: string): number => Number(new RegExp(`${name} (\\d+)`).exec(text)?.[1]);
  t.equal(num('hoplite_dns_local_direct_answers_total'), 2 * 300 * 3, 'A, NXDOMAIN and NODATA (TXT of a VIP) were direct');
  t.equal(num('hoplite_dns_local_cache_misses_total'), 1, 'the one two-record SRV name (rotated: cached path) was encoded once and stayed cached');
  t.equal(num('hoplite_dns_local_cache_entries'), 1);

  const small = makeStage(false, 50);
  for (let i = 0; i < 300; i++) ask(small, `vip${i}.marathon.${ZONE}`);
  const st = small.metrics.render();
  t.equal(Number(/hoplite_dns_local_cache_entries (\d+)/.exec(st)?.[1]), 50, 'the full cache holds its bound');
  t.equal(Number(/hoplite_dns_local_cache_evictions_total (\d+)/.exec(st)?.[1]), 250, 'oldest names evicted one by one');
  const again = ask(small, `vip299.marathon.${ZONE}`);
  t.equal((again.answers?.[0] as dnsPacket.StringAnswer | undefined)?.data, '10.1.1.43');
});
