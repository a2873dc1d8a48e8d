/**
 * VIP pools: which addresses may be handed out.
 *
 * - IPv4 pools are CIDRs inside RFC 1918 (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16), prefix /8 to
 *   /30, not overlapping. `allowNonPrivate: true` lets other unicast space in; loopback, link-local,
 *   0/8, multicast and 240/4 are refused always.
 * - The network and broadcast address of each pool are never handed out; `exclude` removes more
 *   (addresses or CIDRs).
 * - One optional IPv6 pool inside fd00::/8 gives AAAA records. IPv6 addresses are derived, never
 *   allocated: ipv6 = base of the IPv6 pool + offset, where offset is the IPv4 address's position in
 *   the IPv4 pools laid end to end IN CONFIGURATION ORDER, whole blocks (network and broadcast
 *   included, exclusions ignored), so that exclusions never move an AAAA and appending a pool keeps
 *   every existing AAAA. The IPv6 pool must hold at least as many addresses as the IPv4 pools.
 *
 * The result is a `PoolLayout` (what the stores get: sorted inclusive integer ranges) and the
 * IPv6 mapping.
 */
import { Address6 } from 'ip-address';
import { formatIpv4, parseIpv4Cidr, type Ipv4Cidr } from './addr.js';
import { BadPoolError } from './errors.js';
import type { PoolConfig, PoolLayout } from './types.js';

/**
 * The default pool: 172.16.0.0/16 (65,534 VIPs). Inside RFC 1918 and outside the blocks the usual
 * neighbours take by default: Docker's address pools (172.17-172.31/16, 192.168/16), DC/OS's own
 * networks (9/8 overlay, 11/8 old VIPs, 172.31.254/24 mesos-bridge), AWS's default VPC
 * (172.31/16), Kubernetes' and its CNIs' defaults (10.96/12, 10.244/16, 10.32/12, 10.42/15) and
 * GCP's auto-mode subnets (10.128/9). Change it when your network already uses it.
 */
export const DEFAULT_POOLS: readonly string[] = Object.freeze(['172.16.0.0/16']);

export interface PoolOptions {
  /** IPv4 CIDRs (default DEFAULT_POOLS). */
  pools?: readonly string[];
  /** One IPv6 CIDR inside fd00::/8 for AAAA records (default: none). */
  ipv6Pool?: string;
  /** IPv4 addresses or CIDRs never handed out. */
  exclude?: readonly string[];
  /** Allow IPv4 pools outside RFC 1918 and an IPv6 pool outside fd00::/8 (default false). */
  allowNonPrivate?: boolean;
}

export interface PoolBlock {
  /** Canonical CIDR, e.g. `172.16.0.0/16`. */
  readonly cidr: string;
  /** Network and broadcast addresses, unsigned integers. */
  readonly start: number;
  readonly end: number;
  /** Addresses that can be handed out (network, broadcast and exclusions removed). */
  readonly size: number;
  /** IPv6 offset of `start` (sum of the whole sizes of the pools before it, in configuration order). */
  readonly v6Offset: number;
}

export interface Ipv6Pool {
  readonly cidr: string;
  readonly base: bigint;
  readonly size: bigint;
}

export interface PoolPlan {
  /** The allocatable ranges; `layout.config` is `config`. */
  readonly layout: PoolLayout;
  /** The configuration in canonical form (what a store keeps; `poolConfigKey` compares two). */
  readonly config: PoolConfig;
  /** The IPv4 pools in configuration order. */
  readonly blocks: readonly PoolBlock[];
  readonly ipv6?: Ipv6Pool;
  /** Exclusions that touch no pool (ignored). */
  readonly warnings: readonly string[];
}

const PRIVATE: Ipv4Cidr[] = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16'].map((c) => parseIpv4Cidr(c, true) as Ipv4Cidr);
const NEVER: { cidr: Ipv4Cidr; what: string }[] = [
  ['0.0.0.0/8', '"this network" (0/8)'],
  ['127.0.0.0/8', 'loopback (127/8)'],
  ['169.254.0.0/16', 'link-local (169.254/16)'],
  ['224.0.0.0/4', 'multicast (224/4)'],
  ['240.0.0.0/4', 'reserved (240/4)'],
].map(([c, what]) => ({ cidr: parseIpv4Cidr(c as string, true) as Ipv4Cidr, what: what as string }));

function overlaps(a: { start: number; end: number }, b: { start: number; end: number }): boolean {
  return a.start <= b.end && b.start <= a.end;
}

