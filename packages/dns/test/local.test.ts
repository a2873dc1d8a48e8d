import t from 'tap';
import type * as dnsPacket from 'dns-packet';
import { createServer, MemoryRecordSource, type DnsServer, type RecordSource, type ZoneRecord } from '../src/index.js';
import { decode, encodeQuery, TcpClient, udpQuery, udpRaw, type Decoded } from './helpers/dns-client.js';
import { ControlledStage } from './helpers/stages.js';

const ZONE = 'l4lb.thisdcos.directory';
const src = new MemoryRecordSource({
  [`web.marathon.${ZONE}`]: [
    { type: 'A', address: '10.0.0.1' },
    { type: 'A', address: '10.0.0.2' },
    { type: 'A', address: '10.0.0.3' },
    { type: 'AAAA', address: 'fd01:c::1' },
  ],
  [`_web._tcp.marathon.${ZONE}`]: [
    { type: 'SRV', priority: 0, weight: 0, port: 80, target: `web.marathon.${ZONE}` },
    { type: 'SRV', priority: 0, weight: 0, port: 8080, target: `api.marathon.${ZONE}` },
  ],
  [`api.marathon.${ZONE}`]: [{ type: 'A', address: '10.0.0.9' }],
  [`alias.${ZONE}`]: [{ type: 'CNAME', target: `api.marathon.${ZONE}` }],
  [`gone.${ZONE}`]: [{ type: 'CNAME', target: `nothere.${ZONE}` }],
  [`txt.${ZONE}`]: [{ type: 'TXT', text: ['hello', 'x'.repeat(300)] }],
  [`bad.${ZONE}`]: [{ type: 'A', address: 'not-an-ip' }, { type: 'A', address: '10.0.0.7', ttl: 60 }],
  [`big.${ZONE}`]: Array.from({ length: 100 }, (_, i): ZoneRecord => ({ type: 'A', address: `10.1.0.${i}` })),
  [`mid.${ZONE}`]: Array.from({ length: 40 }, (_, i): ZoneRecord => ({ type: 'A', address: `10.2.0.${i}` })),
  [`_many._tcp.${ZONE}`]: Array.from({ length: 20 }, (_, i): ZoneRecord => ({
    type: 'SRV',
    priority: 0,
    weight: 0,
    port: 1000 + i,
    target: `big.${ZONE}`,
  })),
  '1.0.0.10.in-addr.arpa': [{ type: 'PTR', target: `web.marathon.${ZONE}` }],
});

let explode = false;
const throwing: RecordSource = {
  version: 0,
  lookup(name: string) {
    if (explode) throw new Error('store on fire');
    return name === 'ok.broken.test' ? [{ type: 'A', address: '10.9.9.9' }] : undefined;
  },
};

const upstream = new ControlledStage('forward', ['forward', 'upstream', 'masters']);
let server: DnsServer;
let port: number;

t.before(async () => {
  server = await createServer(
    {
      listen: [{ address: '127.0.0.1', port: 0 }],
      localZones: [
        // The pool 10.0.0.0/24 is ours; other 10.x reverse names go upstream.
        { zone: ZONE, source: src, reverseZones: ['10.in-addr.arpa'], owns: (n: string) => n.endsWith('.0.0.10.in-addr.arpa') },
        { zone: 'broken.test', source: throwing },
      ],
    },
    { stages: [upstream.factory()] },
  );
  port = server.addresses()[0]!.port;
});
t.teardown(() => server.close());

const aa = (m: Decoded): boolean => Boolean(m.flag_aa);
const data = (m: Decoded): unknown[] => (m.answers ?? []).map((a) => (a as dnsPacket.StringAnswer).data);

t.test('ready.spartan and ready.hoplite answer 127.0.0.1', async (t) => {
  for (const name of ['ready.spartan', 'ready.hoplite']) {
    const { msg } = await udpQuery(port, name);
    t.equal(msg.rcode, 'NOERROR');
    t.ok(aa(msg), 'AA');
    t.same(data(msg), ['127.0.0.1']);
    t.equal((msg.answers?.[0] as dnsPacket.StringAnswer).ttl, 5);
  }
  const other = await udpQuery(port, 'other.spartan');
  t.equal(other.msg.rcode, 'NXDOMAIN', 'the spartan zone is ours');
});

t.test('the asked letter case is kept in the question and the owner names', async (t) => {
  const { msg } = await udpQuery(port, 'READY.Spartan', { id: 0xbeef });
  t.equal(msg.id, 0xbeef);
  t.equal(msg.questions?.[0]?.name, 'READY.Spartan');
  t.equal(msg.answers?.[0]?.name, 'READY.Spartan');
  const again = await udpQuery(port, 'ready.SPARTAN', { id: 7 });
  t.equal(again.msg.answers?.[0]?.name, 'ready.SPARTAN', 'the cached answer is patched per query');
  t.equal(again.msg.id, 7);
});

