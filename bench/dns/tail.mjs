#!/usr/bin/env node
// Where a server's latency tail at a fixed rate comes from: one server (Hoplite through its
// adapter, or a peer of servers.mjs) pinned to CPU 1, knotd and dnsperf on CPU 0 as in run.mjs,
// a fixed-rate dnsperf window, and beside the percentiles: the server's threads (CPU ticks and
// context switches in the window), how the slow queries cluster (one slow query alone is a
// wake-up; tens in a row are a stall), and with --gc the V8 GC pauses in the window.
//
//   node bench/dns/tail.mjs [--scenario forwarding|fanout] [--one-dead] [--server hoplite]
//        [--rate 10000] [--duration 5] [--repeat 3] [--after-max] [--slow-us 300]
//        [--gc] [--heap-sample all|live] [--node-flags="--flag ..."] [--capture] [--keep DIR]
//
// --after-max   a 5 s dnsperf run at full load before the window, as run.mjs does (V8's heap has
//               grown by then; without it the window sees the young process's early GCs).
// --gc          Hoplite only: node --trace-gc; lists the scavenges and mark-compacts in the window.
// --heap-sample Hoplite only: bench/lib/heap-sample.cjs over 4 s of the window (all allocations,
//               or the objects still alive at its end), summarized by allocating function.
// --node-flags  extra node flags for Hoplite's process (e.g. "--single-threaded-gc").
// --capture     tcpdump on lo during the window (on CPU 0): each query's latency split into the
//               server's two spans, the upstream's and the client's (bench/lib/capture.mjs).
// --keep DIR    copy each round's dnsperf -v output (and capture) into DIR.
// Hoplite is the workspace's built @hoplite/dns (npx tsc -b packages/dns; the addon built).

import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, mkdirSync, copyFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir, stopAll, start, stop, freePort, usage } from '../lib/proc.mjs';
import { startKnot, BENCH_ZONE, MASTER_ZONE } from '../lib/knot.mjs';
import { writeRandomQueries, runDnsperf } from '../lib/dnsperf.mjs';
import { waitForAnswer } from '../lib/dnsprobe.mjs';
import { median } from '../lib/stats.mjs';
import { SERVERS } from './servers.mjs';
import { startCapture, parseCapture, latencyByName, decompose, formatDecomposition } from '../lib/capture.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { values: o } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'forwarding' },
    'one-dead': { type: 'boolean', default: false },
    server: { type: 'string', default: 'hoplite' },
    rate: { type: 'string', default: '10000' },
    duration: { type: 'string', default: '5' },
    repeat: { type: 'string', default: '3' },
    'after-max': { type: 'boolean', default: false },
    'slow-us': { type: 'string', default: '300' },
    gc: { type: 'boolean', default: false },
    'heap-sample': { type: 'string' },
    'node-flags': { type: 'string', default: '' },
    capture: { type: 'boolean', default: false },
    keep: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (o.help) {
  console.log(usage(import.meta.url));
  process.exit(0);
}
const fail = (msg) => {
  console.error(msg);
  process.exit(2);
};
if (!['forwarding', 'fanout'].includes(o.scenario)) fail(`--scenario ${o.scenario}: accepted forwarding, fanout`);
const peer = SERVERS.find((s) => s.name === o.server);
if (!peer) fail(`--server ${o.server}: accepted ${SERVERS.map((s) => s.name).join(', ')}`);
const isHoplite = peer.kind === 'hoplite';
if ((o.gc || o['heap-sample'] || o['node-flags']) && !isHoplite) fail('--gc, --heap-sample and --node-flags apply to Hoplite only');
if (o['heap-sample'] && !['all', 'live'].includes(o['heap-sample'])) fail(`--heap-sample ${o['heap-sample']}: accepted all, live`);
if (o['one-dead'] && o.scenario !== 'fanout') fail('--one-dead is a fan-out variant');
const rate = Number(o.rate);
const duration = Number(o.duration);
const slowUs = Number(o['slow-us']);
for (const [k, v] of Object.entries({ rate, duration, repeat: Number(o.repeat), 'slow-us': slowUs })) if (!(v > 0)) fail(`--${k} must be a positive number`);

