// Where each query's time goes between the client, the server and its upstream(s), from a packet
// capture on loopback: tcpdump timestamps every datagram when its sender hands it to the stack, so
// for one query (matched by its name; the bench's names are random and used once) the capture gives
//   tQ  the client's query sent to the server      tF  the server's first forward to an upstream
//   tR  the first upstream reply sent               tA  the server's answer sent to the client
// and with the client's measured latency L (dnsperf -v):
//   server in   tF - tQ   waking for the query, reading it, routing, sending the forward
//   upstream    tR - tF   the upstream waking, answering
//   server out  tA - tR   waking for the reply, matching it, sending the answer
//   client      L - (tA - tQ)   the client waking for the answer (and its own send path before tQ)
// tcpdump runs on the load core (CPU 0) and costs it a little; compare servers under the same
// capture, not with and without it.

import { readFileSync, createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { start, sleep } from './proc.mjs';

/** Start tcpdump on lo for UDP to or from `ports`, nanosecond timestamps, into `file`. */
export async function startCapture(file, ports, { cpus = '0' } = {}) {
  const filter = ports.map((p) => `udp port ${p}`).join(' or ');
  const child = start('tcpdump', 'tcpdump', ['-i', 'lo', '-n', '-s', '128', '-B', '65536', '--time-stamp-precision', 'nano', '-w', file, filter], { cpus });
  // tcpdump prints "listening on lo" once its socket is bound; wait for it (bounded).
  for (let i = 0; i < 100 && !/listening on/.test(child.output()); i++) await sleep(50);
  if (!/listening on/.test(child.output())) throw new Error(`tcpdump did not start: ${child.output()}`);
  return {
    async stop() {
      await sleep(200);
      child.proc.kill('SIGINT');
      await child.exited;
      const m = child.output().match(/(\d+) packets? dropped by kernel/);
      return { dropped: m ? Number(m[1]) : NaN };
    },
    child,
  };
}

/** The question name of a DNS message at `off` (lowercase, no trailing dot), or undefined. */
function qname(buf, off, end) {
  let p = off + 12;
  let name = '';
  for (let hops = 0; hops < 128 && p < end; hops++) {
    const len = buf[p];
    if (len === 0) return name;
    if (len > 63 || p + 1 + len > end) return undefined;
    name += (name ? '.' : '') + buf.toString('latin1', p + 1, p + 1 + len).toLowerCase();
    p += 1 + len;
  }
  return undefined;
}

/**
 * Parse a pcap (Ethernet framing, as Linux gives for lo; nanosecond or microsecond timestamps) into
 * per-name timestamps. `serverPort`: the server's listening port; `upstreamPorts`: its upstreams'.
 */
export function parseCapture(file, serverPort, upstreamPorts) {
  const buf = readFileSync(file);
  const magic = buf.readUInt32LE(0);
  const nano = magic === 0xa1b23c4d;
  if (!nano && magic !== 0xa1b2c3d4) throw new Error(`${file}: not a little-endian pcap`);
  const ups = new Set(upstreamPorts);
  const q = new Map();
  const get = (n) => {
    let e = q.get(n);
    if (!e) q.set(n, (e = { tQ: NaN, tF: NaN, tR: NaN, tA: NaN }));
    return e;
  };
  let p = 24;
  let packets = 0;
  while (p + 16 <= buf.length) {
    const sec = buf.readUInt32LE(p);
    const frac = buf.readUInt32LE(p + 4);
    const incl = buf.readUInt32LE(p + 8);
    const d = p + 16;
    p = d + incl;
    if (p > buf.length) break;
    packets++;
    const t = sec * 1e6 + (nano ? frac / 1e3 : frac); // microseconds
    if (incl < 14 + 20 + 8 + 12 || buf.readUInt16BE(d + 12) !== 0x0800) continue;
    const ip = d + 14;
    const ihl = (buf[ip] & 15) * 4;
    if (buf[ip + 9] !== 17) continue;
    const udp = ip + ihl;
    const sport = buf.readUInt16BE(udp);
    const dport = buf.readUInt16BE(udp + 2);
    const n = qname(buf, udp + 8, d + incl);
    if (n === undefined) continue;
    const e = get(n);
    if (dport === serverPort) { if (Number.isNaN(e.tQ)) e.tQ = t; }
    else if (sport === serverPort) { if (Number.isNaN(e.tA)) e.tA = t; }
    else if (ups.has(dport)) { if (Number.isNaN(e.tF)) e.tF = t; }
    else if (ups.has(sport)) { if (Number.isNaN(e.tR)) e.tR = t; }
  }
  return { byName: q, packets };
}

/** Client latencies by name (microseconds) from dnsperf -v output ("> NOERROR name A 0.000123"). */
export async function latencyByName(file) {
  const out = new Map();
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.startsWith('> ') || line.startsWith('> T ')) continue;
    const f = line.split(' ');
    if (f.length < 5) continue;
    out.set(f[2].toLowerCase().replace(/\.$/, ''), Number(f[f.length - 1]) * 1e6);
  }
  return out;
}

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] : NaN);
const SPANS = ['serverIn', 'upstream', 'serverOut', 'client'];

