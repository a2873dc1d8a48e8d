/**
 * The pools a store keeps beside its table, shared by both stores (the Redis store's init.lua
 * mirrors `decidePools`).
 *
 * A store keeps two things:
 * - the layout's fingerprint (`layoutKey`: the allocatable IPv4 ranges with their pool CIDRs),
 *   which its free space follows; older versions of Hoplite kept only this;
 * - the pool configuration it came from (`PoolConfig`), as JSON
 *   `{ "v": 1, "layout": <fingerprint>, "key": <poolConfigKey>, "config": {...} }`. The recorded
 *   fingerprint tells whether the configuration still describes the stored layout (an older
 *   Hoplite that rewrote the layout left it stale; it is then ignored, and `check` reports
 *   LAYOUT_DIFFERS).
 *
 * The stored pools are authoritative: opening with other pools adopts the stored ones unless the
 * caller asks to update them (docs/vip.md, "The stored pools").
 */
import { parseIpv4Cidr, type Ipv4Cidr } from './addr.js';
import { holes, isPrivateIpv4, layoutKey, planPools, type PoolPlan } from './pools.js';
import type { PoolConfig, PoolLayout, PoolsOutcome } from './types.js';

/** The warning logged when a store holding other pools is opened (the stored ones are used). */
export const POOLS_ADOPTED_LOG = 'vip pools differ from the store; using the stored pools';

/** Compare two configurations: equal keys hand out the same addresses and the same AAAA. */
export function poolConfigKey(config: PoolConfig): string {
  return JSON.stringify([config.pools, config.exclude, config.ipv6Pool ?? null]);
}

/** A layout from its fingerprint (`layoutKey`). Throws on a malformed one. */
export function layoutFromFingerprint(fingerprint: string): PoolLayout {
  const raw = JSON.parse(fingerprint) as unknown;
  if (!Array.isArray(raw)) throw new Error('layout fingerprint is not a list');
  let size = 0;
  const ranges = raw.map((r: unknown) => {
    if (!Array.isArray(r) || typeof r[0] !== 'number' || typeof r[1] !== 'number' || typeof r[2] !== 'string' || r[1] < r[0]) {
      throw new Error(`layout fingerprint range ${JSON.stringify(r)} is malformed`);
    }
    size += r[1] - r[0] + 1;
    return Object.freeze({ start: r[0], end: r[1], cidr: r[2] });
  });
  return Object.freeze({ ranges: Object.freeze(ranges), size });
}

/** The stored form of a layout's configuration, or undefined when the layout has none. */
export function encodeStoredPools(layout: PoolLayout): string | undefined {
  if (layout.config === undefined) return undefined;
  return JSON.stringify({ v: 1, layout: layoutKey(layout), key: poolConfigKey(layout.config), config: layout.config });
}

/** The configuration key recorded in stored pools when they describe the layout `fingerprint`
 *  (the quick test init.lua makes too), else undefined. */
export function storedPoolsKey(text: string | null | undefined, fingerprint: string): string | undefined {
  if (typeof text !== 'string' || text === '') return undefined;
  try {
    const o = JSON.parse(text) as { layout?: unknown; key?: unknown };
    return o !== null && typeof o === 'object' && o.layout === fingerprint && typeof o.key === 'string' ? o.key : undefined;
  } catch {
    return undefined;
  }
}

/**
 * What a store follows, from what it holds: the layout planned from the stored configuration when
 * that describes the stored layout, else the bare layout of the fingerprint (no `config`).
 * `consistent` is false when a configuration is stored but does not describe the layout.
 */
