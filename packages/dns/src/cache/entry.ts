/**
 * What the cache keeps of an answer, and the walk that decides whether an answer is kept at all.
 * Cold path (once per answer that came back from the next stages); no dns-packet.
 *
 * An entry is the answer's wire bytes as received, minus its OPT record (each hit gets an OPT of
 * ours when the client sent one), with the byte offset of every record's TTL precomputed: a hit
 * copies the bytes and patches ID, flags, question and TTLs without decoding anything.
 */
import type { Query } from '../chain/stage.js';
import { Flag, HEADER_SIZE, QType, Rcode } from '../wire/constants.js';
import { skipName } from '../wire/name.js';
import { questionMatches } from '../wire/response.js';

export const POSITIVE = 0;
export const NEGATIVE = 1;
export type Kind = typeof POSITIVE | typeof NEGATIVE;
export const KIND_NAMES: readonly ['positive', 'negative'] = ['positive', 'negative'];

/** Why an answer was not cached (a metric label). */
export type Uncacheable =
  /** Not a readable response (short, QR clear, a record running past the end). */
  | 'malformed'
  /** TC set: a partial answer. */
  | 'truncated'
  /** Any rcode but NOERROR / NXDOMAIN (SERVFAIL, REFUSED, FORMERR, ...), or an extended rcode. */
  | 'rcode'
  /** The answer's question is not the query's. */
  | 'question'
  /** A TTL of 0 somewhere in the answer (or SOA minimum 0): the server asked not to cache it. */
  | 'ttl_zero'
  /** NXDOMAIN / NODATA without a SOA in the authority section (RFC 2308 5: not cached). */
  | 'no_soa'
  /** Larger than the byte budget of its kind (or its kind has no room at all). */
  | 'too_large';

export const UNCACHEABLE_REASONS: readonly Uncacheable[] = ['malformed', 'truncated', 'rcode', 'question', 'ttl_zero', 'no_soa', 'too_large'];

/** Rough bytes of an entry besides its wire and TTL table (object, key, map/set slots, Buffer). */
export const ENTRY_OVERHEAD = 256;

export interface TtlLimits {
  readonly minTtl: number;
  readonly maxTtl: number;
  readonly maxNegativeTtl: number;
}

export class Entry {
  /** CLOCK reference bit: set by a hit, cleared when the hand passes. */
  ref = false;
  /** While expired, answer stale without asking the next stages until then (ms, clock time). */
  staleRetryUntil = 0;
  /** Fresh hits (counted only with prefetch on). */
  hits = 0;
  /** A background refresh (prefetch) is on its way. */
  prefetching = false;
  /** Entry lifetime end (ms, clock time). */
  readonly expiresAt: number;
  /** Kept until then for stale answers / keepOnNxdomain; dropped after (ms, clock time). */
  readonly retainUntil: number;
  /** Estimated bytes (see ENTRY_OVERHEAD). */
  readonly size: number;

  constructor(
    readonly key: string,
    readonly kind: Kind,
    /** The answer without OPT (ARCOUNT counts the rest); bytes 0-3 and the question are patched per hit. */
    readonly wire: Buffer,
    /** Pairs [offset of a TTL field in `wire`, base TTL]: a hit writes base - age. */
    readonly ttls: Uint32Array,
    /** Header flags to answer with, AA/RD/CD cleared (RD and CD come from the client). */
    readonly flags: number,
    /** Offset where the additional section starts (== wire.length when it is empty). */
    readonly additionalStart: number,
    /** The header ARCOUNT of `wire` (the OPT not counted). */
    readonly arcount: number,
    /** Offset just past the question. */
    readonly questionEnd: number,
    /** Lifetime, s. */
    readonly ttl: number,
    /** When it was stored (ms, clock time). */
    readonly storedAt: number,
    /** How long past expiry it is kept, s: max(staleTtl, keepOnNxdomain). */
    retain: number,
  ) {
    this.expiresAt = storedAt + ttl * 1000;
    this.retainUntil = this.expiresAt + retain * 1000;
    this.size = wire.length + ttls.byteLength + key.length + ENTRY_OVERHEAD;
  }
}

/** TTLs with the top bit set are 0 (RFC 2181 8). */
function ttlAt(buf: Buffer, at: number): number {
  const v = buf.readUInt32BE(at);
  return v > 0x7fffffff ? 0 : v;
}

/**
 * Decide whether `resp` (the next stages' answer to `q`) is cached, and make its entry. `resp` is
 * copied (the caller keeps sending it). Rules:
 * - NOERROR with answer records: positive; lifetime = the lowest TTL of every record but the OPT,
 *   raised to minTtl, capped by maxTtl. Each record keeps its own TTL (capped by maxTtl, at
 *   least the lifetime), decremented by the entry's age on every hit.
 * - NXDOMAIN, or NOERROR without answer records (NODATA): negative, only with a SOA in the
 *   authority section; lifetime = min(every record's TTL, the SOA minimum) (RFC 2308 5), raised
 *   to minTtl, capped by maxNegativeTtl; every record is served with the remaining lifetime.
 * - Never: other rcodes (or an extended rcode in the OPT), TC set, a TTL of 0, another question.
 */
