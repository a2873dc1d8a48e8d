#!/usr/bin/env node
// Where Hoplite's CPU goes in the three-master fan-out (or plain forwarding): the adapter
// (hoplite-server.mjs) under dnsperf load, pinned to CPU 1, with `node --cpu-prof`, summarized by
// function (self time, and us/query from the measured CPU us/query). Without --prof it only
// measures CPU us/query (a quick A/B between builds: run it with --module for each).
//
//   node bench/dns/profile.mjs [--scenario fanout|forwarding] [--duration 5] [--warmup 1]
//        [--prof] [--interval 200] [--strace] [--perf] [--one-dead] [--top 25] [--module @hoplite/dns] [--repeat 1] [--keep DIR]
//        [--rate QPS]   (a fixed rate instead of dnsperf's maximum, e.g. 10000: the cost per wake-up)
//
// --module: the built package the adapter imports (default the workspace's @hoplite/dns: build it
// with `npx tsc -b packages/dns` first). Several modules separated by commas are measured in turn,
// interleaved, `--repeat` times each (medians printed); `peer:dnsmasq`, `peer:node-forwarder` (any
// server of servers.mjs) run that server instead, configured as run.mjs does. Masters/upstream: knotd on CPU 0, as in
// run.mjs. Only samples taken during the dnsperf window are counted.

import { parseArgs } from 'node:util';
import { readdirSync, readFileSync, mkdirSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { tempDir, stopAll, killAllSync, start, stop, cpuTicks, CLK_TCK, freePort } from '../lib/proc.mjs';
import { startKnot, BENCH_ZONE, MASTER_ZONE } from '../lib/knot.mjs';
import { writeRandomQueries, runDnsperf } from '../lib/dnsperf.mjs';
import { waitForAnswer } from '../lib/dnsprobe.mjs';
import { median } from '../lib/stats.mjs';
import { summarize, profileRows } from '../lib/cpuprofile.mjs';
import { SERVERS } from './servers.mjs';

const { values: o } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'fanout' },
    duration: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    prof: { type: 'boolean', default: false },
    interval: { type: 'string', default: '200' },
    top: { type: 'string', default: '25' },
    module: { type: 'string', default: '@hoplite/dns' },
    repeat: { type: 'string', default: '1' },
    keep: { type: 'string' },
    strace: { type: 'boolean', default: false },
    rate: { type: 'string' },
    perf: { type: 'boolean', default: false },
    'one-dead': { type: 'boolean', default: false },
    'perf-sort': { type: 'string' },
  },
});
const duration = Number(o.duration);
const pin = os.cpus().length >= 2;
const SERVER_CPU = pin ? '1' : undefined;
const LOAD_CPU = pin ? '0' : undefined;
const adapter = fileURLToPath(new URL('./hoplite-server.mjs', import.meta.url));
const { dir: tmp, cleanup } = tempDir('hoplite-dns-profile-');
process.on('SIGINT', () => { killAllSync(); process.exit(130); });

function userSys(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(rest[11]), sys: Number(rest[12]) };
}