t.test('RD and CD are copied, RA set, OPT only when asked, DO echoed', async (t) => {
  const norec = await udpQuery(port, 'ready.spartan', { rd: false, cd: true });
  t.notOk((norec.msg.flags ?? 0) & 0x0100, 'RD clear');
  t.ok((norec.msg.flags ?? 0) & 0x0010, 'CD copied');
  t.ok((norec.msg.flags ?? 0) & 0x0080, 'RA');
  t.equal(norec.msg.additionals?.length ?? 0, 0, 'no OPT without EDNS');
  const rec = await udpQuery(port, 'ready.spartan', { edns: 4096, dnssecOk: true });
  t.ok((rec.msg.flags ?? 0) & 0x0100, 'RD copied');
  const opt = rec.msg.additionals?.find((a) => a.type === 'OPT') as unknown as { udpPayloadSize: number; flags: number };
  t.ok(opt, 'OPT when the query had one');
  t.equal(opt.udpPayloadSize, 1232);
  t.ok(opt.flags & 0x8000, 'DO echoed');
  const noDo = await udpQuery(port, 'ready.spartan', { edns: 4096 });
  const opt2 = noDo.msg.additionals?.find((a) => a.type === 'OPT') as unknown as { flags: number };
  t.notOk(opt2.flags & 0x8000, 'DO clear when not asked');
});

t.test('SOA and NS at the apex', async (t) => {
  const soa = await udpQuery(port, ZONE, { type: 'SOA' });
  t.ok(aa(soa.msg));
  const s = soa.msg.answers?.[0] as dnsPacket.SoaAnswer;
  t.equal(s.type, 'SOA');
  t.same(
    { ...s.data },
    { mname: 'ns.spartan', rname: 'hostmaster.spartan', serial: 1, refresh: 60, retry: 180, expire: 86400, minimum: 1 },
  );
  const ns = await udpQuery(port, ZONE, { type: 'NS' });
  t.equal(ns.msg.answers?.[0]?.type, 'NS');
  t.equal((ns.msg.answers?.[0] as dnsPacket.StringAnswer).data, 'ns.spartan');
  t.equal((ns.msg.answers?.[0] as dnsPacket.StringAnswer).ttl, 3600);
  const apexA = await udpQuery(port, ZONE, { type: 'A' });
  t.equal(apexA.msg.rcode, 'NOERROR');
  t.equal(apexA.msg.answers?.length ?? 0, 0, 'the apex has no A: no data');
  t.equal(apexA.msg.authorities?.[0]?.type, 'SOA');
});

t.test('NXDOMAIN and NODATA carry the SOA', async (t) => {
  const nx = await udpQuery(port, `nope.${ZONE}`);
  t.equal(nx.msg.rcode, 'NXDOMAIN');
  t.ok(aa(nx.msg));
  t.equal(nx.msg.answers?.length ?? 0, 0);
  const soa = nx.msg.authorities?.[0] as dnsPacket.SoaAnswer;
  t.equal(soa.type, 'SOA');
  t.equal(soa.name, ZONE);
  t.equal(soa.ttl, 1, 'negative TTL: min(SOA TTL, minimum)');

  const nodata = await udpQuery(port, `api.marathon.${ZONE}`, { type: 'AAAA' });
  t.equal(nodata.msg.rcode, 'NOERROR');
  t.ok(aa(nodata.msg));
  t.equal(nodata.msg.answers?.length ?? 0, 0);
  t.equal(nodata.msg.authorities?.[0]?.type, 'SOA');

  const ent = await udpQuery(port, `marathon.${ZONE}`);
  t.equal(ent.msg.rcode, 'NOERROR', 'an empty non-terminal exists');
  t.equal(ent.msg.authorities?.[0]?.type, 'SOA');
});

