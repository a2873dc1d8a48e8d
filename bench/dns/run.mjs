#!/usr/bin/env node
// The DNS benchmark harness. See bench/README.md.
//
//   node bench/dns/run.mjs [--scenario forwarding,fanout,local] [--servers hoplite,dnsmasq,...]
//        [--runs 5] [--duration 10] [--warmup 2] [--rate 10000] [--budget 5400]
//        [--fanout-variants all-up,one-dead] [--local-names 300] [--clients 4] [--outstanding 100]
//        [--max-other 25] [--retries 2] [--quiet-wait 60] [--hoplite-build head|dist|live] [--hoplite-module M]
//        [--no-pin] [--out FILE.json]
//
// For each scenario: start the upstream(s) (knotd), then for each round start every selected server
// in turn (round-robin, Hoplite first), probe it, warm it up, and measure
//   1. max throughput: dnsperf -l <duration>          -> qps, loss, server CPU us/query, busy %
//   2. fixed rate:     dnsperf -l <duration> -Q <rate> -v -> latency percentiles, CPU us/query
// plus idle RSS (VmRSS before load) and peak RSS (VmHWM after). The server is stopped by PID after
// each run. Medians over the rounds go to stdout as Markdown and, with every raw figure, to a JSON
// file under bench/out/.

