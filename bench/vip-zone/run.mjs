#!/usr/bin/env node
// The VIP-zone benchmark (issue 4, "Live, and through outages"). See bench/vip-zone/README.md.
//
//   node bench/vip-zone/run.mjs [--parts propagation,scale,cpu] [--runs 5] [--duration 10]
//        [--warmup 2] [--rate 10000] [--prop-count 300] [--prop-rounds 3] [--prop-stores redis,embedded]
//        [--prop-cap-ms 5000] [--vips 100000] [--small-vips 100] [--pool 10.64.0.0/14]
//        [--fill-workers 4] [--fill-inflight 8] [--churn 10] [--scale-variants big,small,big-nocopy]
//        [--serve-node-args "--max-semi-space-size=1 ..."] (node flags for serve in the scale part)
//        [--cpu-names 300]
//        [--cpu-servers hoplite-serve,hoplite,unbound,dnsmasq,node-idpatch,node-encode]
//        [--max-other 25] [--retries 1] [--no-pin] [--out FILE.json]
//
// Needs the built CLI (npx tsc -b packages/cli: builds @hoplite/vip and @hoplite/dns too),
// redis-server, dnsperf, knotd, taskset; unbound/dnsmasq for the peers (skipped when missing).
// Every process is started through bench/lib/proc.mjs and stopped by PID on every exit path.

import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { tempDir, stopAll, killAllSync, which, usage } from '../lib/proc.mjs';
import { writeFixedQueries } from '../lib/dnsperf.mjs';
import { startKnot, localRecords } from '../lib/knot.mjs';
import { median, table, fmt } from '../lib/stats.mjs';
import { startRedis, fillStore, writeVipQueries, machine, loadavg, percentiles, freezeBuild } from './lib.mjs';
import { propagationRound } from './propagation.mjs';
import { scaleRun } from './scale.mjs';
import { CPU_SERVERS, cpuServer, cpuRun, available } from './cpu.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const { values: o } = parseArgs({
  options: {
    parts: { type: 'string', default: 'propagation,scale,cpu' },
    runs: { type: 'string', default: '5' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    rate: { type: 'string', default: '10000' },
    'prop-count': { type: 'string', default: '300' },
    'prop-rounds': { type: 'string', default: '3' },
    'prop-stores': { type: 'string', default: 'redis,embedded' },
    'prop-cap-ms': { type: 'string', default: '5000' },
    vips: { type: 'string', default: '100000' },
    'small-vips': { type: 'string', default: '100' },
    pool: { type: 'string', default: '10.64.0.0/14' },
    'fill-workers': { type: 'string', default: '4' },
    'fill-inflight': { type: 'string', default: '8' },
    churn: { type: 'string', default: '10' },
    'scale-variants': { type: 'string', default: 'big,small,big-nocopy' },
    'serve-node-args': { type: 'string', default: '' },
    'cpu-names': { type: 'string', default: '300' },
    'cpu-servers': { type: 'string', default: 'hoplite-serve,hoplite,unbound,dnsmasq,node-idpatch,node-encode' },
    'max-other': { type: 'string', default: '25' },
    retries: { type: 'string', default: '1' },
    'no-pin': { type: 'boolean', default: false },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (o.help) {
  console.log(usage(import.meta.url));
  process.exit(0);
}
const num = (k) => {
  const v = Number(o[k]);
  if (!(v >= 0) || !Number.isFinite(v)) {
    console.error(`--${k} must be a number >= 0, got ${o[k]}`);
    process.exit(2);
  }
  return v;
};
const cfg = {
  parts: o.parts.split(',').map((s) => s.trim()).filter(Boolean),
  runs: num('runs'), duration: num('duration'), warmup: num('warmup'), rate: num('rate'),
  propCount: num('prop-count'), propRounds: num('prop-rounds'), propCapMs: num('prop-cap-ms'),
  propStores: o['prop-stores'].split(',').map((s) => s.trim()).filter(Boolean),
  vips: num('vips'), smallVips: num('small-vips'), pools: [o.pool],
  serveNodeArgs: o['serve-node-args'].split(' ').filter(Boolean),
  scaleVariants: o['scale-variants'].split(',').map((s) => s.trim()).filter(Boolean),
  fillWorkers: num('fill-workers'), fillInflight: num('fill-inflight'), churnS: num('churn'),
  cpuNames: num('cpu-names'), cpuServers: o['cpu-servers'].split(',').map((s) => s.trim()).filter(Boolean),
  maxOther: num('max-other'), retries: num('retries'),
  pin: !o['no-pin'] && Number(execFileSync('nproc').toString().trim()) >= 2,
};
for (const p of cfg.parts) if (!['propagation', 'scale', 'cpu'].includes(p)) { console.error(`unknown part ${p}; accepted: propagation, scale, cpu`); process.exit(2); }
for (const s of cfg.scaleVariants) if (!['big', 'small', 'big-nocopy', 'big-hot'].includes(s)) { console.error(`unknown --scale-variants ${s}; accepted: big, small, big-nocopy, big-hot`); process.exit(2); }
for (const s of cfg.propStores) if (!['redis', 'embedded'].includes(s)) { console.error(`unknown --prop-stores ${s}; accepted: redis, embedded`); process.exit(2); }
for (const s of cfg.cpuServers) if (!CPU_SERVERS.includes(s)) { console.error(`unknown server ${s}; accepted: ${CPU_SERVERS.join(', ')}`); process.exit(2); }
for (const tool of ['redis-server', 'dnsperf', 'knotd', ...(cfg.pin ? ['taskset'] : [])]) {
  if (!which(tool)) { console.error(`${tool} is not installed`); process.exit(2); }
}

// The server under test on CPU 1; dnsperf, redis-server, knotd and this harness on CPU 0.
const SERVER_CPU = cfg.pin ? '1' : undefined;
const LOAD_CPU = cfg.pin ? '0' : undefined;
if (cfg.pin) execFileSync('taskset', ['-p', '-c', LOAD_CPU, String(process.pid)], { stdio: 'ignore' });

const t0 = Date.now();
const log = (...a) => console.error(`[${((Date.now() - t0) / 1000).toFixed(0).padStart(5)} s]`, ...a);
const tmp = tempDir('hoplite-vipzone-');
let cleaned = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  await stopAll();
  tmp.cleanup();
}
process.on('exit', () => { killAllSync(); if (!cleaned) tmp.cleanup(); });
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => { log(`${sig}: stopping every process started here`); await cleanup(); process.exit(130); });
}