t.test('A, AAAA, TXT, CNAME, ANY', async (t) => {
  const aaaa = await udpQuery(port, `web.marathon.${ZONE}`, { type: 'AAAA' });
  t.same(data(aaaa.msg), ['fd01:c::1']);
  const txt = await udpQuery(port, `txt.${ZONE}`, { type: 'TXT' });
  const strings = (txt.msg.answers?.[0] as dnsPacket.TxtAnswer).data as Buffer[];
  t.same(
    strings.map((b) => b.toString()),
    ['hello', 'x'.repeat(255), 'x'.repeat(45)],
    'long strings split into 255-byte pieces',
  );
  const alias = await udpQuery(port, `alias.${ZONE}`);
  t.same(
    (alias.msg.answers ?? []).map((a) => a.type),
    ['CNAME', 'A'],
    'CNAME followed inside the local zones',
  );
  t.equal((alias.msg.answers?.[1] as dnsPacket.StringAnswer).data, '10.0.0.9');
  const gone = await udpQuery(port, `gone.${ZONE}`);
  t.equal(gone.msg.rcode, 'NXDOMAIN', 'the CNAME target does not exist');
  t.equal(gone.msg.answers?.[0]?.type, 'CNAME');
  const cname = await udpQuery(port, `alias.${ZONE}`, { type: 'CNAME' });
  t.same((cname.msg.answers ?? []).map((a) => a.type), ['CNAME']);
  const any = await udpQuery(port, `web.marathon.${ZONE}`, { qtype: 255 });
  t.same(new Set((any.msg.answers ?? []).map((a) => a.type)), new Set(['A', 'AAAA']), 'ANY: every record of the name');
  const bad = await udpQuery(port, `bad.${ZONE}`);
  t.same(data(bad.msg), ['10.0.0.7'], 'an invalid record is skipped');
  t.equal((bad.msg.answers?.[0] as dnsPacket.StringAnswer).ttl, 60, 'a record TTL overrides the zone TTL');
});

t.test('SRV with its targets in the additional section', async (t) => {
  const { msg } = await udpQuery(port, `_web._tcp.marathon.${ZONE}`, { type: 'SRV' });
  t.ok(aa(msg));
  const srv = (msg.answers ?? []) as dnsPacket.SrvAnswer[];
  t.same(new Set(srv.map((a) => a.data.port)), new Set([80, 8080]));
  t.same(new Set(srv.map((a) => a.data.target)), new Set([`web.marathon.${ZONE}`, `api.marathon.${ZONE}`]));
  const add = (msg.additionals ?? []).filter((a) => a.type !== 'OPT');
  t.same(
    new Set(add.map((a) => `${a.name} ${a.type} ${(a as dnsPacket.StringAnswer).data}`)),
    new Set([
      `web.marathon.${ZONE} A 10.0.0.1`,
      `web.marathon.${ZONE} A 10.0.0.2`,
      `web.marathon.${ZONE} A 10.0.0.3`,
      `web.marathon.${ZONE} AAAA fd01:c::1`,
      `api.marathon.${ZONE} A 10.0.0.9`,
    ]),
  );
});

t.test('PTR inside the owned reverse range; other reverse names go on', async (t) => {
  const ptr = await udpQuery(port, '1.0.0.10.in-addr.arpa', { type: 'PTR' });
  t.ok(aa(ptr.msg));
  t.equal((ptr.msg.answers?.[0] as dnsPacket.StringAnswer).data, `web.marathon.${ZONE}`);
  const nx = await udpQuery(port, '77.0.0.10.in-addr.arpa', { type: 'PTR' });
  t.equal(nx.msg.rcode, 'NXDOMAIN');
  t.equal(nx.msg.authorities?.[0]?.name, '10.in-addr.arpa', 'the SOA of the reverse zone');
  const before = upstream.seen.length;
  const outside = await udpQuery(port, '1.0.9.10.in-addr.arpa', { type: 'PTR' });
  t.notOk(aa(outside.msg), 'not ours');
  t.equal(upstream.seen.length, before + 1, 'handed to the next stage');
  t.equal(upstream.seen.at(-1)!.route.kind, 'upstream');
});

t.test('record order rotates per query', async (t) => {
  const firsts: unknown[] = [];
  const sets: string[] = [];
  for (let i = 0; i < 3; i++) {
    const { msg } = await udpQuery(port, `web.marathon.${ZONE}`);
    firsts.push(data(msg)[0]);
    sets.push(JSON.stringify([...data(msg)].sort()));
  }
  t.same(new Set(firsts), new Set(['10.0.0.1', '10.0.0.2', '10.0.0.3']), 'each record comes first once');
  t.same(new Set(sets).size, 1, 'the same set every time');
});

t.test('a change in the source is seen at once (version)', async (t) => {
  const name = `fresh.${ZONE}`;
  t.equal((await udpQuery(port, name)).msg.rcode, 'NXDOMAIN');
  src.set(name, [{ type: 'A', address: '10.0.0.55' }]);
  const after = await udpQuery(port, name);
  t.equal(after.msg.rcode, 'NOERROR');
  t.same(data(after.msg), ['10.0.0.55']);
  src.delete(name);
  t.equal((await udpQuery(port, name)).msg.rcode, 'NXDOMAIN');
});