import { parseArgs } from 'node:util';
import { mkdirSync, writeFileSync, readFileSync, rmSync, existsSync, statSync, readdirSync, cpSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import {
  CLK_TCK, cpuTicks, cpuStat, windowFigures, memKb, freePort, tempDir, stop, stopAll, killAllSync, sleep, which, usage,
} from '../lib/proc.mjs';
import { waitForAnswer } from '../lib/dnsprobe.mjs';
import { runDnsperf, writeRandomQueries, writeFixedQueries } from '../lib/dnsperf.mjs';
import { startKnot, BENCH_ZONE, MASTER_ZONE, localRecords } from '../lib/knot.mjs';
import { median, table, fmt } from '../lib/stats.mjs';
import { SERVERS } from './servers.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const benchDir = resolve(here, '..');

const { values: o } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'forwarding,fanout,local' },
    servers: { type: 'string' },
    runs: { type: 'string', default: '5' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    rate: { type: 'string', default: '10000' },
    budget: { type: 'string', default: '5400' },
    'fanout-variants': { type: 'string', default: 'all-up,one-dead' },
    'local-names': { type: 'string', default: '300' },
    clients: { type: 'string', default: '4' },
    outstanding: { type: 'string', default: '100' },
    'max-other': { type: 'string', default: '25' },
    retries: { type: 'string', default: '2' },
    'quiet-wait': { type: 'string', default: '60' },
    'hoplite-module': { type: 'string' },
    'hoplite-build': { type: 'string', default: 'head' },
    'no-pin': { type: 'boolean', default: false },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (o.help) {
  console.log(usage(import.meta.url));
  process.exit(0);
}

const cfg = {
  scenarios: o.scenario.split(',').map((s) => s.trim()).filter(Boolean),
  servers: o.servers ? o.servers.split(',').map((s) => s.trim()) : undefined,
  runs: Number(o.runs),
  duration: Number(o.duration),
  warmup: Number(o.warmup),
  rate: Number(o.rate),
  budgetS: Number(o.budget),
  fanoutVariants: o['fanout-variants'].split(',').map((s) => s.trim()),
  localNames: Number(o['local-names']),
  clients: Number(o.clients),
  outstanding: Number(o.outstanding),
  pin: !o['no-pin'] && os.cpus().length >= 2,
  hopliteBuild: o['hoplite-build'],
  // A run during which something else took more than this % of the server's core is set aside as
  // "noisy" (kept in the JSON, left out of the medians) and repeated, at most `retries` times.
  maxOtherPct: Number(o['max-other']),
  retries: Number(o.retries),
  // Before each run, wait up to this many seconds for the server's core to be quiet.
  quietWaitS: Number(o['quiet-wait']),
};
for (const s of cfg.scenarios) {
  if (!['forwarding', 'fanout', 'local'].includes(s)) {
    console.error(`unknown --scenario ${s}; accepted: forwarding, fanout, local`);
    process.exit(2);
  }
}
if (!['head', 'dist', 'live'].includes(cfg.hopliteBuild)) {
  console.error(`unknown --hoplite-build ${cfg.hopliteBuild}; accepted: head, dist, live`);
  process.exit(2);
}
for (const v of cfg.fanoutVariants) {
  if (!['all-up', 'one-dead'].includes(v)) {
    console.error(`unknown --fanout-variants ${v}; accepted: all-up, one-dead`);
    process.exit(2);
  }
}
if (cfg.servers) {
  for (const s of cfg.servers) {
    if (!SERVERS.some((d) => d.name === s)) {
      console.error(`unknown server ${s}; accepted: ${SERVERS.map((d) => d.name).join(', ')}`);
      process.exit(2);
    }
  }
}
for (const [k, v] of Object.entries({ runs: cfg.runs, duration: cfg.duration, rate: cfg.rate, budget: cfg.budgetS })) {
  if (!(v > 0)) {
    console.error(`--${k} must be a positive number, got ${v}`);
    process.exit(2);
  }
}

/** Where freezeHoplite() copied the build (removed at exit). */
let frozenDir;
/** The module the Hoplite adapter imports (--module): a given one, the frozen copy, or its default. */
let hopliteModule = o['hoplite-module'] && existsSync(o['hoplite-module']) ? resolve(o['hoplite-module']) : o['hoplite-module'];

// The server under test on CPU 1; dnsperf, knotd and this harness (every thread of it: -a) on CPU 0.
const SERVER_CPU = cfg.pin ? '1' : undefined;
const LOAD_CPU = cfg.pin ? '0' : undefined;
if (cfg.pin) execFileSync('taskset', ['-a', '-p', '-c', LOAD_CPU, String(process.pid)], { stdio: 'ignore' });

const t0 = Date.now();
const elapsedS = () => (Date.now() - t0) / 1000;
const log = (...a) => console.error(`[${elapsedS().toFixed(0).padStart(5)} s]`, ...a);

// ------------------------------------------------------------------ cleanup on every exit path
const tmp = tempDir();
let cleaned = false;
let aborted = false;
async function cleanup() {
  if (cleaned) return;
  cleaned = true;
  await stopAll();
  tmp.cleanup();
  if (frozenDir) rmSync(frozenDir, { recursive: true, force: true });
}
process.on('exit', () => {
  killAllSync();
  if (!cleaned) {
    tmp.cleanup();
    if (frozenDir) rmSync(frozenDir, { recursive: true, force: true });
  }
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, async () => {
    aborted = true;
    log(`${sig}: stopping every process started here`);
    await cleanup();
    process.exit(130);
  });
}

// ------------------------------------------------------------------ machine facts
function machine() {
  const sh = (cmd, args) => {
    try { return execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim(); } catch (e) { return (e.stdout?.toString() || e.stderr?.toString() || '').trim(); }
  };
  const cpuModel = (readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m) || [])[1];
  return {
    date: new Date().toISOString(),
    nproc: os.cpus().length,
    cpuModel,
    kernel: os.release(),
    node: process.version,
    knotd: sh('knotd', ['--version']).split('\n')[0],
    dnsperf: (sh('dnsperf', ['-h']).match(/Version .*/) || [''])[0],
    dnsdist: sh('dnsdist', ['--version']).split('\n')[0],
    unbound: (sh('unbound', ['-V']).match(/Version .*/) || [''])[0],
    dnsmasq: sh('dnsmasq', ['--version']).split('\n')[0],
    loadavgAtStart: readFileSync('/proc/loadavg', 'utf8').trim(),
    gitHead: sh('git', ['-C', benchDir, 'rev-parse', '--short', 'HEAD']),
    // The adapter runs the built package: when was it built, relative to its sources?
    hopliteDistBuilt: distTime('packages/dns/dist/index.js'),
    hopliteSrcNewest: newestTime('packages/dns/src'),
    pinning: cfg.pin ? `server on cpu ${SERVER_CPU}; dnsperf, knotd and the harness on cpu ${LOAD_CPU}` : 'none',
  };
}

