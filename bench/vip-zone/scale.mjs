// Part 2, scale: `hoplite serve` started on a store that already holds `count` VIPs.
//
// One run: start serve (pinned to the server CPU) with a fresh local-copy path (or none), sample its
// CPU time and RSS every 100 ms; time to "vip zone synced" (pino's `time` of that log line - spawn
// time); RSS at sync; wait for the local snapshot copy to be written (debounced 1 s after sync) and
// 2 s more; /ready must say vipZoneSynced and vips = count; RSS and VmHWM then. Lookups: dnsperf at
// full speed for `duration` s on random VIP names (A, 10% SRV) -> qps, server CPU us/query, answer
// cache misses/flushes from /metrics, RSS after; then at a fixed rate with -v for latency. Before the
// load: idle for churnS/2 s (serve's CPU % doing nothing), then churn: one VIP allocated and released
// alternately every 100 ms for churnS s -> server CPU % and VmHWM, the cost of following changes
// (and of rewriting the local copy after them).

import { join } from 'node:path';
import { mkdirSync, existsSync, statSync } from 'node:fs';
import { cpuTicks, memKb, CLK_TCK, sleep } from '../lib/proc.mjs';
import { startServe, loadWindow, metricValue, loadavg, waitForQuiet, loadVip } from './lib.mjs';

const snapshotInfo = (p) => {
  if (!p || !existsSync(p)) return undefined;
  const s = statSync(p);
  return { size: s.size, mtimeMs: s.mtimeMs };
};

/**
 * @param {object} o
 * @param {string} o.variant      label for the report
 * @param {string} o.store        redis URL holding vip0..vip<count-1>
 * @param {number} o.count
 * @param {boolean} o.snapshot    keep the local snapshot copy (the default of serve) or not ('')
 */
