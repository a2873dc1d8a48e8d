/**
 * VIP allocator benchmark: allocations/s and lookups/s for each store (Redis, embedded), with 1
 * and 8 client processes, with the pool empty and 99% full, and a /8 to show that the cost does
 * not grow with the pool's size.
 *
 *   bench/vip/run.sh [--stores redis,embedded] [--runs 5] [--pool 10.64.0.0/16] [--big 10.0.0.0/8]
 *                    [--allocs 600] [--lookups 2000] [--propagation 300] [--no-big]
 *
 * Clients: "1" is one process with one request in flight; "8 processes" is eight processes, one
 * request in flight each, all started together (8 connections); "1 process, 8 in flight" is one
 * process with 8 requests in flight on its one connection (ioredis pipelines them; SQLite runs
 * them one after another). Each run allocates `--allocs` NEW names in all (split over the
 * processes), then looks up `--lookups` names per process. Throughput = operations / the slowest
 * process's elapsed time. Runs are interleaved (store, state, clients) and repeated; the report
 * gives the median and the spread of the runs.
 *
 * Pool states:
 * - empty: a fresh store (new key prefix / new file) for every run.
 * - full99: the pool is filled once to 99% through the normal allocation path (names hashed to
 *   their preferred address, so the free addresses are scattered); every run allocates its new
 *   names into the last 1% and releases them afterwards (quarantine 0, not timed).
 * - big empty / big full99 (--big, a /8 of 16.7 M addresses): 99% is "carved": a bench-only write
 *   that leaves one free address every 100 in the store's free-space structure, without writing
 *   16.6 M records. The allocation path reads exactly that structure (and the name's own record),
 *   so it pays what a real 99%-full /8 would: a search among 167,772 free ranges.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { planPools } from '../../packages/vip/src/pools.js';
import { redisKeys } from '../../packages/vip/src/redis/index.js';
import { startRedisServer } from '../../packages/vip/test/helpers/redis-server.js';
import { preferredAddress } from '../../packages/vip/src/hash.js';
import { FQDN_SUFFIX, openStore, runJob, WorkerPool, type StoreSpec, type WorkerJob, type WorkerResult } from './lib.js';

interface Args {
  stores: ('redis' | 'embedded')[];
  runs: number;
  pool: string;
  big: string | undefined;
  allocs: number;
  lookups: number;
  propagation: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { stores: ['redis', 'embedded'], runs: 5, pool: '10.64.0.0/16', big: '10.0.0.0/8', allocs: 600, lookups: 2000, propagation: 300 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const v = argv[i + 1];
    switch (k) {
      case '--stores':
        a.stores = (v ?? '').split(',') as Args['stores'];
        i++;
        break;
      case '--runs':
        a.runs = Number(v);
        i++;
        break;
      case '--pool':
        a.pool = v ?? a.pool;
        i++;
        break;
      case '--big':
        a.big = v;
        i++;
        break;
      case '--no-big':
        a.big = undefined;
        break;
      case '--allocs':
        a.allocs = Number(v);
        i++;
        break;
      case '--propagation':
        a.propagation = Number(v);
        i++;
        break;
      case '--lookups':
        a.lookups = Number(v);
        i++;
        break;
      default:
        throw new Error(`unknown argument ${k}`);
    }
  }
  if (!(a.propagation >= 1 && a.propagation <= 100_000)) throw new Error('propagation 1-100000');
  if (!(a.runs >= 1 && a.runs <= 50) || !(a.allocs >= 8 && a.allocs <= 1_000_000) || !(a.lookups >= 1 && a.lookups <= 1_000_000)) {
    throw new Error('runs 1-50, allocs 8-1e6, lookups 1-1e6');
  }
  return a;
}

type State = 'empty' | 'full99' | 'big-empty' | 'big-full99';
interface Sample {
  store: string;
  state: State;
  clients: string;
  op: 'allocate' | 'lookup';
  run: number;
  opsPerSec: number;
  ops: number;
  errors: number;
  /** Redis only: server-side microseconds per call (INFO commandstats: evalsha for allocations, hget for lookups). */
  serverUs?: number;
  /** CPU microseconds per operation of the client processes (user + system). */
  clientCpuUs: number;
  /** Redis only: CPU microseconds per operation of redis-server's main thread (/proc/<pid>/schedstat). */
  serverCpuUs?: number;
}