function distTime(rel) {
  try { return statSync(join(benchDir, '..', rel)).mtime.toISOString(); } catch { return 'missing'; }
}
function newestTime(rel) {
  let newest = 0;
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  try { walk(join(benchDir, '..', rel)); } catch { return 'missing'; }
  return new Date(newest).toISOString();
}

/** busy and total ticks of one CPU from /proc/stat. */
// ------------------------------------------------------------------ query files
function queryFiles(scenario, dir) {
  if (scenario === 'local') {
    const names = localRecords(cfg.localNames).map((r) => r.name);
    const f = writeFixedQueries(join(dir, 'local.txt'), names, { repeat: 1 });
    return { warm: f, max: f, rate: f, probe: names[0], expect: /^10\.64\./ };
  }
  const zone = scenario === 'fanout' ? MASTER_ZONE : BENCH_ZONE;
  // Enough distinct names that no run wraps around (dnsperf loops over its file): ~120k qps is the
  // most dnsperf reaches on one core here.
  return {
    warm: writeRandomQueries(join(dir, `${scenario}-warm.txt`), { zone, prefix: 'w', count: Math.ceil(cfg.warmup * 120000), seed: 11 }),
    max: writeRandomQueries(join(dir, `${scenario}-max.txt`), { zone, prefix: 't', count: Math.ceil(cfg.duration * 120000), seed: 12 }),
    rate: writeRandomQueries(join(dir, `${scenario}-rate.txt`), { zone, prefix: 'l', count: Math.ceil(cfg.duration * cfg.rate * 1.2), seed: 13 }),
    probe: scenario === 'fanout' ? `leader.${MASTER_ZONE}` : `fixed.${BENCH_ZONE}`,
    expect: scenario === 'fanout' ? /^192\.0\.2\.3$/ : /^192\.0\.2\.10$/,
  };
}

// ------------------------------------------------------------------ one measured run
async function measured(child, upstreamPids, port, queryFile, extra, outFile) {
  const ticks0 = cpuTicks(child.pid);
  const up0 = upstreamPids.reduce((a, p) => a + cpuTicks(p), 0);
  const c0 = cfg.pin ? cpuStat(SERVER_CPU) : undefined;
  const w0 = process.hrtime.bigint();
  const r = await runDnsperf({
    port, queryFile, seconds: cfg.duration, cpus: LOAD_CPU, clients: cfg.clients,
    outstanding: cfg.outstanding, outFile, ...extra,
  });
  const wallS = Number(process.hrtime.bigint() - w0) / 1e9;
  const ticks = cpuTicks(child.pid) - ticks0;
  const upTicks = upstreamPids.reduce((a, p) => a + cpuTicks(p), 0) - up0;
  const c1 = cfg.pin ? cpuStat(SERVER_CPU) : undefined;
  rmSync(outFile, { force: true });
  return {
    ...windowFigures(r, { ticks, wallS, c0, c1 }),
    upstreamCpuUsPerQuery: r.completed ? ((upTicks / CLK_TCK) * 1e6) / r.completed : NaN,
  };
}

/**
 * Before a run: wait (up to `quietWaitS`) until the server's core has been quiet for a second, i.e.
 * something else used less than `maxOtherPct` of it. Returns the busy % last seen.
 */
async function waitForQuiet() {
  if (!cfg.pin || cfg.quietWaitS <= 0) return NaN;
  const until = Date.now() + cfg.quietWaitS * 1000;
  let pct;
  let waited = false;
  for (;;) {
    const a = cpuStat(SERVER_CPU);
    await sleep(1000);
    const b = cpuStat(SERVER_CPU);
    pct = (100 * (b.busy - a.busy)) / Math.max(1, b.total - a.total);
    if (pct <= cfg.maxOtherPct || Date.now() >= until) break;
    if (!waited) log(`  cpu ${SERVER_CPU} busy ${pct.toFixed(0)}% with other work; waiting up to ${cfg.quietWaitS} s for it to calm down`);
    waited = true;
  }
  return pct;
}

