/**
 * One client process of the VIP benchmarks and concurrency tests (see lib.ts `runWorkers`).
 * Usage: node <flags> bench/vip/worker.ts '<json WorkerJob>'. Prints {"type":"ready"}, waits for
 * a line "go" on stdin, runs the job, prints {"type":"done", ...WorkerResult} and exits.
 */
import { createInterface } from 'node:readline';
import { openStore, runJob, type WorkerJob } from './lib.js';

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as WorkerJob;
  const store = await openStore(job.store, job.pools, job.quarantineMs);
  const lines = createInterface({ input: process.stdin });
  const go = new Promise<void>((resolve, reject) => {
    lines.once('line', (l) => (l.trim() === 'go' ? resolve() : reject(new Error(`expected "go", got ${l}`))));
    lines.once('close', () => reject(new Error('stdin closed before "go"')));
  });
  process.stdout.write(JSON.stringify({ type: 'ready' }) + '\n');
  await go;
  lines.close();
  const result = await runJob(store, job);
  await store.close();
  process.stdout.write(JSON.stringify({ type: 'done', ...result }) + '\n');
}

main().catch((err: unknown) => {
  process.stdout.write(JSON.stringify({ type: 'error', message: String((err as Error)?.stack ?? err) }) + '\n');
  process.exitCode = 1;
});