const mach = { ...machine(), pinning: cfg.pin ? `server on cpu ${SERVER_CPU}; dnsperf, redis-server, knotd and the harness on cpu ${LOAD_CPU}` : 'none' };
const outFile = o.out ?? join(here, '..', 'out', `vip-zone-${cfg.parts.join('-')}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
mkdirSync(dirname(outFile), { recursive: true });
const build = freezeBuild(join(tmp.dir, 'build'));
const report = { machine: mach, config: cfg, commit: build.commit, build, propagation: [], scale: { fills: [], runs: [] }, cpu: { runs: [] } };
const save = () => {
  writeFileSync(outFile, JSON.stringify(report, null, 1));
  writeFileSync(outFile.replace(/\.json$/, '.md'), markdown());
};

// ------------------------------------------------------------------ parts
async function propagation() {
  for (let round = 1; round <= cfg.propRounds; round++) {
    for (const store of cfg.propStores) {
      const r = await propagationRound({
        store, count: cfg.propCount, capMs: cfg.propCapMs, dir: join(tmp.dir, `prop-${store}-${round}`), pools: cfg.pools, log, round, serverCpu: SERVER_CPU,
      });
      report.propagation.push(r);
      save();
    }
  }
}

const noisy = (r) => cfg.pin && Math.max(r.max?.otherOnServerCpuPct ?? 0, r.rate?.otherOnServerCpuPct ?? 0) > cfg.maxOther;

async function scale() {
  const big = await startRedis(join(tmp.dir, 'redis-big'), { cpus: LOAD_CPU });
  const small = await startRedis(join(tmp.dir, 'redis-small'), { cpus: LOAD_CPU });
  log(`scale: filling ${cfg.vips} VIPs (${cfg.fillWorkers} processes x ${cfg.fillInflight} in flight), pool ${cfg.pools}`);
  const fb = await fillStore({ store: big.url, pools: cfg.pools, to: cfg.vips, workers: cfg.fillWorkers, inflight: cfg.fillInflight, cpus: cfg.pin ? '0,1' : undefined });
  report.scale.fills.push({ vips: cfg.vips, ...fb, perS: cfg.vips / fb.wallS });
  log(`  filled in ${fb.wallS.toFixed(1)} s (${(cfg.vips / fb.wallS).toFixed(0)}/s); redis used_memory ${await redisMemory(big.port)}`);
  const fs = await fillStore({ store: small.url, pools: cfg.pools, to: cfg.smallVips, workers: 1, inflight: cfg.fillInflight, cpus: cfg.pin ? '0,1' : undefined });
  report.scale.fills.push({ vips: cfg.smallVips, ...fs });
  const lines = Math.max(200000, Math.ceil(cfg.duration * 40000));
  const qBig = writeVipQueries(join(tmp.dir, 'q-big.txt'), { count: cfg.vips, lines, seed: 7 });
  const qSmall = writeVipQueries(join(tmp.dir, 'q-small.txt'), { count: cfg.smallVips, lines, seed: 8 });
  // The same hot set as the small table (vip0..vip<small-1>), asked of the big table: every answer
  // is a cache hit, so only the table's size differs from the small variant.
  const qHot = writeVipQueries(join(tmp.dir, 'q-hot.txt'), { count: cfg.smallVips, lines, seed: 8 });
  const all = {
    big: { variant: `${cfg.vips} VIPs`, store: big.url, count: cfg.vips, snapshot: true, queryFile: qBig },
    small: { variant: `${cfg.smallVips} VIPs`, store: small.url, count: cfg.smallVips, snapshot: true, queryFile: qSmall },
    'big-nocopy': { variant: `${cfg.vips} VIPs, no local copy`, store: big.url, count: cfg.vips, snapshot: false, queryFile: qBig },
    'big-hot': { variant: `${cfg.vips} VIPs, queries on ${cfg.smallVips} of them`, store: big.url, count: cfg.vips, snapshot: true, queryFile: qHot },
  };
  const tag = cfg.serveNodeArgs.length ? ` (node ${cfg.serveNodeArgs.join(' ')})` : '';
  const variants = cfg.scaleVariants.map((v) => ({ ...all[v], variant: all[v].variant + tag, nodeArgs: cfg.serveNodeArgs }));
  try {
    for (let run = 1; run <= cfg.runs; run++) {
      for (const v of variants) {
        let r;
        for (let attempt = 0; attempt <= cfg.retries; attempt++) {
          log(`scale run ${run}/${cfg.runs}: ${v.variant}${attempt ? ` (repeat ${attempt})` : ''}`);
          r = await scaleRun({
            ...v, pools: cfg.pools, dir: join(tmp.dir, `scale-${run}-${v.count}-${v.snapshot}-${attempt}`), duration: cfg.duration, rate: cfg.rate,
            serverCpu: SERVER_CPU, loadCpu: LOAD_CPU, churnS: cfg.churnS, log, quiet: cfg.pin,
          });
          r.run = run;
          if (r.status !== 'ok' || !noisy(r) || attempt === cfg.retries) break;
          log(`  noisy (other load on the server cpu ${fmt(Math.max(r.max.otherOnServerCpuPct, r.rate?.otherOnServerCpuPct ?? 0), 0)}%), set aside and repeated`);
          report.scale.runs.push({ ...r, status: 'noisy' });
        }
        report.scale.runs.push(r);
        save();
        if (r.status === 'ok') {
          log(`  synced ${fmt(r.syncedMs, 0)} ms, RSS sync/settled/after load ${mb(r.rssAtSyncKb)}/${mb(r.rssSettledKb)}/${mb(r.rssAfterLoadKb)} MB, HWM ${mb(r.hwmEndKb)} MB; `
            + `max ${fmt(r.max.qps, 0)} qps ${fmt(r.max.cpuUsPerQuery)} us/q (cache miss ${fmt(r.max.cacheMissPct, 0)}%, other ${fmt(r.max.otherOnServerCpuPct, 0)}%); churn ${fmt(r.churn?.cpuPct)}% cpu`);
        } else log(`  ERROR ${r.reason.split('\n')[0]}`);
      }
    }
  } finally {
    await big.stop();
    await small.stop();
  }
}

async function redisMemory(port) {
  try {
    const info = execFileSync('redis-cli', ['-p', String(port), 'info', 'memory']).toString();
    return (info.match(/used_memory_human:(\S+)/) || [])[1];
  } catch { return '?'; }
}

async function cpu() {
  const dir = join(tmp.dir, 'cpu');
  mkdirSync(dir, { recursive: true });
  const names = localRecords(cfg.cpuNames).map((r) => r.name);
  const queryFile = writeFixedQueries(join(dir, 'local.txt'), names, { repeat: 1 });
  const recordsFile = join(dir, 'records.json');
  writeFileSync(recordsFile, JSON.stringify(localRecords(cfg.cpuNames).map((r) => ({ ...r, ttl: 5 }))));
  const knot = await startKnot({ dir: join(dir, 'knot'), cpus: LOAD_CPU, localCount: cfg.cpuNames });
  const redis = await startRedis(join(dir, 'redis'), { cpus: LOAD_CPU });
  await fillStore({ store: redis.url, pools: cfg.pools, to: cfg.cpuNames, workers: 1, inflight: 8, cpus: cfg.pin ? '0,1' : undefined });
  const servers = cfg.cpuServers.map(cpuServer).filter((s) => {
    if (available(s)) return true;
    report.cpu.skipped = [...(report.cpu.skipped ?? []), `${s.name}: ${s.bin} not installed`];
    return false;
  });
  report.cpu.describe = Object.fromEntries(servers.map((s) => [s.name, s.describe]));
  report.cpu.knot = knot.addr;
  try {
    for (let round = 1; round <= cfg.runs; round++) {
      for (const s of servers) {
        let r;
        for (let attempt = 0; attempt <= cfg.retries; attempt++) {
          log(`cpu round ${round}/${cfg.runs}: ${s.name}${attempt ? ` (repeat ${attempt})` : ''}`);
          const ctx = { dir: join(dir, `${s.name}-${round}-${attempt}`), upstream: knot.addr, recordsFile, queryFile, vipStore: redis.url, pools: cfg.pools, masters: [] };
          r = await cpuRun(s, ctx, { duration: cfg.duration, warmup: cfg.warmup, rate: cfg.rate, probeName: names[0], serverCpu: SERVER_CPU, loadCpu: LOAD_CPU, maxOther: cfg.maxOther, log });
          r.round = round;
          if (r.status !== 'ok' || !noisy(r) || attempt === cfg.retries) break;
          log(`  noisy (other load on the server cpu ${fmt(Math.max(r.max.otherOnServerCpuPct, r.rate.otherOnServerCpuPct), 0)}%), set aside and repeated`);
          report.cpu.runs.push({ ...r, status: 'noisy' });
        }
        report.cpu.runs.push(r);
        save();
        if (r.status === 'ok') {
          log(`  max ${fmt(r.max.qps, 0)} qps, ${fmt(r.max.cpuUsPerQuery)} us/q (busy ${fmt(r.max.busyPct, 0)}%, other ${fmt(r.max.otherOnServerCpuPct, 0)}%); @${cfg.rate}: ${fmt(r.rate.cpuUsPerQuery)} us/q, p99 ${fmt(r.rate.p99Us, 0)} us`);
        } else log(`  ERROR ${r.reason.split('\n')[0]}`);
      }
    }
  } finally {
    await redis.stop();
    await knot.stop();
  }
}

// ------------------------------------------------------------------ report
const mb = (kb) => fmt(kb / 1024, 1);
function markdown() {
  const out = [
    `Machine: ${mach.nproc} CPUs, ${mach.cpuModel}, ${mach.memTotal}, Node ${mach.node}; ${mach.date}.`,
    `Build under test: commit ${build.commit}${build.uncommittedInPackages.length ? ` plus uncommitted changes in ${build.uncommittedInPackages.length} package file(s)` : ''}; dist copied at ${build.frozenAt} (${Object.entries(build.packages).map(([p, v]) => `${p} built ${v.distBuilt}, newest src ${v.srcNewest}`).join('; ')}).`,
    `Pinning: ${mach.pinning}. Load average at start: ${mach.loadavg}; at this write: ${loadavg()}.`,
    '',
  ];
  if (report.propagation.length) {
    out.push('### Propagation: allocate() returned -> first correct DNS answer from another process', '');
    const rows = [];
    for (const store of cfg.propStores) {
      const rs = report.propagation.filter((r) => r.store === store);
      if (!rs.length) continue;
      const all = rs.flatMap((r) => r.latenciesMs);
      const p = percentiles(all, [50, 90, 99, 100]);
      rows.push({ store, rounds: rs.length, n: all.length, failures: rs.reduce((a, r) => a + r.failures, 0), ...p, perRoundP99: rs.map((r) => fmt(r.p99Ms, 1)).join(', '), qmax: Math.max(...rs.map((r) => r.queriesPerNameMax)) });
    }
    out.push(table(rows, [
      { title: 'store', get: (r) => r.store, align: 'left' },
      { title: 'names', get: (r) => String(r.n) },
      { title: 'not answered in cap', get: (r) => String(r.failures) },
      { title: 'p50 ms', get: (r) => r.p50, digits: 2 },
      { title: 'p90 ms', get: (r) => r.p90, digits: 2 },
      { title: 'p99 ms', get: (r) => r.p99, digits: 2 },
      { title: 'max ms', get: (r) => r.p100, digits: 2 },
      { title: 'p99 per round ms', get: (r) => r.perRoundP99 },
      { title: 'most queries for one name', get: (r) => String(r.qmax) },
    ]), '');
  }
  const sr = report.scale.runs.filter((r) => r.status === 'ok');
  if (report.scale.fills.length) {
    out.push('### Scale', '', `Fill: ${report.scale.fills.map((f) => `${f.vips} VIPs in ${fmt(f.wallS, 1)} s (${f.workers} processes x ${f.inflight} in flight)`).join('; ')}.`, '');
  }
  if (sr.length) {
    const groups = [...new Set(sr.map((r) => r.variant))];
    const rows = groups.map((v) => {
      const g = sr.filter((r) => r.variant === v);
      const m = (f) => median(g.map(f).filter((x) => x !== undefined));
      return {
        v, runs: g.length, noisy: report.scale.runs.filter((r) => r.variant === v && r.status === 'noisy').length,
        open: m((r) => r.storeOpenMs), synced: m((r) => r.syncedMs), cpuSync: m((r) => r.cpuToSyncS),
        rssSync: m((r) => r.rssAtSyncKb / 1024), rssSettled: m((r) => r.rssSettledKb / 1024), hwmSettled: m((r) => r.hwmSettledKb / 1024),
        snapMs: m((r) => (r.snapshotWrittenMs !== undefined ? r.snapshotWrittenMs - r.syncedMs : undefined)), snapBytes: m((r) => r.snapshotFileBytes),
        cpuSettle: m((r) => r.cpuSyncToSettledS * 1000), peakStep: m((r) => r.peakCpuAfterSyncPct),
        rssLoad: m((r) => r.rssAfterLoadKb / 1024), hwmLoad: m((r) => r.hwmAfterLoadKb / 1024), hwmEnd: m((r) => r.hwmEndKb / 1024),
        qps: m((r) => r.max.qps), cpuq: m((r) => r.max.cpuUsPerQuery), miss: m((r) => r.max.cacheMissPct), flushes: m((r) => r.max.cacheFlushes),
        busy: m((r) => r.max.busyPct), other: m((r) => r.max.otherOnServerCpuPct), noerror: m((r) => r.max.noerrorPct),
        rcpuq: m((r) => r.rate?.cpuUsPerQuery), p50: m((r) => r.rate?.p50Us), p99: m((r) => r.rate?.p99Us), rlost: m((r) => r.rate?.lostPct),
        idleCpu: m((r) => r.idle?.cpuPct), hwmChurn: m((r) => (r.hwmAfterChurnKb ? r.hwmAfterChurnKb / 1024 : undefined)),
        churnCpu: m((r) => r.churn?.cpuPct), churnMs: m((r) => r.churn?.cpuMsPerChange), churnWrites: m((r) => r.churn?.snapshotWritesSeen),
        cpuqRuns: g.map((r) => fmt(r.max.cpuUsPerQuery, 1)).join(', '),
      };
    });
    out.push('Start and memory (medians):', '');
    out.push(table(rows, [
      { title: 'variant', get: (r) => r.v, align: 'left' },
      { title: 'runs', get: (r) => `${r.runs}${r.noisy ? ` (+${r.noisy} noisy)` : ''}` },
      { title: 'store open ms', get: (r) => r.open, digits: 0 },
      { title: 'synced ms', get: (r) => r.synced, digits: 0 },
      { title: 'CPU to sync s', get: (r) => r.cpuSync, digits: 2 },
      { title: 'RSS at sync MB', get: (r) => r.rssSync },
      { title: 'RSS settled MB', get: (r) => r.rssSettled },
      { title: 'HWM settled MB', get: (r) => r.hwmSettled },
      { title: 'local copy written ms after sync', get: (r) => r.snapMs, digits: 0 },
      { title: 'local copy bytes', get: (r) => r.snapBytes, digits: 0 },
      { title: 'CPU sync->settled ms', get: (r) => r.cpuSettle, digits: 0 },
      { title: 'busiest 100 ms after sync %', get: (r) => r.peakStep, digits: 0 },
      { title: 'RSS after load MB', get: (r) => r.rssLoad },
      { title: 'HWM after load MB', get: (r) => r.hwmLoad },
      { title: 'HWM at end MB', get: (r) => r.hwmEnd },
    ]), '');
    out.push('Lookups (medians):', '');
    out.push(table(rows, [
      { title: 'variant', get: (r) => r.v, align: 'left' },
      { title: 'max qps', get: (r) => r.qps, digits: 0 },
      { title: 'CPU us/q @max', get: (r) => r.cpuq },
      { title: 'per run', get: (r) => r.cpuqRuns },
      { title: 'answer-cache misses %', get: (r) => r.miss, digits: 0 },
      { title: 'cache flushes', get: (r) => r.flushes, digits: 0 },
      { title: 'NOERROR %', get: (r) => r.noerror, digits: 2 },
      { title: 'busy %', get: (r) => r.busy, digits: 0 },
      { title: `CPU us/q @${cfg.rate / 1000}k`, get: (r) => r.rcpuq },
      { title: 'p50 us', get: (r) => r.p50, digits: 0 },
      { title: 'p99 us', get: (r) => r.p99, digits: 0 },
      { title: `lost % @${cfg.rate / 1000}k`, get: (r) => r.rlost, digits: 2 },
      { title: 'other load on server cpu %', get: (r) => r.other, digits: 0 },
      { title: 'idle CPU %', get: (r) => r.idleCpu, digits: 1 },
      { title: 'churn CPU %', get: (r) => r.churnCpu, digits: 1 },
      { title: 'churn CPU ms/change', get: (r) => r.churnMs, digits: 2 },
      { title: 'local copy writes during churn', get: (r) => r.churnWrites, digits: 0 },
      { title: 'HWM after churn MB', get: (r) => r.hwmChurn },
    ]), '');
  }
  const cr = report.cpu.runs.filter((r) => r.status === 'ok');
  if (cr.length) {
    const names = [...new Set(cr.map((r) => r.server))];
    const ref = 'hoplite-serve';
    const paired = (name, key) => {
      const rs = [];
      for (const r of cr.filter((x) => x.server === name)) {
        const w = cr.find((x) => x.server === ref && x.round === r.round);
        if (w) rs.push(r[key].cpuUsPerQuery / w[key].cpuUsPerQuery);
      }
      return rs.length ? `${median(rs).toFixed(2)}x` : '-';
    };
    const rows = names.map((n) => {
      const g = cr.filter((r) => r.server === n);
      const m = (f) => median(g.map(f));
      return {
        n, runs: g.length, noisy: report.cpu.runs.filter((r) => r.server === n && r.status === 'noisy').length,
        qps: m((r) => r.max.qps), cpuq: m((r) => r.max.cpuUsPerQuery), busy: m((r) => r.max.busyPct), lost: m((r) => r.max.lostPct),
        rcpuq: m((r) => r.rate.cpuUsPerQuery), p50: m((r) => r.rate.p50Us), p99: m((r) => r.rate.p99Us), rlost: m((r) => r.rate.lostPct),
        idle: m((r) => r.idleRssKb / 1024), peak: m((r) => r.peakRssKb / 1024), other: m((r) => Math.max(r.max.otherOnServerCpuPct, r.rate.otherOnServerCpuPct)),
        runsCpu: g.map((r) => fmt(r.max.cpuUsPerQuery, 1)).join(', '),
      };
    });
    out.push(`### CPU per VIP answer, one core (${cfg.cpuNames} names, A queries)`, '');
    out.push(table(rows, [
      { title: 'server', get: (r) => r.n, align: 'left' },
      { title: 'runs', get: (r) => `${r.runs}${r.noisy ? ` (+${r.noisy} noisy)` : ''}` },
      { title: 'max qps', get: (r) => r.qps, digits: 0 },
      { title: 'CPU us/q @max', get: (r) => r.cpuq },
      { title: `vs ${ref} (paired)`, get: (r) => paired(r.n, 'max') },
      { title: 'per run', get: (r) => r.runsCpu },
      { title: 'busy %', get: (r) => r.busy, digits: 0 },
      { title: 'lost % @max', get: (r) => r.lost, digits: 2 },
      { title: `CPU us/q @${cfg.rate / 1000}k`, get: (r) => r.rcpuq },
      { title: `vs ${ref} (paired)`, get: (r) => paired(r.n, 'rate') },
      { title: 'p50 us', get: (r) => r.p50, digits: 0 },
      { title: 'p99 us', get: (r) => r.p99, digits: 0 },
      { title: 'idle RSS MB', get: (r) => r.idle },
      { title: 'peak RSS MB', get: (r) => r.peak },
      { title: 'other load on server cpu %', get: (r) => r.other, digits: 0 },
    ]), '');
    for (const [n, d] of Object.entries(report.cpu.describe ?? {})) out.push(`- ${n}: ${d}`);
    out.push('');
  }
  const errs = [...report.scale.runs, ...report.cpu.runs].filter((r) => r.status === 'error');
  for (const e of errs) out.push(`- error (${e.variant ?? e.server}): ${e.reason.split('\n')[0]}`);
  for (const s of report.cpu.skipped ?? []) out.push(`- skipped ${s}`);
  return out.join('\n') + '\n';
}

async function main() {
  log(`machine: ${mach.nproc} cpus, ${mach.cpuModel}; ${mach.pinning}; load ${mach.loadavg}; build frozen from ${build.commit} into ${build.dir}`);
  for (const [p, v] of Object.entries(build.packages)) {
    if (v.srcNewest > v.distBuilt) log(`warning: packages/${p}/dist (${v.distBuilt}) is older than its newest source (${v.srcNewest}): run npx tsc -b packages/cli (run.sh does)`);
  }
  if (build.uncommittedInPackages.length) log(`note: uncommitted changes in the packages (someone's work in progress): ${build.uncommittedInPackages.join(', ')}`);
  for (const p of cfg.parts) {
    if (p === 'propagation') await propagation();
    if (p === 'scale') await scale();
    if (p === 'cpu') await cpu();
  }
  report.elapsedS = (Date.now() - t0) / 1000;
  report.loadavgAtEnd = loadavg();
  save();
  console.log(markdown());
  log(`wrote ${outFile} (and .md)`);
}

try {
  await main();
} catch (err) {
  console.error(err.stack ?? err);
  process.exitCode = 1;
} finally {
  await cleanup();
}