/** Validate pool options and build the layout. Throws BadPoolError naming the option and value. */
export function planPools(opts: PoolOptions = {}): PoolPlan {
  const allowNonPrivate = opts.allowNonPrivate ?? false;
  if (typeof allowNonPrivate !== 'boolean') throw new BadPoolError('allowNonPrivate', allowNonPrivate, 'expected true or false');
  const poolTexts = opts.pools ?? DEFAULT_POOLS;
  if (!Array.isArray(poolTexts) || poolTexts.length === 0) {
    throw new BadPoolError('pools', poolTexts, 'expected a non-empty list of IPv4 CIDRs, e.g. ["172.16.0.0/16"]');
  }
  const cidrs: Ipv4Cidr[] = [];
  for (const text of poolTexts) {
    if (typeof text !== 'string') throw new BadPoolError('pools', text, 'expected an IPv4 CIDR string such as "172.16.0.0/16"');
    if (!text.includes('/')) throw new BadPoolError('pools', text, 'expected an IPv4 CIDR with a prefix length, e.g. "172.16.0.0/16"');
    const c = parseIpv4Cidr(text.trim(), true);
    if ('error' in c) throw new BadPoolError('pools', text, `${c.error}; expected an IPv4 CIDR such as "172.16.0.0/16"`);
    if (c.prefix < 8 || c.prefix > 30) throw new BadPoolError('pools', text, `prefix /${c.prefix} is outside /8-/30`);
    for (const n of NEVER) {
      if (overlaps(c, n.cidr)) throw new BadPoolError('pools', text, `overlaps ${n.what}, which is never a VIP pool`);
    }
    if (!allowNonPrivate && !PRIVATE.some((p) => c.start >= p.start && c.end <= p.end)) {
      throw new BadPoolError(
        'pools',
        text,
        'not inside RFC 1918 space (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16); set allowNonPrivate to use it anyway',
      );
    }
    const other = cidrs.find((o) => overlaps(o, c));
    if (other !== undefined) throw new BadPoolError('pools', text, `overlaps the pool ${other.text}`);
    cidrs.push(c);
  }

  // Exclusions, as sorted merged integer ranges.
  const excl: { start: number; end: number }[] = [];
  const warnings: string[] = [];
  const exclude = opts.exclude ?? [];
  if (!Array.isArray(exclude)) throw new BadPoolError('exclude', exclude, 'expected a list of IPv4 addresses or CIDRs');
  for (const text of exclude) {
    if (typeof text !== 'string') throw new BadPoolError('exclude', text, 'expected an IPv4 address or CIDR string');
    const c = parseIpv4Cidr(text.trim(), true);
    if ('error' in c) throw new BadPoolError('exclude', text, `${c.error}; expected an IPv4 address or CIDR such as "172.16.0.10" or "172.16.1.0/24"`);
    if (!cidrs.some((p) => overlaps(p, c))) warnings.push(`exclusion ${c.text} touches no pool`);
    excl.push({ start: c.start, end: c.end });
  }
  excl.sort((a, b) => a.start - b.start);

  const sorted = [...cidrs].sort((a, b) => a.start - b.start);
  const ranges: { start: number; end: number; cidr: string }[] = [];
  const sizes = new Map<string, number>();
  for (const c of sorted) {
    let pieces = [{ start: c.start + 1, end: c.end - 1 }];
    for (const e of excl) {
      if (e.end < c.start || e.start > c.end) continue;
      const next: { start: number; end: number }[] = [];
      for (const p of pieces) {
        if (!overlaps(p, e)) {
          next.push(p);
          continue;
        }
        if (p.start < e.start) next.push({ start: p.start, end: e.start - 1 });
        if (p.end > e.end) next.push({ start: e.end + 1, end: p.end });
      }
      pieces = next;
    }
    let size = 0;
    for (const p of pieces) {
      ranges.push({ ...p, cidr: c.text });
      size += p.end - p.start + 1;
    }
    sizes.set(c.text, size);
  }
  const total = ranges.reduce((n, r) => n + (r.end - r.start + 1), 0);
  if (total === 0) throw new BadPoolError('exclude', exclude, `leaves no address to hand out in the pools ${cidrs.map((c) => c.text).join(', ')}`);

  let offset = 0;
  const blocks: PoolBlock[] = cidrs.map((c) => {
    const b: PoolBlock = { cidr: c.text, start: c.start, end: c.end, size: sizes.get(c.text) ?? 0, v6Offset: offset };
    offset += c.end - c.start + 1;
    return b;
  });
  const wholeV4 = BigInt(offset);

  let ipv6: Ipv6Pool | undefined;
  if (opts.ipv6Pool !== undefined) {
    ipv6 = planIpv6(opts.ipv6Pool, wholeV4, allowNonPrivate);
  }
  const config: PoolConfig = Object.freeze({
    pools: Object.freeze(cidrs.map((c) => c.text)),
    exclude: Object.freeze(holes(sorted, ranges)),
    ...(ipv6 ? { ipv6Pool: ipv6.cidr } : {}),
    allowNonPrivate,
  });
  const layout: PoolLayout = Object.freeze({
    ranges: Object.freeze(ranges.map((r) => Object.freeze(r))),
    size: total,
    config,
  });
  return Object.freeze({ layout, config, blocks: Object.freeze(blocks), ...(ipv6 ? { ipv6 } : {}), warnings: Object.freeze(warnings) });
}