async function runOne(server, scenario, variant, round, env) {
  const busyBefore = await waitForQuiet();
  const port = await freePort();
  const dir = join(tmp.dir, `${scenario}-${variant}-${server.name}-r${round}`);
  mkdirSync(dir, { recursive: true });
  const ctx = {
    scenario, dir, port, upstream: env.upstream, masters: env.masters, recordsFile: env.recordsFile, cpus: SERVER_CPU,
    hopliteModule,
  };
  const { child, config } = server.start(ctx);
  const result = { server: server.name, scenario, variant, round, command: child.command, config, serverCpuBusyBeforePct: busyBefore };
  try {
    let probe;
    try {
      probe = await waitForAnswer(port, env.files.probe, { child, until: 20000 });
    } catch (err) {
      if (server.kind === 'hoplite' && err.exitCode === 3) {
        return { ...result, status: 'pending', reason: child.output().trim().split('\n').pop() };
      }
      throw err;
    }
    const addr = probe.answers.find((a) => a.type === 'A')?.data;
    if (!env.files.expect.test(String(addr))) throw new Error(`probe ${env.files.probe} answered ${addr}, expected ${env.files.expect}`);
    await sleep(500);
    result.idleRssKb = memKb(child.pid).rssKb;

    await runDnsperf({
      port, queryFile: env.files.warm, seconds: cfg.warmup, cpus: LOAD_CPU, clients: cfg.clients,
      outstanding: cfg.outstanding, outFile: join(dir, 'warm.out'),
    });
    result.max = await measured(child, env.upstreamPids, port, env.files.max, {}, join(dir, 'max.out'));
    result.rate = await measured(child, env.upstreamPids, port, env.files.rate, { rate: cfg.rate, verbose: true }, join(dir, 'rate.out'));
    result.peakRssKb = memKb(child.pid).hwmKb;
    if (!child.alive()) throw new Error(`${server.name} died during the run:\n${child.output()}`);
    result.status = 'ok';
    return result;
  } catch (err) {
    return { ...result, status: 'error', reason: String(err.message ?? err).slice(0, 2000) };
  } finally {
    await stop(child);
  }
}

// ------------------------------------------------------------------ scenarios
async function startUpstreams(scenario, variant, dir) {
  if (scenario !== 'fanout') {
    const k = await startKnot({ dir: join(dir, 'knot'), cpus: LOAD_CPU, localCount: cfg.localNames });
    return { knots: [k], upstream: k.addr, masters: [], upstreamPids: [k.child.pid], note: `knotd ${k.addr}` };
  }
  const knots = [];
  for (let i = 0; i < 3; i++) knots.push(await startKnot({ dir: join(dir, `knot${i}`), cpus: LOAD_CPU, localCount: cfg.localNames, name: `knotd-master${i}` }));
  let note = 'three knotd masters, all answering';
  if (variant === 'one-dead') {
    // The third master hangs: stopped with SIGSTOP, it holds its port and never reads, so queries
    // to it are silently lost (like a master that is down behind a firewall), not refused.
    process.kill(knots[2].child.pid, 'SIGSTOP');
    note = 'three knotd masters, the third SIGSTOPped (holds its port, never answers)';
  }
  return {
    knots,
    upstream: knots[0].addr,
    masters: knots.map((k) => k.addr),
    upstreamPids: variant === 'one-dead' ? [knots[0].child.pid, knots[1].child.pid] : knots.map((k) => k.child.pid),
    note,
  };
}

async function stopUpstreams(env) {
  for (const k of env.knots) {
    try { process.kill(k.child.pid, 'SIGCONT'); } catch { /* gone */ }
    await k.stop();
  }
}

const otherPct = (r) => Math.max(r.max.otherOnServerCpuPct, r.rate.otherOnServerCpuPct);
const noisy = (r) => cfg.pin && otherPct(r) > cfg.maxOtherPct;
const perRunS = () => cfg.warmup + 2 * cfg.duration + 10;