// This harness (every thread of it) on CPU 0 with dnsperf and knotd, as run.mjs pins itself.
execFileSync('taskset', ['-a', '-p', '-c', '0', String(process.pid)], { stdio: 'ignore' });
const { dir, cleanup } = tempDir('hoplite-tail-');
const fan = o.scenario === 'fanout';
process.on('SIGINT', async () => {
  await stopAll();
  cleanup();
  process.exit(130);
});

/** CPU ticks and context switches of every thread of `pid`. */
function threads(pid) {
  const out = new Map();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
      out.set(tid, {
        name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
        ticks: Number(f[11]) + Number(f[12]),
        voluntary: Number(status.match(/^voluntary_ctxt_switches:\s+(\d+)/m)[1]),
        involuntary: Number(status.match(/^nonvoluntary_ctxt_switches:\s+(\d+)/m)[1]),
      });
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** Runs of consecutive slow queries (dnsperf -v lists them in completion order). */
function clusters(file) {
  const lat = readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('> ') && !l.startsWith('> T '))
    .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)) * 1e6);
  const runs = [];
  let cur = 0;
  for (const v of lat) {
    if (v > slowUs) cur++;
    else if (cur > 0) {
      runs.push(cur);
      cur = 0;
    }
  }
  if (cur > 0) runs.push(cur);
  const sizes = { 1: 0, '2-3': 0, '4-10': 0, '11-30': 0, '>30': 0 };
  for (const c of runs) sizes[c === 1 ? 1 : c <= 3 ? '2-3' : c <= 10 ? '4-10' : c <= 30 ? '11-30' : '>30']++;
  const slow = runs.reduce((a, b) => a + b, 0);
  const inStalls = runs.filter((c) => c > 10).reduce((a, b) => a + b, 0);
  return { slow, of: lat.length, runs: runs.length, sizes, inStalls };
}