/** True when [start, end] lies inside RFC 1918 space. */
export function isPrivateIpv4(start: number, end: number): boolean {
  return PRIVATE.some((p) => start >= p.start && end <= p.end);
}

/**
 * What the exclusions removed, in canonical form: for each pool (address order), the addresses of
 * the pool outside its allocatable ranges, as CIDRs; a lone network or broadcast address (always
 * left out) is not listed. Equal layouts give equal lists, however the exclusions were written.
 */
export function holes(pools: readonly { start: number; end: number; text: string }[], ranges: PoolLayout['ranges']): string[] {
  const out: string[] = [];
  for (const p of pools) {
    const hole = (a: number, b: number): void => {
      if (a === b && (a === p.start || a === p.end)) return;
      out.push(...rangeToCidrs(a, b));
    };
    let next = p.start;
    for (const r of ranges) {
      if (r.cidr !== p.text) continue;
      if (r.start > next) hole(next, r.start - 1);
      next = r.end + 1;
    }
    if (next <= p.end) hole(next, p.end);
  }
  return out;
}

/** The fewest CIDRs covering exactly [a, b] (a bare address for a /32), in address order. */
export function rangeToCidrs(a: number, b: number): string[] {
  const out: string[] = [];
  let cur = a;
  while (cur <= b) {
    let size = 1;
    while (size < 2 ** 32 && cur % (size * 2) === 0 && cur + size * 2 - 1 <= b) size *= 2;
    const prefix = 32 - Math.log2(size);
    out.push(prefix === 32 ? formatIpv4(cur) : `${formatIpv4(cur)}/${prefix}`);
    cur += size;
  }
  return out;
}

const ULA = new Address6('fd00::/8');

function planIpv6(text: unknown, wholeV4: bigint, allowNonPrivate: boolean): Ipv6Pool {
  if (typeof text !== 'string' || !text.includes('/')) {
    throw new BadPoolError('ipv6Pool', text, 'expected an IPv6 CIDR with a prefix length, e.g. "fd00:c::/64"');
  }
  const t = text.trim();
  if (t.includes('%') || !Address6.isValid(t)) throw new BadPoolError('ipv6Pool', text, 'not an IPv6 CIDR; expected e.g. "fd00:c::/64"');
  const a = new Address6(t);
  const base = a.bigInt();
  const start = a.startAddress().bigInt();
  if (start !== base) throw new BadPoolError('ipv6Pool', text, `host bits set; the network is ${a.startAddress().correctForm()}/${a.subnetMask}`);
  const size = 1n << BigInt(128 - a.subnetMask);
  const inUla = a.subnetMask >= 8 && a.isInSubnet(ULA);
  if (!inUla && !allowNonPrivate) {
    throw new BadPoolError('ipv6Pool', text, 'not inside fd00::/8 (unique local addresses); set allowNonPrivate to use it anyway');
  }
  const top = Number(base >> 112n);
  if (top >= 0xff00 || (top & 0xffc0) === 0xfe80 || base === 0n) {
    throw new BadPoolError('ipv6Pool', text, 'multicast, link-local and :: are never a VIP pool');
  }
  if (size < wholeV4) {
    throw new BadPoolError(
      'ipv6Pool',
      text,
      `holds ${size} addresses, fewer than the ${wholeV4} of the IPv4 pools it mirrors; use a shorter prefix (at most /${128 - bitsFor(wholeV4)})`,
    );
  }
  return Object.freeze({ cidr: `${a.startAddress().correctForm()}/${a.subnetMask}`, base, size });
}