async function one(module, env, i) {
  const port = await freePort();
  const profDir = join(tmp, `prof-${i}`);
  mkdirSync(profDir, { recursive: true });
  const nodeArgs = o.prof ? ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', o.interval] : [];
  let child;
  if (module.startsWith('peer:')) {
    // A peer or baseline of run.mjs (e.g. peer:dnsmasq, peer:node-forwarder), started as run.mjs does.
    const peer = SERVERS.find((x) => x.name === module.slice(5));
    if (!peer) throw new Error(`no server ${module.slice(5)} in servers.mjs`);
    const dir = join(tmp, `peer-${i}`);
    mkdirSync(dir, { recursive: true });
    child = peer.start({ scenario: o.scenario, port, upstream: env.upstream, masters: env.masters, dir, cpus: SERVER_CPU }).child;
  } else {
    const args = [...nodeArgs, adapter, '--port', String(port), '--upstream', env.upstream, '--module', module];
    if (env.masters) args.push('--masters', env.masters.join(','));
    child = start('hoplite', process.execPath, args, { cpus: SERVER_CPU, logFile: join(tmp, `hoplite-${i}.log`) });
  }
  const probe = o.scenario === 'fanout' ? `probe.${MASTER_ZONE}` : `probe.${BENCH_ZONE}`;
  await waitForAnswer(port, probe, { child });
  await runDnsperf({ port, queryFile: env.warm, seconds: Number(o.warmup), cpus: LOAD_CPU, outFile: join(tmp, 'warm.out') });
  const t0 = cpuTicks(child.pid);
  const s0 = userSys(child.pid);
  let strace;
  if (o.strace) {
    strace = start('strace', 'strace', ['-c', '-f', '-o', join(tmp, 'strace.txt'), '-p', String(child.pid)], { cpus: LOAD_CPU });
    await new Promise((r) => setTimeout(r, 300));
  }
  let perf;
  if (o.perf) {
    perf = start('perf', 'perf', ['record', '-q', '-F', '2000', '-o', join(tmp, `perf-${i}.data`), '-p', String(child.pid)], { cpus: LOAD_CPU });
    await new Promise((r) => setTimeout(r, 300));
  }
  const w0 = performance.now();
  const r = await runDnsperf({ port, queryFile: env.max, seconds: duration, cpus: LOAD_CPU, outFile: join(tmp, 'max.out'), ...(o.rate ? { rate: Number(o.rate) } : {}) });
  const w1 = performance.now();
  const cpuS = (cpuTicks(child.pid) - t0) / CLK_TCK;
  const s1 = userSys(child.pid);
  if (perf) {
    perf.proc.kill('SIGINT');
    await perf.exited;
    const { execFileSync } = await import('node:child_process');
    const rep = execFileSync('perf', ['report', '-i', join(tmp, `perf-${i}.data`), '--stdio', '--no-children', '--sort', o['perf-sort'] ?? 'dso,sym', '--percent-limit', '0.5'], { maxBuffer: 1 << 26 }).toString();
    console.log(rep.split('\n').filter((l) => l && !l.startsWith('#')).slice(0, 60).join('\n'));
  }
  if (strace) {
    strace.proc.kill('SIGINT');
    await strace.exited;
    const lines = readFileSync(join(tmp, 'strace.txt'), 'utf8').split('\n').filter((l) => /^\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+/.test(l));
    console.log(lines.map((l) => { const f = l.trim().split(/\s+/); return `${f[f.length - 1]}: ${(Number(f[3]) / r.completed).toFixed(2)}/q`; }).join(', '));
  }
  await stop(child);
  const w2 = performance.now();
  const us = (cpuS * 1e6) / r.completed;
  console.log(`  user ${(((s1.user - s0.user) / CLK_TCK) * 1e6 / r.completed).toFixed(1)} us/q, sys ${(((s1.sys - s0.sys) / CLK_TCK) * 1e6 / r.completed).toFixed(1)} us/q`);
  const out = { module, usPerQuery: us, qps: r.qps, sent: r.sent, completed: r.completed };
  if (o.prof) {
    const file = readdirSync(profDir).find((x) => x.endsWith('.cpuprofile'));
    const profile = JSON.parse(readFileSync(join(profDir, file), 'utf8'));
    if (o.keep) { mkdirSync(o.keep, { recursive: true }); cpSync(join(profDir, file), join(o.keep, file)); }
    const endUs = profile.endTime;
    const s = summarize(profile, endUs - (w2 - w0) * 1000, endUs - (w2 - w1) * 1000);
    const rows = (m) => profileRows(m, s.total, us, Number(o.top));
    out.profile = `${s.total} samples\n\nSelf:\n| function | % | us/q |\n| --- | ---: | ---: |\n${rows(s.self)}\n\nInclusive:\n| function | % | us/q |\n| --- | ---: | ---: |\n${rows(s.incl)}\n`;
  }
  return out;
}

let stoppedPid;

async function main() {
  const knots = [];
  const n = o.scenario === 'fanout' ? 3 : 1;
  for (let i = 0; i < n; i++) knots.push(await startKnot({ dir: join(tmp, `knot${i}`), cpus: LOAD_CPU, name: `knotd${i}` }));
  if (o['one-dead'] && n === 3) {
    // As run.mjs's one-dead variant: the third master holds its port and never answers.
    process.kill(knots[2].child.pid, 'SIGSTOP');
    stoppedPid = knots[2].child.pid;
  }
  const zone = o.scenario === 'fanout' ? MASTER_ZONE : BENCH_ZONE;
  const env = {
    upstream: knots[0].addr,
    masters: o.scenario === 'fanout' ? knots.map((k) => k.addr) : undefined,
    warm: writeRandomQueries(join(tmp, 'warm.txt'), { zone, count: 200000, prefix: 'w', seed: 11 }),
    max: writeRandomQueries(join(tmp, 'max.txt'), { zone, count: Math.max(400000, duration * 60000), prefix: 'm', seed: 12 }),
  };
  const modules = o.module.split(',');
  const results = new Map(modules.map((m) => [m, []]));
  let i = 0;
  for (let r = 0; r < Number(o.repeat); r++) {
    for (const m of modules) {
      const res = await one(m, env, i++);
      results.get(m).push(res);
      console.log(`${m}: ${res.usPerQuery.toFixed(2)} us/q, ${Math.round(res.qps)} qps, lost ${res.sent ? (100 * (res.sent - res.completed) / res.sent).toFixed(2) : '?'}%`);
      if (res.profile) console.log(res.profile);
    }
  }
  for (const [m, rs] of results) console.log(`median ${m}: ${median(rs.map((x) => x.usPerQuery)).toFixed(2)} us/q [${rs.map((x) => x.usPerQuery.toFixed(1)).join(', ')}]`);
}

try {
  await main();
} finally {
  if (stoppedPid) try { process.kill(stoppedPid, 'SIGCONT'); } catch { /* gone */ }
  await stopAll();
  cleanup();
}