async function runScenario(scenario, variant, results, skipped, infos, save) {
  const dir = join(tmp.dir, `${scenario}-${variant}`);
  mkdirSync(dir, { recursive: true });
  const files = queryFiles(scenario, dir);
  let recordsFile;
  if (scenario === 'local') {
    recordsFile = join(dir, 'records.json');
    writeFileSync(recordsFile, JSON.stringify(localRecords(cfg.localNames).map((r) => ({ ...r, ttl: 5 }))));
  }
  let servers = SERVERS.filter((s) => s.scenarios.includes(scenario));
  // Opt-in servers (node-relay) run only when named in --servers.
  servers = cfg.servers ? servers.filter((s) => cfg.servers.includes(s.name)) : servers.filter((s) => !s.optIn);
  const bin = { dnsdist: 'dnsdist', unbound: 'unbound', 'unbound-ttl0': 'unbound', dnsmasq: 'dnsmasq' };
  servers = servers.filter((s) => {
    if (bin[s.name] && !which(bin[s.name])) {
      skipped.push({ scenario, variant, server: s.name, reason: `${bin[s.name]} not installed` });
      return false;
    }
    return true;
  });
  const env = await startUpstreams(scenario, variant, dir);
  Object.assign(env, { files, recordsFile });
  log(`${scenario}/${variant}: ${env.note}; servers ${servers.map((s) => s.name).join(', ')}`);
  const info = { scenario, variant, upstreams: env.note, describe: Object.fromEntries(servers.map((s) => [s.name, s.describe[scenario]])) };
  infos.push(info);
  try {
    const pending = new Set();
    for (let round = 1; round <= cfg.runs; round++) {
      for (const server of servers) {
        if (pending.has(server.name) || aborted) continue;
        if (elapsedS() + perRunS() > cfg.budgetS) {
          skipped.push({ scenario, variant, server: server.name, round, reason: `time budget of ${cfg.budgetS} s reached` });
          continue;
        }
        log(`${scenario}/${variant} round ${round}/${cfg.runs}: ${server.name}`);
        let r = await runOne(server, scenario, variant, round, env);
        for (let retry = 0; r.status === 'ok' && noisy(r) && retry < cfg.retries && elapsedS() + perRunS() <= cfg.budgetS; retry++) {
          log(`  ${server.name}: noisy run (other load on the server's cpu ${fmt(otherPct(r), 0)}% > ${cfg.maxOtherPct}%), set aside and repeated`);
          results.push({ ...r, status: 'noisy' });
          r = await runOne(server, scenario, variant, round, env);
        }
        results.push(r);
        save(false);
        if (r.status === 'pending') {
          pending.add(server.name);
          log(`  ${server.name}: pending (${r.reason})`);
        } else if (r.status === 'error') {
          log(`  ${server.name}: ERROR ${r.reason.split('\n')[0]}`);
        } else {
          log(`  ${server.name}: max ${fmt(r.max.qps, 0)} qps, ${fmt(r.max.cpuUsPerQuery)} us/q (busy ${fmt(r.max.busyPct, 0)}%, lost ${fmt(r.max.lostPct, 2)}%); `
            + `@${cfg.rate}: ${fmt(r.rate.cpuUsPerQuery)} us/q, p99 ${fmt(r.rate.p99Us, 0)} us; RSS ${fmt(r.idleRssKb / 1024)}/${fmt(r.peakRssKb / 1024)} MB`);
        }
      }
    }
  } finally {
    await stopUpstreams(env);
  }
}

