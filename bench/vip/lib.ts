/**
 * Shared by the VIP benchmarks and the cross-process concurrency tests: open a store, run a job
 * of allocations or lookups, and spawn worker processes (worker.ts) that do the same in parallel.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { preferredAddress } from '../../packages/vip/src/hash.js';
import { planPools } from '../../packages/vip/src/pools.js';
import type { VipStore } from '../../packages/vip/src/types.js';

export type StoreSpec =
  | { kind: 'redis'; url: string; keyPrefix: string }
  | { kind: 'embedded'; path: string };

export interface WorkerJob {
  store: StoreSpec;
  pools: string[];
  quarantineMs: number;
  /** allocate: allocate each name; lookup: get each name (already allocated). */
  op: 'allocate' | 'lookup';
  /** Names to use, as `<prefix><i>` for i in `indexes` (or 0..count-1 when absent). */
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
  return openEmbeddedStore({ path: spec.path, layout, quarantineMs });
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
        } else {
          const r = await store.get(name);
          if (r === undefined) throw new Error(`lookup: ${name} not found`);
          if (job.report) assigned[name] = r.ipv4;
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
  return { ops, elapsedMs, errors, ...(firstError !== undefined ? { firstError } : {}), ...(job.report ? { assigned } : {}) };
}

const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
  reject: (e: Error) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined); // observed through Promise.all below
  return { promise, resolve, reject };
}

/**
 * Run one job per worker process, all started at once (each opens its store first, then all get
 * "go"). Children run with this process's node flags (the TypeScript loader and export condition).
 * Every child is stopped by PID and awaited, also on failure or timeout.
 */
export async function runWorkers(jobs: readonly WorkerJob[], timeoutMs = 300_000): Promise<WorkerResult[]> {
  const children: { child: ChildProcess; exited: Promise<void>; ready: Deferred<void>; done: Deferred<WorkerResult> }[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    for (const [i, job] of jobs.entries()) {
      const child = spawn(process.execPath, [...process.execArgv, WORKER, JSON.stringify(job)], { stdio: ['pipe', 'pipe', 'inherit'] });
      const entry = { child, exited: new Promise<void>((r) => child.once('exit', () => r())), ready: deferred<void>(), done: deferred<WorkerResult>() };
      children.push(entry);
      const fail = (err: Error): void => {
        entry.ready.reject(err);
        entry.done.reject(err);
      };
      let buf = '';
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => {
        buf += chunk;
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const msg = JSON.parse(line) as { type: string; message?: string } & WorkerResult;
          if (msg.type === 'ready') entry.ready.resolve();
          else if (msg.type === 'done') {
            const { type: _type, ...result } = msg;
            entry.done.resolve(result);
          } else fail(new Error(`worker ${i}: ${msg.message ?? line}`));
        }
      });
      child.once('error', fail);
      child.once('exit', (code, signal) => fail(new Error(`worker ${i} exited (${code ?? signal}) before it was done`)));
    }
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`workers not done after ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([Promise.all(children.map((c) => c.ready.promise)), timeout]);
    for (const { child } of children) child.stdin?.write('go\n');
    return await Promise.race([Promise.all(children.map((c) => c.done.promise)), timeout]);
  } finally {
    clearTimeout(timer);
    for (const { child } of children) {
      child.stdin?.end();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    }
    await Promise.all(children.map((c) => c.exited));
  }
}
