/**
 * Config of the cache stage. Every duration here is in seconds, like the TTLs it bounds.
 *
 *   cache: false                                   // no cache stage at all (zero cost)
 *   cache: { maxEntries: 20000, maxTtl: 600, staleTtl: 3600 }
 */
import { ConfigError, type ConfigProblem } from '../errors.js';
import { boolOption, intOption, isObject, unknownKeys } from '../upstream/config.js';

export interface CacheConfigInput {
  readonly enabled?: boolean;
  readonly maxEntries?: number;
  readonly maxNegativeEntries?: number;
  readonly maxBytes?: number;
  readonly maxNegativeBytes?: number;
  readonly minTtl?: number;
  readonly maxTtl?: number;
  readonly maxNegativeTtl?: number;
  readonly staleTtl?: number;
  readonly staleAnswerTtl?: number;
  readonly staleRefresh?: number;
  readonly keepOnNxdomain?: number;
  readonly prefetch?: number;
  readonly prefetchPercent?: number;
}

export interface CacheConfig {
  /** false: the stage is not in the chain at all. */
  readonly enabled: boolean;
  /** Positive entries (NOERROR with answers) at most. 0: none cached. */
  readonly maxEntries: number;
  /** Negative entries (NXDOMAIN, NODATA) at most. 0: none cached. */
  readonly maxNegativeEntries: number;
  /** Estimated bytes of positive entries at most (wire + offsets + key + overhead). */
  readonly maxBytes: number;
  /** Estimated bytes of negative entries at most. */
  readonly maxNegativeBytes: number;
  /** Floor of an entry's lifetime, s (answers with TTL 0 are never cached, whatever this says). */
  readonly minTtl: number;
  /** Cap of a positive entry's lifetime and of the TTLs it serves, s. */
  readonly maxTtl: number;
  /** Cap of a negative entry's lifetime (RFC 2308: min(SOA TTL, SOA minimum) before the cap), s. */
  readonly maxNegativeTtl: number;
  /** RFC 8767: how long past its expiry an entry may still answer when the next stages fail, s. 0: off. */
  readonly staleTtl: number;
  /** TTL of the records in a stale answer, s (RFC 8767 recommends 30). */
  readonly staleAnswerTtl: number;
  /**
   * After a stale answer, the same entry answers stale at once for this long without asking the
   * next stages again (RFC 8767's failure recheck timer), s. 0: ask every time.
   */
  readonly staleRefresh: number;
  /**
   * When the next stages answer NXDOMAIN for a name whose positive entry expired less than this
   * long ago, the positive entry answers instead (stale TTL) and stays, s. 0: off (NXDOMAIN wins).
   */
  readonly keepOnNxdomain: number;
  /**
   * An entry hit at least this many times during its lifetime is asked again in the background
   * once its remaining lifetime falls to `prefetchPercent` % (on the next hit then). 0: off.
   */
  readonly prefetch: number;
  /** See `prefetch`: 1 .. 99 (% of the entry's lifetime left). */
  readonly prefetchPercent: number;
}

export const CACHE_DEFAULTS: CacheConfig = Object.freeze({
  enabled: true,
  maxEntries: 10_000,
  maxNegativeEntries: 10_000,
  maxBytes: 32 * 1024 * 1024,
  maxNegativeBytes: 8 * 1024 * 1024,
  minTtl: 0,
  maxTtl: 3600,
  maxNegativeTtl: 300,
  staleTtl: 86_400,
  staleAnswerTtl: 30,
  staleRefresh: 30,
  keepOnNxdomain: 0,
  prefetch: 0,
  prefetchPercent: 10,
});

/** Every key of `cache` (docs test). */
export const CACHE_KEYS: readonly string[] = Object.freeze(Object.keys(CACHE_DEFAULTS));

/** The config with the stage off. */
export const CACHE_DISABLED: CacheConfig = Object.freeze({ ...CACHE_DEFAULTS, enabled: false });

const MAX_TTL = 2_147_483_647; // RFC 2181 8

/**
 * Validate the `cache` key of the server config without throwing: `true` / undefined (defaults),
 * `false` (off), or an object of the keys above. Every problem is reported.
 */
export function checkCacheConfig(v: unknown): { config: CacheConfig; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  if (v === undefined || v === true) return { config: CACHE_DEFAULTS, problems };
  if (v === false) return { config: CACHE_DISABLED, problems };
  if (!isObject(v)) {
    problems.push({ key: 'cache', value: v, expected: `true, false, or an object { ${CACHE_KEYS.map((k) => `${k}?`).join(', ')} }` });
    return { config: CACHE_DEFAULTS, problems };
  }
  const p = 'cache.';
  const d = CACHE_DEFAULTS;
  unknownKeys(v, CACHE_KEYS, p, problems);
  const config: CacheConfig = Object.freeze({
    enabled: boolOption(v, 'enabled', p, d.enabled, problems),
    maxEntries: intOption(v, 'maxEntries', p, d.maxEntries, 0, 10_000_000, problems, ' entries'),
    maxNegativeEntries: intOption(v, 'maxNegativeEntries', p, d.maxNegativeEntries, 0, 10_000_000, problems, ' entries'),
    maxBytes: intOption(v, 'maxBytes', p, d.maxBytes, 0, 2 ** 40, problems, ' bytes'),
    maxNegativeBytes: intOption(v, 'maxNegativeBytes', p, d.maxNegativeBytes, 0, 2 ** 40, problems, ' bytes'),
    minTtl: intOption(v, 'minTtl', p, d.minTtl, 0, MAX_TTL, problems, ' s'),
    maxTtl: intOption(v, 'maxTtl', p, d.maxTtl, 1, MAX_TTL, problems, ' s'),
    maxNegativeTtl: intOption(v, 'maxNegativeTtl', p, d.maxNegativeTtl, 1, MAX_TTL, problems, ' s'),
    staleTtl: intOption(v, 'staleTtl', p, d.staleTtl, 0, MAX_TTL, problems, ' s (0: no stale answers)'),
    staleAnswerTtl: intOption(v, 'staleAnswerTtl', p, d.staleAnswerTtl, 1, 86_400, problems, ' s'),
    staleRefresh: intOption(v, 'staleRefresh', p, d.staleRefresh, 0, 86_400, problems, ' s (0: ask every time)'),
    keepOnNxdomain: intOption(v, 'keepOnNxdomain', p, d.keepOnNxdomain, 0, MAX_TTL, problems, ' s (0: off)'),
    prefetch: intOption(v, 'prefetch', p, d.prefetch, 0, 1_000_000, problems, ' hits (0: off)'),
    prefetchPercent: intOption(v, 'prefetchPercent', p, d.prefetchPercent, 1, 99, problems, ' %'),
  });
  if (config.minTtl > config.maxTtl) {
    problems.push({ key: `${p}minTtl`, value: config.minTtl, expected: `at most cache.maxTtl (${config.maxTtl})` });
  }
  if (config.minTtl > config.maxNegativeTtl) {
    problems.push({ key: `${p}minTtl`, value: config.minTtl, expected: `at most cache.maxNegativeTtl (${config.maxNegativeTtl})` });
  }
  return { config, problems };
}

/** checkCacheConfig, throwing ConfigError with every problem. */
export function validateCacheConfig(v: unknown): CacheConfig {
  const { config, problems } = checkCacheConfig(v);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
