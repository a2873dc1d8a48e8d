/**
 * One client process of the VIP benchmarks and concurrency tests (see lib.ts `WorkerPool`).
 * Prints {"type":"ready"}; then for each line of JSON (a WorkerJob) on stdin runs the job and
 * prints {"type":"done", ...WorkerResult}. Stores stay open between jobs (one per store spec).
 * When stdin ends it closes its stores and exits.
 */
import { createInterface } from 'node:readline';
import type { VipStore } from '../../packages/vip/src/types.js';
import { openStore, runJob, type WorkerJob } from './lib.js';

const stores = new Map<string, Promise<VipStore>>();

async function handle(line: string): Promise<void> {
  const job = JSON.parse(line) as WorkerJob;
  const key = JSON.stringify([job.store, job.pools, job.quarantineMs]);
  let store = stores.get(key);
  if (store === undefined) {
    store = openStore(job.store, job.pools, job.quarantineMs);
    stores.set(key, store);
  }
  const result = await runJob(await store, job);
  process.stdout.write(JSON.stringify({ type: 'done', ...result }) + '\n');
}

async function main(): Promise<void> {
  const lines = createInterface({ input: process.stdin });
  process.stdout.write(JSON.stringify({ type: 'ready' }) + '\n');
  // One job at a time, in order.
  for await (const line of lines) {
    if (line.trim() !== '') await handle(line);
  }
  for (const s of stores.values()) await (await s).close();
}

main().catch((err: unknown) => {
  process.stdout.write(JSON.stringify({ type: 'error', message: String((err as Error)?.stack ?? err) }) + '\n');
  process.exitCode = 1;
});
