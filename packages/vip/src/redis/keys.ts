/**
 * Every Redis key the store uses, built here and nowhere else.
 *
 * All keys share one hash tag, `{<keyPrefix>}`, so they live in one slot and every Lua script
 * can touch all of them on Redis Cluster. With the default prefix the keys are
 * `{hoplite:vip}:rev`, `{hoplite:vip}:vips`, ...
 *
 * The Lua scripts receive all keys, always in the order of `KEY_NAMES`, and refer to them by
 * name through a prelude generated from that order (see scripts.ts): `K.rev`, `K.vips`, ...
 */
import { BadOptionError } from '../errors.js';

export const DEFAULT_KEY_PREFIX = 'hoplite:vip';

/** What each key holds. The order is the KEYS order of every script. */
export const KEY_NAMES = [
  /** string: schema version of this layout of keys ("1"). */
  'schema',
  /** string counter: the revision, INCR'd once per change. */
  'rev',
  /** hash: name -> record JSON (the table; source of truth). */
  'vips',
  /** zset: member name, score address (unsigned int). Address -> name, per-pool counts. Derived from vips. */
  'used',
  /** zset: member "start:end", score start. Free address ranges inside the layout (inclusive). Derived. */
  'free',
  /** zset: member "start:end", score start. The allocatable ranges of the pool layout. */
  'ranges',
  /** string: the layout's fingerprint (JSON of its ranges). */
  'layout',
  /** zset: member address, score epoch ms until which it stays in quarantine. */
  'quar',
  /** hash: quarantined address -> name it was released by. */
  'qname',
  /** hash: name -> its most recently quarantined address (to give it back). */
  'qbyname',
  /** stream: the change feed, entry id `<revision>-0`, fields t (put|delete|reset), n (name), v (record JSON). */
  'feed',
  /** string: the pool configuration the layout came from (JSON, see stored-pools.ts); absent when
   *  written by an older Hoplite. Last, so older scripts' KEYS order is unchanged. */
  'pools',
] as const;

export type KeyName = (typeof KEY_NAMES)[number];

export type RedisKeys = { readonly [K in KeyName]: string } & {
  /** The hash tag shared by every key, e.g. `{hoplite:vip}`. */
  readonly tag: string;
  /** All keys in KEY_NAMES order (the KEYS argument of every script). */
  readonly all: readonly string[];
};

const PREFIX_OK = /^[A-Za-z0-9:_.-]{1,100}$/;

/** Build the key names for a prefix. The prefix may not contain braces (it becomes the hash tag). */
export function redisKeys(keyPrefix: string = DEFAULT_KEY_PREFIX): RedisKeys {
  if (!PREFIX_OK.test(keyPrefix)) {
    throw new BadOptionError('keyPrefix', keyPrefix, '1-100 characters of A-Z a-z 0-9 : _ . - (no braces: it becomes the hash tag)');
  }
  const tag = `{${keyPrefix}}`;
  const keys: Record<string, string> = {};
  for (const name of KEY_NAMES) keys[name] = `${tag}:${name}`;
  return Object.freeze({
    ...(keys as { [K in KeyName]: string }),
    tag,
    all: Object.freeze(KEY_NAMES.map((n) => keys[n] as string)),
  });
}