/**
 * Join the capture with the client's latencies: percentiles of each span over all queries, and for
 * the slow ones (latency over `slowUs`) the span that exceeded its own median by the most.
 */
export function decompose(byName, latency, slowUs) {
  const rows = [];
  for (const [name, L] of latency) {
    const e = byName.get(name);
    if (!e || [e.tQ, e.tF, e.tR, e.tA].some(Number.isNaN)) continue;
    rows.push({ tQ: e.tQ, L, serverIn: e.tF - e.tQ, upstream: e.tR - e.tF, serverOut: e.tA - e.tR, client: L - (e.tA - e.tQ) });
  }
  // In the order the client sent them: a slow query whose two neighbours on each side are not
  // slow is "alone" (a late wake-up, a short hitch), the others are part of a stall.
  rows.sort((a, b) => a.tQ - b.tQ);
  const sorted = {};
  for (const k of ['L', ...SPANS]) sorted[k] = rows.map((r) => r[k]).sort((a, b) => a - b);
  const med = Object.fromEntries(SPANS.map((k) => [k, pct(sorted[k], 50)]));
  const blame = Object.fromEntries(SPANS.map((k) => [k, 0]));
  const blameAlone = Object.fromEntries(SPANS.map((k) => [k, 0]));
  let slow = 0;
  let alone = 0;
  const isSlow = (i) => i >= 0 && i < rows.length && rows[i].L > slowUs;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (r.L <= slowUs) continue;
    slow++;
    let worst = SPANS[0];
    for (const k of SPANS) if (r[k] - med[k] > r[worst] - med[worst]) worst = k;
    blame[worst]++;
    if (!isSlow(i - 2) && !isSlow(i - 1) && !isSlow(i + 1) && !isSlow(i + 2)) {
      alone++;
      blameAlone[worst]++;
    }
  }
  const table = {};
  for (const k of ['L', ...SPANS]) table[k] = { p50: pct(sorted[k], 50), p90: pct(sorted[k], 90), p99: pct(sorted[k], 99), p999: pct(sorted[k], 99.9) };
  return { matched: rows.length, of: latency.size, slow, blame, alone, blameAlone, table };
}

/** One line per span, for the console. */
export function formatDecomposition(d) {
  const r = (v) => (Number.isFinite(v) ? String(Math.round(v)) : '-');
  const lines = [`  capture: ${d.matched} of ${d.of} queries matched; spans in us (p50 / p90 / p99 / p99.9); slow queries (and those alone) by the span furthest over its median`];
  const label = { L: 'client latency', serverIn: 'server in', upstream: 'upstream', serverOut: 'server out', client: 'client side' };
  for (const k of ['L', ...SPANS]) {
    const t = d.table[k];
    lines.push(`    ${label[k].padEnd(15)} ${r(t.p50)} / ${r(t.p90)} / ${r(t.p99)} / ${r(t.p999)}${k === 'L' ? '' : `   slow: ${d.blame[k]} of ${d.slow} (alone: ${d.blameAlone[k]} of ${d.alone})`}`);
  }
  return lines.join('\n');
}
