/**
 * One allocating process for the cross-process VIP tests (test/vip-*.test.ts), through the public
 * allocator with a store string, so the same child serves the embedded store and Redis:
 *
 *   node <this process's node flags> test/helpers/vip-child.ts '<json ChildConfig>'
 *
 * Prints one JSON line per event on stdout: {"t":"ready"} once the store is open; then, after a
 * "go" line on stdin, {"t":"ack","n":<name>,"a":<ipv4>} after EACH allocation has returned (the
 * store committed it), and {"t":"done","n":<count>} at the end. Errors: {"t":"error","m":...}, exit 1.
 * stdout writes to a pipe are synchronous on Linux, so an ack printed is an ack the parent gets,
 * even when this process is killed right after.
 */
import { createInterface } from 'node:readline';
import { createAllocator } from '../../packages/vip/src/index.js';

export interface ChildConfig {
  /** A store string: "embedded:<path>", "redis://...". */
  store: string;
  pools: string[];
  quarantineMs?: number;
  /** Raw names to allocate, in order. */
  names: string[];
  /** Allocations in flight at once (default 1). */
  inflight?: number;
}

const say = (msg: Record<string, unknown>): void => {
  process.stdout.write(JSON.stringify(msg) + '\n');
};

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2] ?? '{}') as ChildConfig;
  const vips = await createAllocator({
    store: cfg.store,
    pools: cfg.pools,
    quarantineMs: cfg.quarantineMs ?? 60_000,
    // Eight processes on two noisy cores: wait for the lock rather than fail.
    embedded: { busyTimeoutMs: 120_000 },
  });
  say({ t: 'ready' });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) if (line.trim() === 'go') break;
  let next = 0;
  let count = 0;
  const lane = async (): Promise<void> => {
    while (next < cfg.names.length) {
      const name = cfg.names[next++] as string;
      const { vip } = await vips.allocate(name, { ports: [{ port: 80, protocol: 'tcp' }] });
      count++;
      say({ t: 'ack', n: vip.name, a: vip.ipv4 });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, cfg.inflight ?? 1) }, lane));
  await vips.close();
  say({ t: 'done', n: count });
  lines.close();
}

main().catch((err: unknown) => {
  say({ t: 'error', m: String((err as Error)?.stack ?? err), code: (err as { code?: string })?.code });
  process.exitCode = 1;
});