export function makeEntry(resp: Buffer, q: Query, key: string, limits: TtlLimits, now: number, retain: number): Entry | Uncacheable {
  const len = resp.length;
  if (len < HEADER_SIZE) return 'malformed';
  const flags = resp.readUInt16BE(2);
  if ((flags & Flag.QR) === 0) return 'malformed';
  const rcode = flags & 0xf;
  if (rcode !== Rcode.NOERROR && rcode !== Rcode.NXDOMAIN) return 'rcode';
  if ((flags & Flag.TC) !== 0) return 'truncated';
  const questionEnd = q.questionEnd;
  if (!questionMatches(resp, q.raw, questionEnd) || skipName(resp, HEADER_SIZE) + 4 !== questionEnd) return 'question';
  const an = resp.readUInt16BE(6);
  const ns = resp.readUInt16BE(8);
  const ar = resp.readUInt16BE(10);
  const total = an + ns + ar;
  const offsets: number[] = [];
  const origTtls: number[] = [];
  let optStart = -1;
  let optEnd = -1;
  let additionalStart = -1;
  let minTtl = Infinity;
  let soaMinimum = -1;
  let pos = questionEnd;
  for (let i = 0; i < total; i++) {
    if (i === an + ns) additionalStart = pos;
    const nameEnd = skipName(resp, pos);
    if (nameEnd < 0 || nameEnd + 10 > len) return 'malformed';
    const type = resp.readUInt16BE(nameEnd);
    const rdlength = resp.readUInt16BE(nameEnd + 8);
    const next = nameEnd + 10 + rdlength;
    if (next > len) return 'malformed';
    if (type === QType.OPT) {
      if (i < an + ns || optStart >= 0) return 'malformed';
      if (resp[nameEnd + 4] !== 0) return 'rcode'; // extended rcode (e.g. BADVERS, BADCOOKIE)
      optStart = pos;
      optEnd = next;
      pos = next;
      continue;
    }
    const ttl = ttlAt(resp, nameEnd + 4);
    if (ttl < minTtl) minTtl = ttl;
    if (type === QType.SOA && i >= an && i < an + ns && soaMinimum < 0) {
      if (rdlength < 22) return 'malformed'; // two names (>= 1 byte each) and five 32-bit fields
      soaMinimum = ttlAt(resp, next - 4);
    }
    offsets.push(nameEnd + 4);
    origTtls.push(ttl);
    pos = next;
  }
  if (pos !== len) return 'malformed'; // trailing bytes: not what we expect from a server
  if (additionalStart < 0) additionalStart = pos;

  const kind = rcode === Rcode.NOERROR && an > 0 ? POSITIVE : NEGATIVE;
  let ttl: number;
  let cap: number;
  if (kind === POSITIVE) {
    ttl = minTtl;
    cap = limits.maxTtl;
  } else {
    if (soaMinimum < 0) return 'no_soa';
    ttl = Math.min(minTtl, soaMinimum);
    cap = limits.maxNegativeTtl;
  }
  if (ttl === 0) return 'ttl_zero';
  if (ttl < limits.minTtl) ttl = limits.minTtl;
  if (ttl > cap) ttl = cap;

  // The stored copy: without the OPT (offsets after it move back), in memory of its own
  // (allocUnsafeSlow: a pooled slice would pin a shared 8 KiB slab for the entry's life).
  const optLen = optStart >= 0 ? optEnd - optStart : 0;
  const wire = Buffer.allocUnsafeSlow(len - optLen);
  if (optLen === 0) resp.copy(wire, 0);
  else {
    resp.copy(wire, 0, 0, optStart);
    resp.copy(wire, optStart, optEnd);
    wire.writeUInt16BE(ar - 1, 10);
    if (additionalStart > optStart) additionalStart -= optLen;
  }
  wire.writeUInt16BE(0, 0);
  const ttls = new Uint32Array(offsets.length * 2);
  for (let i = 0; i < offsets.length; i++) {
    const off = offsets[i]!;
    const o = optLen > 0 && off > optStart ? off - optLen : off;
    let base = kind === POSITIVE ? Math.min(origTtls[i]!, cap) : ttl;
    if (base < ttl) base = ttl;
    ttls[2 * i] = o;
    ttls[2 * i + 1] = base;
  }
  const baseFlags = flags & ~(Flag.AA | Flag.RD | Flag.CD);
  return new Entry(key, kind, wire, ttls, baseFlags, additionalStart, optLen > 0 ? ar - 1 : ar, questionEnd, ttl, now, retain);
}
