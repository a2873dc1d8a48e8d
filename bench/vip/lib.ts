/**
 * Shared by the VIP benchmarks and the cross-process concurrency tests: open a store, run a job
 * of allocations or lookups, and a pool of worker processes (worker.ts) that run jobs in parallel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { preferredAddress } from '../../packages/vip/src/hash.js';
import { planPools } from '../../packages/vip/src/pools.js';
import type { VipStore } from '../../packages/vip/src/types.js';

export type StoreSpec =
  | { kind: 'redis'; url: string; keyPrefix: string }
  | { kind: 'embedded'; path: string; synchronous?: 'full' | 'normal' };

export interface WorkerJob {
  store: StoreSpec;
  pools: string[];
  quarantineMs: number;
  /** allocate: allocate each name; lookup: get each name (already allocated); release: release each. */
  op: 'allocate' | 'lookup' | 'release';
  /** Names are `<prefix><i>` + FQDN_SUFFIX for i in `indexes` (or 0..count-1 when absent). */
  prefix: string;
  indexes?: number[];
  count?: number;
  /** Requests in flight at once within this process (default 1). */
  inflight?: number;
  /** Report every name -> address (the concurrency test needs them; the bench does not). */
  report?: boolean;
  /** Stop early after this many ms (bounded loops). Default 120 s. */
  maxMs?: number;
}

export interface WorkerResult {
  ops: number;
  elapsedMs: number;
  /** CPU time of this process during the job (user + system), microseconds. */
  cpuUs: number;
  errors: number;
  firstError?: string;
  /** name -> ipv4, when `report`. */
  assigned?: Record<string, string>;
}

export const FQDN_SUFFIX = '.bench.l4lb.thisdcos.directory';

export async function openStore(spec: StoreSpec, pools: string[], quarantineMs: number): Promise<VipStore> {
  const layout = planPools({ pools }).layout;
  if (spec.kind === 'redis') {
    const { createRedisStore } = await import('../../packages/vip/src/redis/index.js');
    return createRedisStore({ url: spec.url, layout, quarantineMs, keyPrefix: spec.keyPrefix });
  }
  const { openEmbeddedStore } = await import('../../packages/vip/src/embedded/index.js');
  return openEmbeddedStore({ path: spec.path, layout, quarantineMs, ...(spec.synchronous ? { synchronous: spec.synchronous } : {}) });
}