// ------------------------------------------------------------------ report
function aggregate(results) {
  const groups = new Map();
  for (const r of results) {
    const key = `${r.scenario}|${r.variant}|${r.server}`;
    if (!groups.has(key)) groups.set(key, { scenario: r.scenario, variant: r.variant, server: r.server, ok: [], pending: undefined, errors: [] });
    const g = groups.get(key);
    if (r.status === 'ok') g.ok.push(r);
    else if (r.status === 'noisy') g.noisy = (g.noisy ?? 0) + 1;
    else if (r.status === 'pending') g.pending = r.reason;
    else g.errors.push(r.reason);
  }
  const rows = [];
  for (const g of groups.values()) {
    const m = (f) => median(g.ok.map(f));
    rows.push({
      scenario: g.scenario, variant: g.variant, server: g.server, runs: g.ok.length, pending: g.pending, errors: g.errors, noisyRuns: g.noisy ?? 0,
      maxQps: m((r) => r.max.qps),
      maxCpuUs: m((r) => r.max.cpuUsPerQuery),
      maxBusyPct: m((r) => r.max.busyPct),
      maxLostPct: m((r) => r.max.lostPct),
      maxAvgUs: m((r) => r.max.avgUs),
      rateQps: m((r) => r.rate.qps),
      rateCpuUs: m((r) => r.rate.cpuUsPerQuery),
      rateLostPct: m((r) => r.rate.lostPct),
      rateAvgUs: m((r) => r.rate.avgUs),
      rateStddevUs: m((r) => r.rate.stddevUs),
      p50Us: m((r) => r.rate.p50Us),
      p99Us: m((r) => r.rate.p99Us),
      p999Us: m((r) => r.rate.p999Us),
      idleRssMb: m((r) => r.idleRssKb / 1024),
      peakRssMb: m((r) => r.peakRssKb / 1024),
      upstreamCpuUs: m((r) => r.max.upstreamCpuUsPerQuery),
      otherPct: m((r) => Math.max(r.max.otherOnServerCpuPct, r.rate.otherOnServerCpuPct)),
      noerrorPct: m((r) => Math.min(r.max.noerrorPct, r.rate.noerrorPct)),
      cpuUsRuns: g.ok.map((r) => Number(r.max.cpuUsPerQuery.toFixed(2))),
      // Per round (the last good run of the round), for ratios paired within a round.
      byRound: Object.fromEntries(g.ok.map((r) => [r.round, { maxCpuUs: r.max.cpuUsPerQuery, rateCpuUs: r.rate.cpuUsPerQuery }])),
    });
  }
  return rows;
}

/** Median over the rounds both ran of (row / ref), for a per-round figure: robust to load that varies
 *  over time, since both runs of a round are minutes apart at most. */
function pairedRatio(row, ref, key) {
  if (!row || !ref || !row.byRound || !ref.byRound) return '-';
  const rs = [];
  for (const [round, v] of Object.entries(row.byRound)) {
    const w = ref.byRound[round];
    if (w && Number.isFinite(v[key]) && Number.isFinite(w[key]) && w[key] > 0) rs.push(v[key] / w[key]);
  }
  return rs.length ? `${median(rs).toFixed(2)}x` : '-';
}

function markdown(rows, infos) {
  const out = [];
  for (const info of infos) {
    const rs = rows.filter((r) => r.scenario === info.scenario && r.variant === info.variant);
    const hop = rs.find((r) => r.server === 'hoplite' && r.runs > 0);
    const ref = hop ?? rs.find((r) => r.server === 'dnsmasq' && r.runs > 0);
    const refName = ref ? ref.server : 'none';
    out.push(`### ${info.scenario}${info.scenario === 'fanout' ? ` (${info.variant})` : ''}`, '');
    out.push(`Upstream: ${info.upstreams}. Ratios are against ${refName}${hop ? '' : ' (Hoplite pending)'}: the median over rounds of the ratio between the two runs of the same round.`, '');
    out.push(table(rs, [
      { title: 'server', get: (r) => r.server, align: 'left' },
      { title: 'runs', get: (r) => (r.pending ? 'pending' : String(r.runs)) },
      { title: 'max qps', get: (r) => r.maxQps, digits: 0 },
      { title: 'CPU us/q @max', get: (r) => r.maxCpuUs, digits: 1 },
      { title: `vs ${refName} (paired)`, get: (r) => pairedRatio(r, ref, 'maxCpuUs') },
      { title: 'server busy %', get: (r) => r.maxBusyPct, digits: 0 },
      { title: 'lost % @max', get: (r) => r.maxLostPct, digits: 2 },
      { title: `CPU us/q @${cfg.rate / 1000}k`, get: (r) => r.rateCpuUs, digits: 1 },
      { title: `vs ${refName} (paired)`, get: (r) => pairedRatio(r, ref, 'rateCpuUs') },
      { title: 'p50 us', get: (r) => r.p50Us, digits: 0 },
      { title: 'p99 us', get: (r) => r.p99Us, digits: 0 },
      { title: 'p99.9 us', get: (r) => r.p999Us, digits: 0 },
      { title: `lost % @${cfg.rate / 1000}k`, get: (r) => r.rateLostPct, digits: 2 },
      { title: 'idle RSS MB', get: (r) => r.idleRssMb, digits: 1 },
      { title: 'peak RSS MB', get: (r) => r.peakRssMb, digits: 1 },
      { title: 'upstream CPU us/q', get: (r) => r.upstreamCpuUs, digits: 1 },
      { title: 'other load on server cpu %', get: (r) => r.otherPct, digits: 0 },
    ]), '');
    out.push('CPU us/q @max per run: ' + rs.filter((r) => r.runs).map((r) => `${r.server} [${r.cpuUsRuns.join(', ')}]`).join('; '), '');
    for (const r of rs) {
      if (r.pending) out.push(`- ${r.server}: pending — ${r.pending}`);
      for (const e of r.errors) out.push(`- ${r.server}: error — ${e.split('\n')[0]}`);
      if (r.noisyRuns) out.push(`- ${r.server}: ${r.noisyRuns} noisy run(s) set aside and repeated`);
      if (r.runs && r.noerrorPct < 99.9) out.push(`- ${r.server}: only ${fmt(r.noerrorPct, 2)}% of answers were NOERROR`);
    }
    for (const [name, d] of Object.entries(info.describe)) out.push(`- ${name}: ${d}`);
    out.push('');
  }
  return out.join('\n');
}

