/**
 * The `store` option as a string: which store, and where.
 *
 *   embedded                      the embedded SQLite store at the default path
 *   embedded:<path>               ... at <path>
 *   file:<path>, file:///<path>   ... at <path>
 *   /abs/path.db, ./rel.db        ... at that path (absolute, or starting with ./ or ../)
 *   redis://, rediss://           Redis, standalone (plain / TLS)
 *   redis+sentinel://, rediss+sentinel://   Redis through Sentinel
 *   redis+cluster://, rediss+cluster://     Redis Cluster
 *
 * The Redis forms are parsed by the Redis store's own parser (redis/url.ts, no ioredis load).
 */
import { fileURLToPath } from 'node:url';
import { BadStoreUrlError } from './errors.js';
import { isRedisUrl, parseRedisUrl, redact, type RedisConnectionOptions } from './redis/url.js';

export type StoreSpec =
  | { readonly kind: 'embedded'; /** undefined: the default path. */ readonly path: string | undefined }
  | { readonly kind: 'redis'; readonly url: string; readonly connection: RedisConnectionOptions };

/** Parse a `store` string. Throws BadStoreUrlError (HOPLITE_VIP_BAD_STORE_URL). */
export function parseStoreSpec(text: string): StoreSpec {
  if (typeof text !== 'string') throw new BadStoreUrlError(String(text), 'not a string');
  const s = text.trim();
  if (s === '') throw new BadStoreUrlError(text, 'empty');
  if (s === 'embedded') return { kind: 'embedded', path: undefined };
  if (s.startsWith('embedded:')) {
    const path = s.slice('embedded:'.length);
    if (path === '') throw new BadStoreUrlError(text, 'no path after "embedded:"');
    return { kind: 'embedded', path };
  }
  if (s.startsWith('file:')) {
    let path: string;
    try {
      path = s.startsWith('file://') ? fileURLToPath(s) : decodeURIComponent(s.slice('file:'.length));
    } catch (err) {
      throw new BadStoreUrlError(text, `not a file URL: ${(err as Error).message}`);
    }
    if (path === '') throw new BadStoreUrlError(text, 'no path after "file:"');
    return { kind: 'embedded', path };
  }
  if (s.startsWith('/') || s.startsWith('./') || s.startsWith('../')) return { kind: 'embedded', path: s };
  if (isRedisUrl(s)) return { kind: 'redis', url: s, connection: parseRedisUrl(s) };
  if (s.startsWith('~')) throw new BadStoreUrlError(text, '"~" is not expanded here; give an absolute path');
  throw new BadStoreUrlError(redact(s), 'unknown form');
}

/** The store string with any password hidden, for logs and messages. */
export function redactStoreSpec(text: string): string {
  return isRedisUrl(text) ? redact(text) : text;
}
