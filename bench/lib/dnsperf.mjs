// dnsperf (Debian's package, 2.10) as the load generator: query files, a bounded run, and a parser
// for its summary. dnsperf has no latency histogram or percentiles; with -v it prints one line per
// query ("> NOERROR name A 0.000184", or "> T name A" for a timeout), from which we compute
// percentiles. -v costs dnsperf some CPU per query, so it is used only in the fixed-rate runs.

import { writeFileSync, createReadStream, openSync, closeSync, readSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { start, timeout, TIMEOUT, stop } from './proc.mjs';

/** A small deterministic PRNG (mulberry32), so that query files are the same from run to run. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/**
 * Write `count` distinct random names `<prefix><11 chars>.<zone> A`, one a line (dnsperf's format).
 * Different prefixes give disjoint name sets (warm-up, throughput, latency), so a cache filled in
 * one phase cannot serve the next.
 */
export function writeRandomQueries(path, { zone, count, prefix, seed = 1 }) {
  const rnd = prng(seed);
  const lines = new Array(count);
  for (let i = 0; i < count; i++) {
    let n = prefix;
    for (let j = 0; j < 11; j++) n += ALPHABET[(rnd() * 36) | 0];
    lines[i] = `${n}.${zone} A`;
  }
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** Write the given names (repeated `repeat` times, shuffled each pass) as A queries. */
export function writeFixedQueries(path, names, { repeat = 1, seed = 2 } = {}) {
  const rnd = prng(seed);
  const out = [];
  for (let r = 0; r < repeat; r++) {
    const pass = names.slice();
    for (let i = pass.length - 1; i > 0; i--) {
      const j = (rnd() * (i + 1)) | 0;
      [pass[i], pass[j]] = [pass[j], pass[i]];
    }
    for (const n of pass) out.push(`${n} A`);
  }
  writeFileSync(path, out.join('\n') + '\n');
  return path;
}

/**
 * Run dnsperf against 127.0.0.1:port for `seconds` (-l), optionally at a fixed rate (-Q) and with
 * per-query output (-v) written to `verboseFile`. Killed by PID if it overruns by 30 s.
 * Returns the parsed summary (+ latency percentiles when verbose).
 */
export async function runDnsperf({
  port, queryFile, seconds, rate, clients = 4, outstanding = 100, timeoutS = 1, cpus,
  verbose = false, outFile,
}) {
  const args = ['-s', '127.0.0.1', '-p', String(port), '-d', queryFile, '-l', String(seconds),
    '-c', String(clients), '-q', String(outstanding), '-t', String(timeoutS)];
  if (rate) args.push('-Q', String(rate));
  if (verbose) args.push('-v');
  // dnsperf writes its stdout (summary, and with -v one line per query) straight into outFile.
  const fd = openSync(outFile, 'w');
  let child;
  try {
    child = start('dnsperf', 'dnsperf', args, { cpus, stdoutFd: fd });
  } finally {
    closeSync(fd);
  }
  const t = timeout((seconds + 30) * 1000);
  const r = await Promise.race([child.exited, t.promise]);
  t.cancel();
  if (r === TIMEOUT) {
    await stop(child, 1000);
    throw new Error(`dnsperf overran its ${seconds} s limit by 30 s; killed`);
  }
  if (r.code !== 0) throw new Error(`dnsperf exited with code ${r.code}: ${child.output()}`);
  const summary = parseSummary(readTail(outFile, 4096));
  summary.command = `dnsperf ${args.join(' ')}`;
  if (verbose) Object.assign(summary, await percentilesFromVerbose(outFile));
  return summary;
}

function readTail(file, bytes) {
  const size = statSync(file).size;
  const fd = openSync(file, 'r');
  try {
    const len = Math.min(size, bytes);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** Parse dnsperf's "Statistics:" block. Latencies converted to microseconds. */
export function parseSummary(text) {
  const num = (re) => {
    const m = text.match(re);
    return m ? Number(m[1]) : NaN;
  };
  const us = (re) => num(re) * 1e6;
  const rc = {};
  const rcLine = text.match(/Response codes:\s+(.*)/);
  if (rcLine) for (const m of rcLine[1].matchAll(/([A-Z]+) (\d+)/g)) rc[m[1]] = Number(m[2]);
  return {
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    rcodes: rc,
    runTimeS: num(/Run time \(s\):\s+([\d.]+)/),
    qps: num(/Queries per second:\s+([\d.]+)/),
    avgUs: us(/Average Latency \(s\):\s+([\d.]+)/),
    minUs: us(/Average Latency \(s\):.*min ([\d.]+)/),
    maxUs: us(/Average Latency \(s\):.*max ([\d.]+)/),
    stddevUs: us(/Latency StdDev \(s\):\s+([\d.]+)/),
  };
}

/** Read dnsperf -v lines and compute p50/p90/p99/p99.9 of the completed queries' latencies (us). */
export async function percentilesFromVerbose(file) {
  const lat = [];
  let timeouts = 0;
  const rl = createInterface({ input: createReadStream(file), crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.startsWith('> ')) continue;
    if (line.startsWith('> T ')) {
      timeouts++;
      continue;
    }
    const sp = line.lastIndexOf(' ');
    const v = Number(line.slice(sp + 1));
    if (Number.isFinite(v)) lat.push(v * 1e6);
  }
  const a = Float64Array.from(lat).sort();
  const pct = (p) => (a.length ? a[Math.min(a.length - 1, Math.ceil((p / 100) * a.length) - 1)] : NaN);
  return { samples: a.length, timeouts, p50Us: pct(50), p90Us: pct(90), p99Us: pct(99), p999Us: pct(99.9) };
}