export async function runJob(store: VipStore, job: WorkerJob): Promise<WorkerResult> {
  const layout = planPools({ pools: job.pools }).layout;
  const indexes = job.indexes ?? Array.from({ length: job.count ?? 0 }, (_, i) => i);
  const inflight = Math.max(1, job.inflight ?? 1);
  const deadline = Date.now() + (job.maxMs ?? 120_000);
  const assigned: Record<string, string> = {};
  let next = 0;
  let ops = 0;
  let errors = 0;
  let firstError: string | undefined;
  const started = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const lane = async (): Promise<void> => {
    while (next < indexes.length && Date.now() < deadline) {
      const i = indexes[next++] as number;
      const label = `${job.prefix}${i}`;
      const name = `${label}${FQDN_SUFFIX}`;
      try {
        if (job.op === 'allocate') {
          const r = await store.allocate(
            { name, label, framework: 'bench', ports: [{ port: 80, protocol: 'tcp' }], preferred: preferredAddress(name, layout) },
            Date.now(),
          );
          if (job.report) assigned[name] = r.vip.ipv4;
        } else if (job.op === 'lookup') {
          const r = await store.get(name);
          if (r === undefined) throw new Error(`lookup: ${name} not found`);
          if (job.report) assigned[name] = r.ipv4;
        } else {
          await store.release(name, Date.now());
        }
        ops++;
      } catch (err) {
        errors++;
        firstError ??= `${(err as { code?: string }).code ?? ''} ${(err as Error).message}`;
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, lane));
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  return { ops, elapsedMs, cpuUs: cpu.user + cpu.system, errors, ...(firstError !== undefined ? { firstError } : {}), ...(job.report ? { assigned } : {}) };
}

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

interface Pending {
  resolve: (r: WorkerResult) => void;
  reject: (e: Error) => void;
}

class Worker {
  readonly child: ChildProcess;
  readonly exited: Promise<void>;
  readonly ready: Promise<void>;
  #pending: Pending | undefined;
  #failed: Error | undefined;

  constructor(readonly index: number) {
    // This process's node flags: the TypeScript loader and the @hoplite/source condition.
    this.child = spawn(process.execPath, [...process.execArgv, WORKER], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    let readyResolve!: () => void;
    let readyReject!: (e: Error) => void;
    this.ready = new Promise<void>((res, rej) => {
      readyResolve = res;
      readyReject = rej;
    });
    this.ready.catch(() => undefined);
    const fail = (err: Error): void => {
      this.#failed ??= err;
      readyReject(err);
      this.#pending?.reject(err);
      this.#pending = undefined;
    };
    let buf = '';
    this.child.stdout?.setEncoding('utf8');
    this.child.stdout?.on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const msg = JSON.parse(line) as { type: string; message?: string } & WorkerResult;
        if (msg.type === 'ready') readyResolve();
        else if (msg.type === 'done') {
          const { type: _type, ...result } = msg;
          const p = this.#pending;
          this.#pending = undefined;
          p?.resolve(result);
        } else fail(new Error(`worker ${index}: ${msg.message ?? line}`));
      }
    });
    this.child.once('error', fail);
    this.child.once('exit', (code, signal) => fail(new Error(`worker ${index} exited (${code ?? signal})`)));
  }

  /** Send a job (one line of JSON); resolves with its result. */
  run(job: WorkerJob): Promise<WorkerResult> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (this.#pending) return Promise.reject(new Error(`worker ${this.index} is busy`));
    return new Promise<WorkerResult>((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.child.stdin?.write(JSON.stringify(job) + '\n');
    });
  }
}

/**
 * Worker processes that stay up across jobs (each keeps its stores open between jobs, so a run
 * measures requests, not start-up). `run(jobs)` hands one job to each of the first jobs.length
 * workers at once and resolves when all are done. `close()` ends them and awaits their exit
 * (SIGTERM by PID if one does not end by itself).
 */
export class WorkerPool {
  readonly #workers: Worker[];

  private constructor(workers: Worker[]) {
    this.#workers = workers;
  }

  static async start(n: number, timeoutMs = 120_000): Promise<WorkerPool> {
    const pool = new WorkerPool(Array.from({ length: n }, (_, i) => new Worker(i)));
    try {
      await withTimeout(Promise.all(pool.#workers.map((w) => w.ready)), timeoutMs, 'workers not ready');
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.#workers.length;
  }

  async run(jobs: readonly WorkerJob[], timeoutMs = 300_000): Promise<WorkerResult[]> {
    if (jobs.length > this.#workers.length) throw new Error(`${jobs.length} jobs for ${this.#workers.length} workers`);
    return withTimeout(Promise.all(jobs.map((job, i) => (this.#workers[i] as Worker).run(job))), timeoutMs, 'workers not done');
  }

  async close(): Promise<void> {
    for (const w of this.#workers) w.child.stdin?.end(); // the worker closes its stores and exits
    const timer = setTimeout(() => {
      for (const w of this.#workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
    }, 10_000);
    await Promise.all(this.#workers.map((w) => w.exited));
    clearTimeout(timer);
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} after ${ms} ms`)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Start `jobs.length` workers, run one job each (all at once), stop them. */
export async function runWorkers(jobs: readonly WorkerJob[], timeoutMs = 300_000): Promise<WorkerResult[]> {
  const pool = await WorkerPool.start(jobs.length, timeoutMs);
  try {
    // Open the stores first (a lookup of nothing), so that the measured job starts together.
    await pool.run(jobs.map((j) => ({ ...j, op: 'lookup' as const, indexes: [], count: 0 })), timeoutMs);
    return await pool.run(jobs, timeoutMs);
  } finally {
    await pool.close();
  }
}