export async function scaleRun({ variant, store, count, pools, dir, snapshot, queryFile, duration, rate, serverCpu, loadCpu, churnS, log, quiet, nodeArgs = [] }) {
  mkdirSync(dir, { recursive: true });
  const busyBefore = quiet ? await waitForQuiet(serverCpu, { log }) : NaN;
  const snapshotFile = snapshot ? join(dir, 'vip-snapshot.json') : '';
  const samples = [];
  let sampler;
  const spawnT = Date.now();
  let pid;
  const sample = () => {
    try {
      const m = memKb(pid);
      samples.push({ t: Date.now() - spawnT, ticks: cpuTicks(pid), rssKb: m.rssKb, hwmKb: m.hwmKb, snapshotBytes: snapshotInfo(snapshotFile)?.size ?? 0 });
    } catch { /* exited */ }
  };
  const serve = await startServe({
    store, pools, dir, cpus: serverCpu, snapshotFile, logFile: join(dir, 'serve.log'), untilMs: 300000, nodeArgs,
    onSpawn: (child) => {
      pid = child.pid;
      sampler = setInterval(sample, 100);
    },
  });
  const result = { variant, count, snapshot, nodeArgs, command: serve.command, serverCpuBusyBeforePct: busyBefore, loadavgBefore: loadavg() };
  try {
    const open = await serve.waitForLog('vip store open', 300000);
    const synced = await serve.waitForLog('vip zone synced', 300000);
    const rssAtSync = memKb(pid);
    const ticksAtSync = cpuTicks(pid);
    result.storeOpenMs = open.time - spawnT;
    result.syncedMs = synced.time - spawnT;
    result.syncedVips = synced.vips;
    result.rssAtSyncKb = rssAtSync.rssKb;
    result.hwmAtSyncKb = rssAtSync.hwmKb;
    result.cpuToSyncS = ticksAtSync / CLK_TCK;
    // The local copy: written by a 1 s debounce after the snapshot was applied.
    if (snapshot) {
      const until = Date.now() + 60000;
      let info;
      while (Date.now() < until) {
        info = snapshotInfo(snapshotFile);
        if (info && info.mtimeMs >= spawnT) break;
        await sleep(50);
      }
      if (!info) throw new Error(`no local snapshot copy written to ${snapshotFile} within 60 s of sync`);
      result.snapshotFileBytes = info.size;
      result.snapshotWrittenMs = info.mtimeMs - spawnT;
    }
    await sleep(snapshot ? 2000 : 3000);
    const ticksSettled = cpuTicks(pid);
    result.cpuSyncToSettledS = (ticksSettled - ticksAtSync) / CLK_TCK;
    const ready = await serve.ready();
    result.ready = ready;
    if (ready.vipZoneSynced !== true || ready.vips !== count) throw new Error(`/ready says ${JSON.stringify(ready)}, expected vipZoneSynced true and vips ${count}`);
    const settled = memKb(pid);
    result.rssSettledKb = settled.rssKb;
    result.hwmSettledKb = settled.hwmKb;
    clearInterval(sampler);
    sampler = undefined;
    result.timeline = samples;
    // CPU of the busiest 100 ms sampling step after sync (the local-copy write shows here).
    let peakStep = 0;
    for (let i = 1; i < samples.length; i++) {
      if (samples[i].t * 1 + spawnT < synced.time) continue;
      peakStep = Math.max(peakStep, (samples[i].ticks - samples[i - 1].ticks) / CLK_TCK / ((samples[i].t - samples[i - 1].t) / 1000));
    }
    result.peakCpuAfterSyncPct = 100 * peakStep;

    // Idle, then churn, before any DNS load: after load V8 collects the load's garbage for a while
    // (memory reducer), which would be counted as the cost of the changes.
    if (churnS > 0) {
      const i0 = cpuTicks(pid);
      const iw0 = performance.now();
      await sleep(churnS * 500);
      result.idle = { seconds: (performance.now() - iw0) / 1000, cpuPct: (100 * (cpuTicks(pid) - i0) / CLK_TCK) / ((performance.now() - iw0) / 1000) };
      result.churn = await churn({ pid, store, pools, seconds: churnS, snapshotFile });
      const c = memKb(pid);
      result.rssAfterChurnKb = c.rssKb;
      result.hwmAfterChurnKb = c.hwmKb;
    }
    const m0 = await serve.metrics();
    result.max = await loadWindow({ pid, port: serve.dnsPort, queryFile, seconds: duration, outFile: join(dir, 'max.out'), serverCpu, loadCpu });
    const m1 = await serve.metrics();
    const afterLoad = memKb(pid);
    result.rssAfterLoadKb = afterLoad.rssKb;
    result.hwmAfterLoadKb = afterLoad.hwmKb;
    const misses = metricValue(m1, 'hoplite_dns_local_cache_misses_total') - metricValue(m0, 'hoplite_dns_local_cache_misses_total');
    const flushes = metricValue(m1, 'hoplite_dns_local_cache_flushes_total') - metricValue(m0, 'hoplite_dns_local_cache_flushes_total');
    result.max.cacheMisses = misses;
    result.max.cacheMissPct = (100 * misses) / result.max.completed;
    result.max.cacheFlushes = flushes;
    if (rate) {
      result.rate = await loadWindow({ pid, port: serve.dnsPort, queryFile, seconds: duration, rate, verbose: true, outFile: join(dir, 'rate.out'), serverCpu, loadCpu });
    }
    const end = memKb(pid);
    result.rssEndKb = end.rssKb;
    result.hwmEndKb = end.hwmKb;
    if (!serve.child.alive()) throw new Error(`serve died:\n${serve.child.output()}`);
    result.status = 'ok';
    result.loadavgAfter = loadavg();
    return result;
  } catch (err) {
    return { ...result, status: 'error', reason: String(err.stack ?? err).slice(0, 3000) };
  } finally {
    if (sampler) clearInterval(sampler);
    await serve.stop();
  }
}

/** Alternately allocate and release one VIP every 100 ms for `seconds`; serve's CPU and memory. */
async function churn({ pid, store, pools, seconds, snapshotFile }) {
  const { createAllocator } = await loadVip();
  const alloc = await createAllocator({ store, pools, quarantineMs: 0 });
  try {
    const hwm0 = memKb(pid).hwmKb;
    const t0 = cpuTicks(pid);
    const w0 = performance.now();
    let changes = 0;
    let writes = 0;
    let lastMtime = snapshotInfo(snapshotFile)?.mtimeMs;
    for (let i = 0; performance.now() - w0 < seconds * 1000 && i < seconds * 20; i++) {
      if (i % 2 === 0) await alloc.allocate('churn0', { ports: ['80/tcp'] });
      else await alloc.release('churn0');
      changes++;
      const m = snapshotInfo(snapshotFile)?.mtimeMs;
      if (m !== undefined && m !== lastMtime) {
        writes++;
        lastMtime = m;
      }
      await sleep(100);
    }
    // End with the table as it was (the next run checks vips = count).
    if (changes % 2 === 1) {
      await alloc.release('churn0');
      changes++;
    }
    const wallS = (performance.now() - w0) / 1000;
    const cpuS = (cpuTicks(pid) - t0) / CLK_TCK;
    const m = memKb(pid);
    return { seconds: wallS, changes, snapshotWritesSeen: writes, cpuPct: (100 * cpuS) / wallS, cpuMsPerChange: (1000 * cpuS) / changes, hwmBeforeKb: hwm0, hwmAfterKb: m.hwmKb, rssAfterKb: m.rssKb };
  } finally {
    await alloc.close();
  }
}