// ------------------------------------------------------------------ which Hoplite build is measured
/**
 * Other sessions edit and rebuild packages/dns while a suite runs. To measure one build throughout:
 *   head: the committed packages/dns at HEAD (git archive), compiled with tsc into bench/out/ [default];
 *   dist: a copy of packages/dns/dist as it is now;
 *   live: the workspace package itself (@hoplite/dns), whatever it is when each run starts.
 * Copies live under bench/out/ (so that their imports, pino, resolve from the repository's
 * node_modules) and are removed at exit. Returns the module path for the adapter and a description.
 */
function prepareHoplite(mode, mach) {
  const repo = resolve(benchDir, '..');
  if (mode === 'live') return { module: undefined, what: `the workspace package as built (dist ${mach.hopliteDistBuilt})` };
  frozenDir = join(benchDir, 'out', `.hoplite-dns-${process.pid}`);
  rmSync(frozenDir, { recursive: true, force: true });
  mkdirSync(frozenDir, { recursive: true });
  if (mode === 'dist') {
    const src = join(repo, 'packages', 'dns');
    if (!existsSync(join(src, 'dist', 'index.js'))) return { module: undefined, what: 'packages/dns/dist missing' };
    cpSync(join(src, 'package.json'), join(frozenDir, 'package.json'));
    cpSync(join(src, 'dist'), join(frozenDir, 'dist'), { recursive: true });
    // The udp_batch addon, at the path dist/io/udp.js loads it from (../../native/build/...).
    if (existsSync(join(src, 'native', 'build'))) cpSync(join(src, 'native', 'build'), join(frozenDir, 'native', 'build'), { recursive: true });
    return { module: join(frozenDir, 'dist', 'index.js'), what: `a copy of packages/dns/dist built ${mach.hopliteDistBuilt}` };
  }
  // head: git archive of the committed sources, compiled here.
  const commit = execFileSync('git', ['-C', repo, 'rev-parse', 'HEAD']).toString().trim();
  const tar = execFileSync('git', ['-C', repo, 'archive', commit, 'packages/dns', 'tsconfig.base.json'], { maxBuffer: 1 << 28 });
  execFileSync('tar', ['-x', '-C', frozenDir], { input: tar });
  const pkg = join(frozenDir, 'packages', 'dns');
  try {
    execFileSync(process.execPath, [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(pkg, 'tsconfig.json'),
      '--declaration', 'false', '--declarationMap', 'false', '--composite', 'false', '--sourceMap', 'false', '--incremental', 'false'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const out = `${err.stdout ?? ''}${err.stderr ?? ''}`.trim().split('\n').slice(0, 5).join(' | ');
    throw new Error(`cannot compile packages/dns at ${commit.slice(0, 10)} (use --hoplite-build dist or live): ${out}`);
  }
  // The udp_batch addon (commits that have it); without it the build runs on dgram sockets.
  let addon = '';
  if (existsSync(join(pkg, 'native', 'build.mjs'))) {
    execFileSync(process.execPath, [join(pkg, 'native', 'build.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
    addon = existsSync(join(pkg, 'native', 'build', 'Release', 'udp_batch.node')) ? ', udp_batch addon built' : ', udp_batch addon NOT built (dgram)';
  }
  return { module: join(pkg, 'dist', 'index.js'), what: `packages/dns at commit ${commit.slice(0, 10)}, compiled by the harness${addon}` };
}

// ------------------------------------------------------------------ main
async function main() {
  for (const tool of ['knotd', 'dnsperf', ...(cfg.pin ? ['taskset'] : [])]) {
    if (!which(tool)) throw new Error(`${tool} is not installed (Debian: apt-get install knot dnsperf util-linux)`);
  }
  const mach = machine();
  log(`machine: ${mach.nproc} cpus, ${mach.cpuModel}, kernel ${mach.kernel}; ${mach.pinning}`);
  const wantHoplite = cfg.servers === undefined || cfg.servers.includes('hoplite');
  if (wantHoplite && !o['hoplite-module']) {
    const h = prepareHoplite(cfg.hopliteBuild, mach);
    hopliteModule = h.module;
    mach.hoplite = h.what;
    log(`hoplite: measuring ${h.what}`);
  } else if (o['hoplite-module']) mach.hoplite = `module ${o['hoplite-module']}`;
  if (cfg.hopliteBuild === 'live' && !o['hoplite-module'] && mach.hopliteDistBuilt !== 'missing' && mach.hopliteSrcNewest > mach.hopliteDistBuilt) {
    log(`warning: packages/dns/dist (${mach.hopliteDistBuilt}) is older than its newest source (${mach.hopliteSrcNewest}); run \`npx tsc -b packages/dns\` to measure the current code`);
  }
  const results = [];
  const skipped = [];
  const infos = [];
  const outFile = o.out ?? join(benchDir, 'out', `dns-${cfg.scenarios.join('-')}-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  mkdirSync(dirname(outFile), { recursive: true });
  const header = [
    `Machine: ${mach.nproc} CPUs, ${mach.cpuModel}, Linux ${mach.kernel}, Node ${mach.node}; ${mach.date}.`,
    `Pinning: ${mach.pinning}. Load average at start: ${mach.loadavgAtStart}. Hoplite: ${mach.hoplite ?? 'not measured'}.`,
    `Each run: warm-up ${cfg.warmup} s, then dnsperf -l ${cfg.duration} -c ${cfg.clients} -q ${cfg.outstanding} -t 1 (max), then the same with -Q ${cfg.rate} -v (fixed rate). ${cfg.runs} rounds, servers interleaved; medians.`,
    '',
  ].join('\n');
  // Written after every run (so that an interrupted suite keeps what it measured) and at the end.
  const save = (final) => {
    const rows = aggregate(results);
    const md = markdown(rows, infos);
    const skippedLine = skipped.length
      ? '\nSkipped: ' + skipped.map((s) => `${s.scenario}/${s.variant}/${s.server}${s.round ? ` r${s.round}` : ''} (${s.reason})`).join('; ') + '\n'
      : '';
    writeFileSync(outFile, JSON.stringify({ complete: final, machine: mach, config: cfg, clkTck: CLK_TCK, scenarios: infos, medians: rows, runs: results, skipped, elapsedS: elapsedS() }, null, 2));
    writeFileSync(outFile.replace(/\.json$/, '.md'), header + '\n' + md + skippedLine);
    if (final) console.log(header + '\n' + md + skippedLine);
  };
  for (const scenario of cfg.scenarios) {
    const variants = scenario === 'fanout' ? cfg.fanoutVariants : ['-'];
    for (const variant of variants) await runScenario(scenario, variant, results, skipped, infos, save);
  }
  save(true);
  log(`wrote ${outFile} (and .md) in ${elapsedS().toFixed(0)} s`);
}

try {
  await main();
} catch (err) {
  console.error(err.stack ?? err);
  process.exitCode = 1;
} finally {
  await cleanup();
}
