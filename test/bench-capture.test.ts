/**
 * bench/lib/capture.mjs (tail.mjs --capture): a pcap written here, packet by packet, read back into
 * each query's four timestamps, joined with dnsperf-style latencies and split into spans.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Times {
  tQ: number;
  tF: number;
  tR: number;
  tA: number;
}
interface Decomposition {
  matched: number;
  of: number;
  slow: number;
  alone: number;
  blame: Record<string, number>;
  blameAlone: Record<string, number>;
  table: Record<string, { p50: number; p90: number; p99: number; p999: number }>;
}
interface CaptureModule {
  parseCapture(file: string, serverPort: number, upstreamPorts: number[]): { byName: Map<string, Times>; packets: number };
  latencyByName(file: string): Promise<Map<string, number>>;
  decompose(byName: Map<string, Times>, latency: Map<string, number>, slowUs: number): Decomposition;
  formatDecomposition(d: Decomposition): string;
}

const modulePath: string = '../bench/lib/capture.mjs';
const SERVER = 5300;
const KNOT = 5400;
const CLIENT = 40000;
const POOLED = 41000;

/** A DNS message with ID `id` and one question `name` A IN (a query, or a reply with QR set). */
function dns(id: number, name: string, reply: boolean): Buffer {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l, 'latin1')]));
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(reply ? 0x8180 : 0x0100, 2);
  header.writeUInt16BE(1, 4);
  return Buffer.concat([header, ...labels, Buffer.from([0, 0, 1, 0, 1])]);
}

/** One pcap record: Ethernet (IPv4), IPv4, UDP, payload; timestamp in microseconds (nanosecond pcap). */
function record(us: number, sport: number, dport: number, payload: Buffer, { truncateTo }: { truncateTo?: number } = {}): Buffer {
  const eth = Buffer.alloc(14);
  eth.writeUInt16BE(0x0800, 12);
  const ip = Buffer.alloc(20);
  ip[0] = 0x45;
  ip.writeUInt16BE(20 + 8 + payload.length, 2);
  ip[8] = 64;
  ip[9] = 17;
  ip.set([127, 0, 0, 1], 12);
  ip.set([127, 0, 0, 1], 16);
  const udp = Buffer.alloc(8);
  udp.writeUInt16BE(sport, 0);
  udp.writeUInt16BE(dport, 2);
  udp.writeUInt16BE(8 + payload.length, 4);
  let frame = Buffer.concat([eth, ip, udp, payload]);
  const orig = frame.length;
  if (truncateTo !== undefined) frame = frame.subarray(0, truncateTo);
  const h = Buffer.alloc(16);
  h.writeUInt32LE(Math.floor(us / 1e6), 0);
  h.writeUInt32LE(Math.round((us % 1e6) * 1000), 4);
  h.writeUInt32LE(frame.length, 8);
  h.writeUInt32LE(orig, 12);
  return Buffer.concat([h, frame]);
}

function pcap(records: Buffer[]): Buffer {
  const g = Buffer.alloc(24);
  g.writeUInt32LE(0xa1b23c4d, 0); // nanosecond timestamps
  g.writeUInt16LE(2, 4);
  g.writeUInt16LE(4, 6);
  g.writeUInt32LE(262144, 16);
  g.writeUInt32LE(1, 20); // Ethernet
  return Buffer.concat([g, ...records]);
}

/** The four packets of one forwarded query, at base + the given offsets (us). */
function query(base: number, name: string, id: number, [f, r, a]: [number, number, number], wireName = name): Buffer[] {
  return [
    record(base, CLIENT, SERVER, dns(id, wireName, false)),
    record(base + f, POOLED, KNOT, dns(id ^ 0x5555, wireName, false)),
    record(base + r, KNOT, POOLED, dns(id ^ 0x5555, wireName, true)),
    record(base + a, SERVER, CLIENT, dns(id, wireName, true)),
  ];
}

t.test('capture: per-query timestamps from a pcap, joined with the client latencies, split into spans', async (t) => {
  const cap = (await import(modulePath)) as CaptureModule;
  const dir = mkdtempSync(join(tmpdir(), 'hoplite-capture-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const t0 = 1_700_000_000_000_000; // us
  const recs: Buffer[] = [];
  const lines: string[] = [];
  // 100 queries 100 us apart: server in 30, upstream 30, server out 30 us; the client measured 120.
  // Query 50 (alone) has a server-in of 400 us; 80-82 (a run of three) an upstream of 500 us; 60
  // and 62 (two apart: not alone, as a slow neighbour within two either side) a server-out of 400.
  for (let i = 0; i < 100; i++) {
    const name = `q${i}.bench.test`;
    const serverIn = i === 50 ? 400 : 30;
    const upstream = i >= 80 && i <= 82 ? 500 : 30;
    const sent = serverIn + upstream + (i === 60 || i === 62 ? 400 : 30);
    // The client's name in mixed case on the wire for one query: matched case-insensitively.
    recs.push(...query(t0 + i * 100, name, i, [serverIn, serverIn + upstream, sent], i === 7 ? 'Q7.Bench.Test' : name));
    lines.push(`> NOERROR ${name} A ${((sent + 30) / 1e6).toFixed(6)}`);
  }
  // Noise the parser must skip: a truncated frame, and a query nobody answered (no latency line).
  recs.push(record(t0 + 20_000, CLIENT, SERVER, dns(999, 'cut.bench.test', false), { truncateTo: 40 }));
  recs.push(record(t0 + 20_100, CLIENT, SERVER, dns(998, 'lost.bench.test', false)));
  lines.push('> T lost.bench.test A');
  const file = join(dir, 'w.pcap');
  writeFileSync(file, pcap(recs));
  const out = join(dir, 'w.out');
  writeFileSync(out, ['[Status] Command line: dnsperf ...', ...lines, 'Statistics:'].join('\n') + '\n');

  const { byName, packets } = cap.parseCapture(file, SERVER, [KNOT]);
  t.equal(packets, 402, 'every record read, the truncated one included');
  t.same(byName.get('q3.bench.test'), { tQ: t0 + 300, tF: t0 + 330, tR: t0 + 360, tA: t0 + 390 });
  t.same(byName.get('q7.bench.test'), { tQ: t0 + 700, tF: t0 + 730, tR: t0 + 760, tA: t0 + 790 }, 'names compared in lower case');
  t.notOk(byName.has('cut.bench.test'), 'a truncated frame is skipped');

  const latency = await cap.latencyByName(out);
  t.equal(latency.size, 100, 'timeouts (> T) are not latencies');
  t.equal(Math.round(latency.get('q50.bench.test')!), 490);

  const d = cap.decompose(byName, latency, 300);
  t.equal(d.matched, 100);
  t.equal(d.slow, 6, 'query 50, 60 and 62, and the run 80-82');
  t.equal(d.blame.serverIn, 1);
  t.equal(d.blame.upstream, 3);
  t.equal(d.blame.serverOut, 2);
  t.equal(d.alone, 1, 'only query 50 came alone');
  t.equal(d.blameAlone.serverIn, 1);
  t.equal(Math.round(d.table.serverIn!.p50), 30);
  t.equal(Math.round(d.table.serverIn!.p99), 400);
  t.equal(Math.round(d.table.upstream!.p99), 500);
  t.equal(Math.round(d.table.serverOut!.p50), 30);
  t.equal(Math.round(d.table.client!.p50), 30, 'client side: what the client measured beyond answer sent - query sent');
  t.match(cap.formatDecomposition(d), /server in +30 \/ 30 \/ 400 \/ 400 +slow: 1 of 6 \(alone: 1 of 1\)/);
});
