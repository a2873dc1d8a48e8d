/** The options of `watch` (types.ts, WatchOptions), validated once for both stores and the allocator. */
import { BadOptionError } from './errors.js';
import type { WatchOptions } from './types.js';

/** The largest `chunkSize` a watcher takes. */
export const WATCH_CHUNK_MAX = 100_000;

/** The chunk size of a watch: undefined for one 'snapshot' event; else an integer 1..WATCH_CHUNK_MAX. */
export function watchChunkSize(opts: WatchOptions | undefined): number | undefined {
  const n = opts?.chunkSize;
  if (n === undefined) return undefined;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > WATCH_CHUNK_MAX) {
    throw new BadOptionError('chunkSize', n, `an integer from 1 to ${WATCH_CHUNK_MAX}, or none (one 'snapshot' event)`);
  }
  return n;
}