t.test('answers sized to the client: additional dropped first, then TC', async (t) => {
  const mid = `mid.${ZONE}`;
  const noEdns = await udpQuery(port, mid);
  t.ok(noEdns.msg.flag_tc, '40 A records do not fit 512 bytes');
  t.ok(noEdns.raw.length <= 512);
  t.equal(noEdns.msg.answers?.length ?? 0, 0);
  t.equal(noEdns.msg.questions?.[0]?.name, mid);
  const edns = await udpQuery(port, mid, { edns: 1232 });
  t.notOk(edns.msg.flag_tc, 'they fit 1232');
  t.equal(edns.msg.answers?.length, 40);
  const big = await udpQuery(port, `big.${ZONE}`, { edns: 4096 });
  t.ok(big.msg.flag_tc, '100 records exceed the 1232 cap even with a 4096 buffer');
  t.ok(big.raw.length <= 1232);
  t.equal(big.msg.additionals?.[0]?.type, 'OPT', 'a truncated answer keeps its OPT');
  const tcp = await TcpClient.connect(port);
  const full = await tcp.query(`big.${ZONE}`);
  tcp.close();
  t.notOk(full.flag_tc);
  t.equal(full.answers?.length, 100, 'TCP carries it all');

  // SRV whose additional section does not fit: the answer goes without it, TC clear.
  const many = await udpQuery(port, `_many._tcp.${ZONE}`, { type: 'SRV', edns: 1232 });
  t.notOk(many.msg.flag_tc);
  t.equal(many.msg.answers?.length, 20);
  t.equal((many.msg.additionals ?? []).filter((a) => a.type !== 'OPT').length, 0, 'additional section dropped');
});

t.test('renames: answered with the asked name', async (t) => {
  const { msg } = await udpQuery(port, 'Web.Marathon.DCLB.thisdcos.global');
  t.ok(aa(msg));
  t.equal(msg.questions?.[0]?.name, 'Web.Marathon.DCLB.thisdcos.global');
  t.same(new Set(msg.answers?.map((a) => a.name)), new Set(['Web.Marathon.DCLB.thisdcos.global']));
  t.same(new Set(data(msg)), new Set(['10.0.0.1', '10.0.0.2', '10.0.0.3']));
  const nx = await udpQuery(port, 'nope.dclb.thisdcos.global');
  t.equal(nx.msg.rcode, 'NXDOMAIN');
  t.equal(nx.msg.authorities?.[0]?.name, 'dclb.thisdcos.global', 'the SOA owner renamed too');
  const srv = await udpQuery(port, '_web._tcp.marathon.dclb.thisdcos.global', { type: 'SRV' });
  const targets = (srv.msg.answers as dnsPacket.SrvAnswer[]).map((a) => a.data.target);
  t.ok(targets.every((n) => n.endsWith('.dclb.thisdcos.global')), 'targets stay in the asked namespace');
  const viaGlobal = await udpQuery(port, 'api.marathon.l4lb.thisdcos.global');
  t.same(data(viaGlobal.msg), ['10.0.0.9'], 'X.thisdcos.global -> X.thisdcos.directory');
  t.equal(viaGlobal.msg.answers?.[0]?.name, 'api.marathon.l4lb.thisdcos.global');
});

t.test('refused classes and transfers; a failing source gets SERVFAIL and the rest keeps working', async (t) => {
  const ch = await udpQuery(port, 'ready.spartan', { class: 'CH' });
  t.equal(ch.msg.rcode, 'REFUSED');
  const axfr = await udpQuery(port, ZONE, { type: 'AXFR' });
  t.equal(axfr.msg.rcode, 'REFUSED');
  t.equal((await udpQuery(port, 'ok.broken.test')).msg.rcode, 'NOERROR');
  explode = true;
  (throwing as { version: number }).version++;
  const boom = await udpQuery(port, 'other.broken.test');
  t.equal(boom.msg.rcode, 'SERVFAIL');
  explode = false;
  t.equal((await udpQuery(port, 'ready.spartan')).msg.rcode, 'NOERROR');
  t.match(server.metrics.render(), /hoplite_dns_local_source_errors_total 1/);
});

t.test('metrics of the local stage', async (t) => {
  const text = server.metrics.render();
  t.match(text, /hoplite_dns_local_answers_total\{rcode="NOERROR",zone="spartan"\} \d+/);
  t.match(text, /hoplite_dns_local_answers_total\{rcode="NXDOMAIN",zone="l4lb.thisdcos.directory"\} \d+/);
  t.match(text, /hoplite_dns_local_cache_flushes_total\{reason="version"\} [1-9]/);
  t.match(text, /hoplite_dns_server_queries_total\{rcode="NOERROR",route="local",transport="udp"\} \d+/);
  // Raw check: a local answer to a raw query with uppercase is byte-identical apart from ID.
  const a = await udpRaw(port, encodeQuery('ready.spartan', { id: 1 }));
  const b = await udpRaw(port, encodeQuery('ready.spartan', { id: 2 }));
  t.equal(a!.subarray(2).toString('hex'), b!.subarray(2).toString('hex'));
  t.equal(decode(a!).id, 1);
});