const knots = [];
try {
  for (let i = 0; i < (fan ? 3 : 1); i++) knots.push(await startKnot({ dir: join(dir, `knot${i}`), cpus: '0', name: `knotd${i}` }));
  if (o['one-dead']) process.kill(knots[2].child.pid, 'SIGSTOP');
  const queries = join(dir, 'queries.txt');
  writeRandomQueries(queries, { zone: fan ? MASTER_ZONE : BENCH_ZONE, count: 200_000, prefix: 'q' });
  const p99s = [];
  console.log(`${o.server}, ${o.scenario}${o['one-dead'] ? ' (one master hung)' : ''}, ${rate} qps for ${duration} s${o['after-max'] ? ' after a full-load run' : ''}; slow = over ${slowUs} us`);
  for (let round = 0; round < Number(o.repeat); round++) {
    const port = await freePort();
    const logFile = join(dir, `server-${round}.log`);
    let child;
    if (isHoplite) {
      const env = { ...process.env };
      const flags = o['node-flags'].split(' ').filter(Boolean);
      if (o.gc) flags.push('--trace-gc');
      if (o['heap-sample']) {
        flags.push('-r', join(here, '..', 'lib', 'heap-sample.cjs'));
        env.HEAP_SAMPLE_START = String((o['after-max'] ? 8000 : 3000));
        env.HEAP_SAMPLE_MS = String(Math.min(4000, duration * 800));
        env.HEAP_SAMPLE_LIVE = o['heap-sample'] === 'live' ? '1' : '0';
        env.HEAP_SAMPLE_OUT = join(dir, `heap-${round}.txt`);
      }
      const args = [...flags, join(here, 'hoplite-server.mjs'), '--port', String(port), '--upstream', knots[0].addr];
      if (fan) args.push('--master-zone', MASTER_ZONE, '--masters', knots.map((k) => k.addr).join(','));
      if (peer.name === 'hoplite-dgram') args.push('--udp-io', 'dgram');
      child = start(o.server, process.execPath, args, { cpus: '1', env, logFile });
    } else {
      ({ child } = await peer.start({ scenario: o.scenario, dir, port, upstream: knots[0].addr, masters: knots.map((k) => k.addr), cpus: '1' }));
    }
    await waitForAnswer(port, fan ? `leader.${MASTER_ZONE}` : `fixed.${BENCH_ZONE}`, { child });
    await runDnsperf({ port, queryFile: queries, seconds: 2, rate, cpus: '0', outFile: join(dir, 'warm.out') });
    if (o['after-max']) await runDnsperf({ port, queryFile: queries, seconds: 5, cpus: '0', outFile: join(dir, 'max.out') });
    const logLines = () => {
      try {
        return readFileSync(logFile, 'utf8').split('\n');
      } catch {
        return [];
      }
    };
    const from = logLines().length;
    const pcap = join(dir, `rate-${round}.pcap`);
    const cap = o.capture ? await startCapture(pcap, [port, ...knots.map((k) => k.port)]) : undefined;
    const t0 = threads(child.pid);
    const r = await runDnsperf({ port, queryFile: queries, seconds: duration, rate, cpus: '0', verbose: true, outFile: join(dir, 'rate.out') });
    const t1 = threads(child.pid);
    const capStats = await cap?.stop();
    const gcLines = logLines().slice(from).filter((l) => /: (Scavenge|Mark-Compact|Minor)/.test(l));
    const c = clusters(join(dir, 'rate.out'));
    if (o.keep) {
      mkdirSync(o.keep, { recursive: true });
      copyFileSync(join(dir, 'rate.out'), join(o.keep, `rate-${round}.out`));
      if (cap) copyFileSync(pcap, join(o.keep, `rate-${round}.pcap`));
    }
    p99s.push(r.p99Us);
    console.log(`round ${round + 1}: p50 ${Math.round(r.p50Us)} p90 ${Math.round(r.p90Us)} p99 ${Math.round(r.p99Us)} p99.9 ${Math.round(r.p999Us)} us, lost ${r.lost}`);
    console.log(`  slow queries: ${c.slow} of ${c.of} in ${c.runs} runs; run sizes ${JSON.stringify(c.sizes)}; in runs over 10: ${c.inStalls}`);
    for (const [tid, a] of t1) {
      const b = t0.get(tid) ?? { ticks: 0, voluntary: 0, involuntary: 0 };
      const ticks = a.ticks - b.ticks;
      const inv = a.involuntary - b.involuntary;
      if (ticks > 0 || inv > 0) console.log(`  thread ${a.name} (${tid}): ${ticks} ticks, ${a.voluntary - b.voluntary} voluntary / ${inv} involuntary switches`);
    }
    if (cap) {
      const { byName, packets } = parseCapture(pcap, port, knots.map((k) => k.port));
      console.log(`  capture: ${packets} packets, ${capStats.dropped} dropped by the kernel`);
      console.log(formatDecomposition(decompose(byName, await latencyByName(join(dir, 'rate.out')), slowUs)));
    }
    if (o.gc) {
      const pauses = gcLines.map((l) => ({ kind: /Mark-Compact/.test(l) ? 'mark-compact' : 'scavenge', ms: Number((l.match(/, ([\d.]+) \/ [\d.]+ ms/) ?? [])[1]) }));
      const scav = pauses.filter((p) => p.kind === 'scavenge').map((p) => p.ms).sort((a, b) => a - b);
      const mc = pauses.filter((p) => p.kind === 'mark-compact').map((p) => p.ms);
      console.log(`  GC in the window: ${scav.length} scavenges (median ${scav.length ? median(scav) : '-'} ms, max ${scav.at(-1) ?? '-'} ms, ${scav.reduce((a, b) => a + b, 0).toFixed(1)} ms in all); mark-compacts: ${mc.length ? mc.join(', ') + ' ms' : 'none'}`);
    }
    await stop(child);
    if (o['heap-sample']) {
      try {
        console.log(readFileSync(join(dir, `heap-${round}.txt`), 'utf8').split('\n').slice(0, 16).map((l) => `  ${l}`).join('\n'));
      } catch {
        console.log('  heap-sample: no summary (the window ended before sampling did)');
      }
    }
  }
  console.log(`median p99 over ${p99s.length} rounds: ${Math.round(median(p99s))} us [${p99s.map((v) => Math.round(v)).join(', ')}]`);
} finally {
  if (o['one-dead'] && knots[2]) process.kill(knots[2].child.pid, 'SIGCONT');
  await stopAll();
  cleanup();
}