function bitsFor(n: bigint): number {
  let bits = 0;
  while (1n << BigInt(bits) < n) bits++;
  return bits;
}

// ---- Lookups over a layout. Prefix sums are cached per layout object. ----

const prefixCache = new WeakMap<PoolLayout, number[]>();

function prefixSums(layout: PoolLayout): number[] {
  let sums = prefixCache.get(layout);
  if (sums === undefined) {
    sums = [];
    let n = 0;
    for (const r of layout.ranges) {
      sums.push(n);
      n += r.end - r.start + 1;
    }
    prefixCache.set(layout, sums);
  }
  return sums;
}

/** Index of the range holding `address`, or -1. Binary search. */
export function rangeIndexOf(layout: PoolLayout, address: number): number {
  const rs = layout.ranges;
  let lo = 0;
  let hi = rs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = rs[mid] as PoolLayout['ranges'][number];
    if (address < r.start) hi = mid - 1;
    else if (address > r.end) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/** True when `address` may be handed out under this layout. */
export function inLayout(layout: PoolLayout, address: number): boolean {
  return rangeIndexOf(layout, address) >= 0;
}

/** The pool CIDR that `address` belongs to in this layout, or undefined. */
export function poolOf(layout: PoolLayout, address: number): string | undefined {
  const i = rangeIndexOf(layout, address);
  return i < 0 ? undefined : (layout.ranges[i] as PoolLayout['ranges'][number]).cidr;
}

/** The address at position `index` (0 <= index < layout.size) of the ranges laid end to end. */
export function addressAt(layout: PoolLayout, index: number): number {
  if (!Number.isInteger(index) || index < 0 || index >= layout.size) throw new RangeError(`index ${index} outside 0..${layout.size - 1}`);
  const sums = prefixSums(layout);
  let lo = 0;
  let hi = sums.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((sums[mid] as number) <= index) lo = mid;
    else hi = mid - 1;
  }
  const r = layout.ranges[lo] as PoolLayout['ranges'][number];
  return r.start + (index - (sums[lo] as number));
}

/** Position of `address` among the ranges laid end to end, or -1. */
export function indexOfAddress(layout: PoolLayout, address: number): number {
  const i = rangeIndexOf(layout, address);
  if (i < 0) return -1;
  return (prefixSums(layout)[i] as number) + (address - (layout.ranges[i] as PoolLayout['ranges'][number]).start);
}

/** Size per pool CIDR in this layout, in address order. */
export function layoutPools(layout: PoolLayout): { cidr: string; size: number }[] {
  const out: { cidr: string; size: number }[] = [];
  for (const r of layout.ranges) {
    const last = out[out.length - 1];
    if (last !== undefined && last.cidr === r.cidr) last.size += r.end - r.start + 1;
    else out.push({ cidr: r.cidr, size: r.end - r.start + 1 });
  }
  return out;
}

/** The IPv6 address mirroring `ipv4` (unsigned integer), or undefined without an IPv6 pool or outside the pools. */
export function ipv6For(plan: PoolPlan, ipv4: number): string | undefined {
  if (plan.ipv6 === undefined) return undefined;
  const b = plan.blocks.find((x) => ipv4 >= x.start && ipv4 <= x.end);
  if (b === undefined) return undefined;
  return Address6.fromBigInt(plan.ipv6.base + BigInt(b.v6Offset + (ipv4 - b.start))).correctForm();
}

/** The IPv4 address (unsigned integer) an IPv6 address of the IPv6 pool mirrors, or undefined. */
export function ipv4ForIpv6(plan: PoolPlan, ipv6: string): number | undefined {
  if (plan.ipv6 === undefined || !Address6.isValid(ipv6) || ipv6.includes('/')) return undefined;
  const off = new Address6(ipv6).bigInt() - plan.ipv6.base;
  if (off < 0n || off >= plan.ipv6.size) return undefined;
  const o = Number(off);
  for (const b of plan.blocks) {
    const whole = b.end - b.start + 1;
    if (o >= b.v6Offset && o < b.v6Offset + whole) return b.start + (o - b.v6Offset);
  }
  return undefined;
}

/** Stable JSON of a layout, to compare layouts (stores keep it to notice a configuration change). */
export function layoutKey(layout: PoolLayout): string {
  return JSON.stringify(layout.ranges.map((r) => [r.start, r.end, r.cidr]));
}

