#!/usr/bin/env node
// Where `hoplite serve`'s CPU goes while it answers VIP names: a V8 CPU profile (node --cpu-prof)
// of serve under dnsperf load, summarized by function (self and inclusive), with the per-query
// cost of each from the measured CPU us/query.
//
//   node bench/vip-zone/profile.mjs [--vips 100000] [--srv-share 0.1] [--duration 10] [--interval 200]
//        [--pool 10.64.0.0/14] [--top 30] [--keep DIR] [--mode lookups|churn]
//
// A private Redis filled with vip0..vip<n-1>; serve pinned to CPU 1 (dnsperf, Redis and this
// script on CPU 0) with --cpu-prof; after "vip zone synced" and the local copy, dnsperf at full speed
// for `duration` s on random VIP names (as scale.mjs); then SIGTERM (node writes the profile at
// exit). Only samples taken during the dnsperf window are counted. --keep copies the .cpuprofile.
// --mode churn: instead of dnsperf, one VIP allocated and released alternately every 100 ms for
// `duration` s (as scale.mjs's churn), no DNS load; costs are then per change.

import { parseArgs } from 'node:util';
import { readdirSync, readFileSync, mkdirSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { tempDir, stopAll, killAllSync, sleep, cpuTicks, CLK_TCK } from '../lib/proc.mjs';
import { summarize, profileRows } from '../lib/cpuprofile.mjs';
import { startRedis, fillStore, freezeBuild, startServe, loadWindow, writeVipQueries, metricValue, loadavg, loadVip } from './lib.mjs';

const { values: o } = parseArgs({
  options: {
    vips: { type: 'string', default: '100000' },
    'srv-share': { type: 'string', default: '0.1' },
    duration: { type: 'string', default: '10' },
    interval: { type: 'string', default: '200' },
    pool: { type: 'string', default: '10.64.0.0/14' },
    top: { type: 'string', default: '30' },
    keep: { type: 'string' },
    mode: { type: 'string', default: 'lookups' },
  },
});
const N = Number(o.vips);
const pools = [o.pool];
const duration = Number(o.duration);
const NPROC = os.cpus().length;
const pin = NPROC >= 2;
const SERVER_CPU = pin ? '1' : undefined;
const LOAD_CPU = pin ? '0' : undefined;
if (pin) execFileSync('taskset', ['-p', '-c', LOAD_CPU, String(process.pid)], { stdio: 'ignore' });
const tmp = tempDir('hoplite-vipzone-prof-');
process.on('exit', () => killAllSync());

async function main() {
  const build = freezeBuild(join(tmp.dir, 'build'));
  const redis = await startRedis(join(tmp.dir, 'redis'), { cpus: LOAD_CPU });
  const f = await fillStore({ store: redis.url, pools, to: N, workers: 4, inflight: 8, cpus: pin ? '0,1' : undefined });
  console.error(`filled ${N} VIPs in ${f.wallS.toFixed(1)} s`);
  const q = writeVipQueries(join(tmp.dir, 'q.txt'), { count: N, lines: Math.max(200000, duration * 40000), srvShare: Number(o['srv-share']) });
  const profDir = join(tmp.dir, 'prof');
  mkdirSync(profDir);
  const serve = await startServe({
    store: redis.url, pools, dir: tmp.dir, cpus: SERVER_CPU, logFile: join(tmp.dir, 'serve.log'), untilMs: 300000,
    nodeArgs: ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', String(Number(o.interval))],
  });
  await serve.waitForLog('vip zone synced', 300000);
  await sleep(3000); // the local copy is written 1 s after sync
  // The profile's clock is the process's monotonic clock in us; map the load window onto it with
  // the profile's own end: the last sample is taken just before exit, right after the window.
  const m0 = await serve.metrics();
  const w0 = performance.now();
  let r;
  if (o.mode === 'churn') {
    const { createAllocator } = await loadVip();
    const alloc = await createAllocator({ store: redis.url, pools, quarantineMs: 0 });
    const t0 = cpuTicks(serve.pid);
    let changes = 0;
    for (let i = 0; performance.now() - w0 < duration * 1000 && i < duration * 20; i++) {
      if (i % 2 === 0) await alloc.allocate('churn0', { ports: ['80/tcp'] });
      else await alloc.release('churn0');
      changes++;
      await sleep(100);
    }
    const cpuS = (cpuTicks(serve.pid) - t0) / CLK_TCK;
    await alloc.close();
    r = { completed: changes, cpuUsPerQuery: (cpuS * 1e6) / changes, qps: changes / ((performance.now() - w0) / 1000), otherOnServerCpuPct: NaN };
  } else {
    r = await loadWindow({ pid: serve.pid, port: serve.dnsPort, queryFile: q, seconds: duration, outFile: join(tmp.dir, 'max.out'), serverCpu: SERVER_CPU, loadCpu: LOAD_CPU });
  }
  const w1 = performance.now();
  const m1 = await serve.metrics();
  await serve.stop();
  const w2 = performance.now();
  const file = readdirSync(profDir).find((x) => x.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${profDir}: serve did not exit normally?\n${serve.child.output()}`);
  if (o.keep) {
    mkdirSync(o.keep, { recursive: true });
    cpSync(join(profDir, file), join(o.keep, file));
  }
  const profile = JSON.parse(readFileSync(join(profDir, file), 'utf8'));
  // Window in profile time: end of profile ~ w2; so load window = [end - (w2 - w0), end - (w2 - w1)].
  const endUs = profile.endTime;
  const fromUs = endUs - (w2 - w0) * 1000;
  const toUs = endUs - (w2 - w1) * 1000;
  const s = summarize(profile, fromUs, toUs);
  const misses = metricValue(m1, 'hoplite_dns_local_cache_misses_total') - metricValue(m0, 'hoplite_dns_local_cache_misses_total');
  const top = Number(o.top);
  const usq = r.cpuUsPerQuery;
  console.log(`Machine: ${NPROC} CPUs, ${os.cpus()[0]?.model}; Node ${process.version}; pinning: ${pin ? 'serve on cpu 1, dnsperf/redis/this on cpu 0' : 'none'}; load ${loadavg()}; ${new Date().toISOString()}; build ${build.commit}${build.uncommittedInPackages.length ? ' + uncommitted' : ''}.`);
  if (o.mode === 'churn') console.log(`${N} VIPs, churn for ${duration} s: ${r.completed} changes, ${(usq / 1000).toFixed(2)} ms CPU per change (with the profiler on; interval ${o.interval} us). The us/query column below is us per change.`);
  else console.log(`${N} VIPs, dnsperf -l ${duration} -c 4 -q 100: ${r.qps.toFixed(0)} qps, ${usq.toFixed(1)} us CPU/query (with the profiler on; interval ${o.interval} us), other load on the server cpu ${r.otherOnServerCpuPct.toFixed(0)}%, answer-cache misses ${(100 * misses / r.completed).toFixed(0)}%.`);
  console.log(`${s.total} non-idle samples in the load window.\n`);
  const rows = (m) => profileRows(m, s.total, usq, top);
  console.log('Self time:\n\n| function | % of samples | us/query |\n| --- | ---: | ---: |\n' + rows(s.self));
  console.log('\nInclusive time:\n\n| function | % of samples | us/query |\n| --- | ---: | ---: |\n' + rows(s.incl));
  await redis.stop();
}

try {
  await main();
} catch (err) {
  console.error(err.stack ?? err);
  process.exitCode = 1;
} finally {
  await stopAll();
  tmp.cleanup();
}