/** Client shapes: processes x requests in flight per process. */
const CLIENTS = [
  { label: '1', procs: 1, inflight: 1 },
  { label: '8 processes', procs: 8, inflight: 1 },
  { label: '1 process, 8 in flight', procs: 1, inflight: 8 },
] as const;

function throughput(results: readonly WorkerResult[]): { opsPerSec: number; ops: number; errors: number; clientCpuUs: number; firstError?: string } {
  const ops = results.reduce((n, r) => n + r.ops, 0);
  const errors = results.reduce((n, r) => n + r.errors, 0);
  const slowest = Math.max(...results.map((r) => r.elapsedMs));
  const cpu = results.reduce((n, r) => n + r.cpuUs, 0);
  const firstError = results.find((r) => r.firstError)?.firstError;
  return { opsPerSec: ops / (slowest / 1000), ops, errors, clientCpuUs: cpu / Math.max(ops, 1), ...(firstError ? { firstError } : {}) };
}

/** CPU time (ns) the task has run, from /proc/<pid>/schedstat (first field). */
function cpuNs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]);
}

function split(total: number, parts: number, from = 0): number[][] {
  const out: number[][] = Array.from({ length: parts }, () => []);
  for (let i = 0; i < total; i++) (out[i % parts] as number[]).push(from + i);
  return out;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const dir = await mkdtemp(join(tmpdir(), 'hoplite-vip-bench-'));
  const redis = args.stores.includes('redis') ? await startRedisServer() : undefined;
  const raw = redis ? new Redis(redis.port, '127.0.0.1') : undefined;
  const pool = await WorkerPool.start(8);
  const samples: Sample[] = [];
  const propagationRows: string[] = [];
  const log = (msg: string): void => void process.stderr.write(`${new Date().toISOString()} ${msg}\n`);

  const main = planPools({ pools: [args.pool] }).layout;
  const bigLayout = args.big ? planPools({ pools: [args.big] }).layout : undefined;
  const fillCount = Math.floor(main.size * 0.99);
  if (main.size - fillCount < args.allocs) throw new Error(`--allocs ${args.allocs} does not fit in the free 1% of ${args.pool} (${main.size - fillCount})`);

  let uniq = 0;
  const specFor = (store: 'redis' | 'embedded', tag: string): StoreSpec =>
    store === 'redis' ? { kind: 'redis', url: (redis as NonNullable<typeof redis>).url, keyPrefix: `bench:${tag}` } : { kind: 'embedded', path: join(dir, `${tag}.db`) };

  try {
    // The 99%-full stores, filled once through the normal allocation path.
    const full: Record<string, StoreSpec> = {};
    const bigFull: Record<string, StoreSpec> = {};
    for (const store of args.stores) {
      const spec = specFor(store, 'full99');
      const t0 = Date.now();
      if (store === 'redis') {
        const s = await openStore(spec, [args.pool], 0);
        const r = await runJob(s, { store: spec, pools: [args.pool], quarantineMs: 0, op: 'allocate', prefix: 'fill', count: fillCount, inflight: 64, maxMs: 1_800_000 });
        await s.close();
        if (r.errors > 0 || r.ops !== fillCount) throw new Error(`fill: ${r.ops} of ${fillCount}, ${r.firstError}`);
      } else {
        // Durability does not matter for the fill: synchronous=normal, then reopened as configured.
        const fast: StoreSpec = { kind: 'embedded', path: (spec as { path: string }).path, synchronous: 'normal' };
        const s = await openStore(fast, [args.pool], 0);
        const r = await runJob(s, { store: fast, pools: [args.pool], quarantineMs: 0, op: 'allocate', prefix: 'fill', count: fillCount, inflight: 1, maxMs: 1_800_000 });
        await s.close();
        if (r.errors > 0 || r.ops !== fillCount) throw new Error(`fill: ${r.ops} of ${fillCount}, ${r.firstError}`);
      }
      log(`${store}: filled ${args.pool} to ${fillCount}/${main.size} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      full[store] = spec;

      if (bigLayout) {
        const bspec = specFor(store, 'big-full99');
        const s = await openStore(bspec, [args.big as string], 0); // writes the layout
        await s.close();
        await carve(store, bspec, bigLayout.ranges[0] as { start: number; end: number }, raw);
        bigFull[store] = bspec;
        log(`${store}: carved ${args.big} to 1% free (one address in 100)`);
      }
    }

    // Propagation: allocate -> the change reaches a watcher (a second connection / handle).
    for (const store of args.stores) {
      const spec = specFor(store, 'propagation');
      const lat = await propagation(spec, [args.pool], args.propagation);
      propagationRows.push(`| ${store} | ${args.propagation} | ${pct(lat, 50).toFixed(2)} | ${pct(lat, 99).toFixed(2)} | ${Math.max(...lat).toFixed(2)} |`);
      log(`${store}: propagation p50 ${pct(lat, 50).toFixed(2)} ms, p99 ${pct(lat, 99).toFixed(2)} ms`);
    }

    for (let run = 1; run <= args.runs; run++) {
      for (const store of args.stores) {
        const states: State[] = ['empty', 'full99', ...(bigLayout ? (['big-empty', 'big-full99'] as State[]) : [])];
        for (const state of states) {
          for (const shape of CLIENTS) {
            const clients = shape.procs;
            const label = shape.label;
            const poolText = state.startsWith('big') ? (args.big as string) : args.pool;
            const spec =
              state === 'full99' ? (full[store] as StoreSpec) : state === 'big-full99' ? (bigFull[store] as StoreSpec) : specFor(store, `${state}-${++uniq}`);
            const prefix = `r${run}c${clients}x${shape.inflight}s${state}-`;
            const base: Omit<WorkerJob, 'op' | 'indexes'> = { store: spec, pools: [poolText], quarantineMs: 0, prefix, inflight: shape.inflight };
            // Open (and for a fresh store create) the store in every client before timing.
            await pool.run(Array.from({ length: clients }, () => ({ ...base, op: 'lookup' as const, indexes: [] })));
            if (store === 'redis') await raw?.config('RESETSTAT');
            let cpu0 = cpuNs(redis?.pid);
            const alloc = throughput(await pool.run(split(args.allocs, clients).map((indexes) => ({ ...base, op: 'allocate' as const, indexes }))));
            if (alloc.errors > 0) throw new Error(`${store} ${state} ${label}: ${alloc.errors} errors: ${alloc.firstError}`);
            const allocCpu = store === 'redis' ? (cpuNs(redis?.pid) - cpu0) / 1000 / alloc.ops : undefined;
            const allocUs = store === 'redis' ? await serverUs(raw as Redis, 'evalsha') : undefined;
            samples.push({
              store, state, clients: label, op: 'allocate', run, ...alloc,
              ...(allocUs !== undefined ? { serverUs: allocUs } : {}),
              ...(allocCpu !== undefined ? { serverCpuUs: allocCpu } : {}),
            });
            if (store === 'redis') await raw?.config('RESETSTAT');
            cpu0 = cpuNs(redis?.pid);
            // Lookups: the names just allocated, round robin, `lookups` per client process.
            const look = throughput(
              await pool.run(
                Array.from({ length: clients }, (_, c) => ({
                  ...base,
                  op: 'lookup' as const,
                  indexes: Array.from({ length: args.lookups }, (_, i) => (i * clients + c) % args.allocs),
                })),
              ),
            );
            if (look.errors > 0) throw new Error(`${store} ${state} ${label} lookups: ${look.errors} errors: ${look.firstError}`);
            const lookCpu = store === 'redis' ? (cpuNs(redis?.pid) - cpu0) / 1000 / look.ops : undefined;
            const lookUs = store === 'redis' ? await serverUs(raw as Redis, 'hget') : undefined;
            samples.push({
              store, state, clients: label, op: 'lookup', run, ...look,
              ...(lookUs !== undefined ? { serverUs: lookUs } : {}),
              ...(lookCpu !== undefined ? { serverCpuUs: lookCpu } : {}),
            });
            if (state === 'full99' || state === 'big-full99') {
              // Back to 99%: release this run's names (quarantine 0), not timed.
              await pool.run(split(args.allocs, clients).map((indexes) => ({ ...base, op: 'release' as const, indexes })));
            }
            log(
              `run ${run} ${store} ${state} clients=${label}: ${Math.round(alloc.opsPerSec)} alloc/s, ${Math.round(look.opsPerSec)} lookup/s` +
                ` (client CPU ${alloc.clientCpuUs.toFixed(0)} us/allocation` +
                (allocCpu !== undefined ? `, redis-server CPU ${allocCpu.toFixed(1)} us/allocation, ${lookCpu?.toFixed(1)} us/lookup` : '') +
                ')',
            );
          }
        }
      }
    }
  } finally {
    await pool.close();
    raw?.disconnect();
    await redis?.destroy();
    await rm(dir, { recursive: true, force: true });
  }

  // Report.
  const rows: string[] = [];
  rows.push(
    '| store | pool | state | clients | allocations/s | runs min-max | lookups/s | runs min-max | client CPU us/allocation | redis-server CPU us/allocation | in-script us/allocation |',
  );
  rows.push('| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const keys = [...new Set(samples.map((s) => `${s.store}|${s.state}|${s.clients}`))];
  const med: Record<string, number> = {};
  for (const key of keys) {
    const [store, state, clients] = key.split('|') as [string, State, string];
    const pick = (op: 'allocate' | 'lookup') => samples.filter((s) => s.store === store && s.state === state && s.clients === clients && s.op === op).map((s) => s.opsPerSec);
    const a = pick('allocate');
    const allocSamples = samples.filter((s) => s.store === store && s.state === state && s.clients === clients && s.op === 'allocate');
    const us = allocSamples.filter((s) => s.serverUs !== undefined).map((s) => s.serverUs as number);
    const scpu = allocSamples.filter((s) => s.serverCpuUs !== undefined).map((s) => s.serverCpuUs as number);
    const ccpu = allocSamples.map((s) => s.clientCpuUs);
    med[`${key}|cpu`] = median(ccpu) + (scpu.length ? median(scpu) : 0);
    const l = pick('lookup');
    med[`${key}|allocate`] = median(a);
    const poolText = state.startsWith('big') ? args.big : args.pool;
    const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
    rows.push(
      `| ${store} | ${poolText} | ${state.replace('big-', '')} | ${clients} | ${fmt(median(a))} | ${fmt(Math.min(...a))}-${fmt(Math.max(...a))} | ${fmt(median(l))} | ${fmt(Math.min(...l))}-${fmt(Math.max(...l))} | ${median(ccpu).toFixed(0)} | ${scpu.length ? median(scpu).toFixed(1) : '-'} | ${us.length ? median(us).toFixed(1) : '-'} |`,
    );
  }
  const ratios: string[] = [];
  for (const store of args.stores) {
    for (const { label: clients } of CLIENTS) {
      const e = med[`${store}|empty|${clients}|allocate`];
      const f = med[`${store}|full99|${clients}|allocate`];
      const ce = med[`${store}|empty|${clients}|cpu`];
      const cf = med[`${store}|full99|${clients}|cpu`];
      if (ce && cf) ratios.push(`${store}, clients ${clients}, ${args.pool}: CPU per allocation (client + server), 99%-full / empty = ${(cf / ce).toFixed(2)}`);
      const bce = med[`${store}|big-empty|${clients}|cpu`];
      const bcf = med[`${store}|big-full99|${clients}|cpu`];
      if (bce && bcf) ratios.push(`${store}, clients ${clients}, ${args.big}: CPU per allocation (client + server), 99%-full / empty = ${(bcf / bce).toFixed(2)}`);
      if (e && f) ratios.push(`${store}, clients ${clients}, ${args.pool}: an allocation into the 99%-full pool takes ${(e / f).toFixed(2)}x the time of one into the empty pool`);
      const be = med[`${store}|big-empty|${clients}|allocate`];
      const bf = med[`${store}|big-full99|${clients}|allocate`];
      if (be && bf) ratios.push(`${store}, clients ${clients}, ${args.big}: an allocation into the 99%-full pool takes ${(be / bf).toFixed(2)}x the time of one into the empty pool`);
    }
  }
  const cpu = cpus()[0]?.model ?? 'unknown';
  const model = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpu;
  const load = readFileSync('/proc/loadavg', 'utf8').trim();
  process.stdout.write(
    [
      `date: ${new Date().toISOString()}; nproc: ${cpus().length}; cpu: ${model}; loadavg at the end: ${load}`,
      `command: bench/vip/run.sh ${process.argv.slice(2).join(' ')}`,
      `runs: ${args.runs}; allocations per run: ${args.allocs} (new names, split over the clients); lookups per client per run: ${args.lookups}`,
      '',
      ...rows,
      '',
      ...ratios.map((r) => `- ${r}`),
      '',
      'Propagation: allocate() called -> the change event delivered to a watcher on another connection/handle (ms):',
      '',
      '| store | allocations | p50 | p99 | max |',
      '| --- | ---: | ---: | ---: | ---: |',
      ...propagationRows,
      '',
      'samples (JSON):',
      JSON.stringify(samples),
    ].join('\n') + '\n',
  );
}

function pct(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
}

/** Allocate `n` names one after another; for each, ms from the call to its change event at a watcher. */
async function propagation(spec: StoreSpec, pools: string[], n: number): Promise<number[]> {
  const layout = planPools({ pools }).layout;
  const writer = await openStore(spec, pools, 0);
  const reader = await openStore(spec, pools, 0);
  const waiting = new Map<string, (t: number) => void>();
  let snapshot!: () => void;
  const ready = new Promise<void>((r) => (snapshot = r));
  const w = reader.watch((e) => {
    if (e.type === 'snapshot') snapshot();
    else if (e.type === 'change') waiting.get(e.change.vip.name)?.(performance.now());
  });
  const out: number[] = [];
  try {
    await ready;
    for (let i = 0; i < n; i++) {
      const label = `prop${i}`;
      const name = `${label}${FQDN_SUFFIX}`;
      const seen = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no change event for ${name} in 10 s`)), 10_000);
        waiting.set(name, (t) => {
          clearTimeout(timer);
          resolve(t);
        });
      });
      const t0 = performance.now();
      await writer.allocate({ name, label, framework: 'bench', ports: [{ port: 80, protocol: 'tcp' }], preferred: preferredAddress(name, layout) }, Date.now());
      out.push((await seen) - t0);
      waiting.delete(name);
    }
  } finally {
    await w.close();
    await reader.close();
    await writer.close();
  }
  return out;
}