export function storedLayout(fingerprint: string, poolsText: string | null | undefined): { layout: PoolLayout; consistent: boolean } {
  if (storedPoolsKey(poolsText, fingerprint) !== undefined) {
    try {
      const o = JSON.parse(poolsText as string) as { key: string; config: PoolConfig };
      const plan = planPools(o.config);
      if (layoutKey(plan.layout) === fingerprint && poolConfigKey(plan.config) === o.key) return { layout: plan.layout, consistent: true };
    } catch {
      // A stored configuration that does not plan: ignored, as if stale.
    }
  }
  const consistent = typeof poolsText !== 'string' || poolsText === '';
  return { layout: layoutFromFingerprint(fingerprint), consistent };
}

export interface PoolsDecision {
  readonly outcome: PoolsOutcome;
  /** Write the given layout's ranges (and rebuild the free space). */
  readonly writeLayout: boolean;
  /** Write the given layout's configuration (or clear it when the layout has none). */
  readonly writePools: boolean;
}

/**
 * What opening a store does with the given layout. `stored`: what the store holds (undefined when
 * empty). Same pools: compared by configuration key when both sides have a configuration, else by
 * IPv4 layout (a store of an older Hoplite then gets the configuration written).
 */
export function decidePools(stored: { fingerprint: string; pools: string | null | undefined } | undefined, given: PoolLayout, update: boolean): PoolsDecision {
  if (stored === undefined) return { outcome: 'created', writeLayout: true, writePools: true };
  const fingerprint = layoutKey(given);
  const storedKey = storedPoolsKey(stored.pools, stored.fingerprint);
  const givenKey = given.config !== undefined ? poolConfigKey(given.config) : undefined;
  const same = storedKey !== undefined && givenKey !== undefined ? storedKey === givenKey : stored.fingerprint === fingerprint;
  if (same) return { outcome: 'same', writeLayout: false, writePools: givenKey !== undefined && storedKey === undefined };
  if (!update) return { outcome: 'adopted', writeLayout: false, writePools: false };
  return { outcome: 'updated', writeLayout: stored.fingerprint !== fingerprint, writePools: true };
}

/**
 * The plan of a layout a store follows: its configuration's when it has one; else (a store of an
 * older Hoplite) the pools and exclusions read back from the ranges, in address order, with
 * `ipv6Pool` (this process's) when it fits.
 */
export function planFromLayout(layout: PoolLayout, ipv6Pool?: string): PoolPlan {
  if (layout.config !== undefined) return planPools(layout.config);
  const config = configFromRanges(layout);
  if (ipv6Pool !== undefined) {
    try {
      return planPools({ ...config, ipv6Pool });
    } catch {
      // The IPv6 pool does not fit the stored IPv4 pools: no AAAA.
    }
  }
  return planPools(config);
}

/** A configuration that gives exactly `layout`'s ranges: pools in address order, no IPv6 pool. */
export function configFromRanges(layout: PoolLayout): PoolConfig {
  const pools: Ipv4Cidr[] = [];
  for (const r of layout.ranges) {
    if (pools.some((p) => p.text === r.cidr)) continue;
    const c = parseIpv4Cidr(r.cidr, true);
    if ('error' in c) throw new Error(`stored layout has a malformed pool ${r.cidr}`);
    pools.push(c);
  }
  pools.sort((a, b) => a.start - b.start);
  return {
    pools: pools.map((p) => p.text),
    exclude: holes(pools, layout.ranges),
    allowNonPrivate: pools.some((p) => !isPrivateIpv4(p.start, p.end)),
  };
}

/** The pools of a layout as a short log field: `10.0.0.0/24,10.1.0.0/24 exclude 10.0.0.7 ipv6 fd00::/64`. */
export function describePools(layout: PoolLayout): string {
  const config = layout.config;
  if (config === undefined) return `${[...new Set(layout.ranges.map((r) => r.cidr))].join(',')} (IPv4 layout only: written by an older Hoplite)`;
  const parts = [config.pools.join(',')];
  if (config.exclude.length > 0) parts.push(`exclude ${config.exclude.join(',')}`);
  if (config.ipv6Pool !== undefined) parts.push(`ipv6 ${config.ipv6Pool}`);
  return parts.join(' ');
}