/** Server-side microseconds per call of one command since the last CONFIG RESETSTAT. */
async function serverUs(raw: Redis, command: string): Promise<number | undefined> {
  const info = await raw.info('commandstats');
  const m = new RegExp(`cmdstat_${command}:calls=(\\d+),usec=(\\d+)`).exec(info);
  return m ? Number(m[2]) / Number(m[1]) : undefined;
}

/** Bench-only: leave one free address in every 100 of `range` (see the header). */
async function carve(store: 'redis' | 'embedded', spec: StoreSpec, range: { start: number; end: number }, raw: Redis | undefined): Promise<void> {
  const holes: number[] = [];
  for (let a = range.start + 50; a <= range.end; a += 100) holes.push(a);
  if (store === 'redis') {
    const k = redisKeys((spec as { keyPrefix: string }).keyPrefix);
    const r = raw as Redis;
    await r.del(k.free);
    for (let i = 0; i < holes.length; i += 5000) {
      const args: (string | number)[] = [];
      for (const a of holes.slice(i, i + 5000)) args.push(a, `${a}:${a}`);
      await r.zadd(k.free, ...args);
    }
    return;
  }
  const { default: Database } = await import('better-sqlite3');
  const db = new Database((spec as { path: string }).path, { timeout: 10_000 });
  try {
    db.transaction(() => {
      db.prepare('DELETE FROM vip_free').run();
      const ins = db.prepare('INSERT INTO vip_free (first, last) VALUES (?, ?)');
      for (const a of holes) ins.run(a, a);
    })();
  } finally {
    db.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error)?.stack ?? String(err)}\n`);
  process.exitCode = 1;
});
