/**
 * The entries: one Map for lookups, and per kind (positive, negative) a CLOCK ring with its own
 * entry and byte budgets, so that a flood of negative answers (search-path amplification) never
 * pushes out positive ones, and the other way round.
 *
 * CLOCK (second chance): a hit only sets the entry's `ref` bit (no reordering on the hot path).
 * To make room, the hand takes the oldest entry of the ring: past its retention, or not
 * referenced since the hand last passed, it is evicted; otherwise its bit is cleared and it goes
 * to the back. Expired entries are kept while they may still answer stale (or be kept over an
 * NXDOMAIN); a lookup that finds one past that drops it.
 */
import { Entry, NEGATIVE, POSITIVE, type Kind } from './entry.js';

export interface StoreLimits {
  readonly maxEntries: number;
  readonly maxNegativeEntries: number;
  readonly maxBytes: number;
  readonly maxNegativeBytes: number;
}

class Ring {
  readonly entries = new Set<Entry>();
  bytes = 0;
  constructor(
    readonly maxEntries: number,
    readonly maxBytes: number,
  ) {}
}

export class CacheStore {
  private readonly map = new Map<string, Entry>();
  private readonly rings: readonly [Ring, Ring];

  constructor(
    limits: StoreLimits,
    /** Called for every entry evicted to make room (not for replaced or dropped ones). */
    private readonly onEvict: (kind: Kind) => void = () => {},
  ) {
    this.rings = [new Ring(limits.maxEntries, limits.maxBytes), new Ring(limits.maxNegativeEntries, limits.maxNegativeBytes)];
  }

  get(key: string): Entry | undefined {
    return this.map.get(key);
  }

  /** Entries of a kind (expired ones still within their stale window included). */
  count(kind: Kind): number {
    return this.rings[kind].entries.size;
  }

  bytes(kind: Kind): number {
    return this.rings[kind].bytes;
  }

  get size(): number {
    return this.map.size;
  }

  /** Whether an entry of this kind and size can be stored at all. */
  fits(kind: Kind, size: number): boolean {
    const r = this.rings[kind];
    return r.maxEntries > 0 && size <= r.maxBytes;
  }

  /**
   * Store `e`, replacing the entry of the same key (of either kind), then evict from e's ring
   * until it is within its budgets. Returns false (nothing stored, the old entry kept) when e can
   * never fit (see `fits`).
   */
  set(e: Entry, now: number): boolean {
    if (!this.fits(e.kind, e.size)) return false;
    const old = this.map.get(e.key);
    if (old !== undefined) this.remove(old);
    const r = this.rings[e.kind];
    this.map.set(e.key, e);
    r.entries.add(e);
    r.bytes += e.size;
    while (r.entries.size > r.maxEntries || r.bytes > r.maxBytes) this.evictOne(r, e, now);
    return true;
  }

  /** Drop `e` if it is still the entry of its key. */
  delete(e: Entry): void {
    if (this.map.get(e.key) === e) this.remove(e);
  }

  clear(): void {
    this.map.clear();
    for (const r of this.rings) {
      r.entries.clear();
      r.bytes = 0;
    }
  }

  private remove(e: Entry): void {
    this.map.delete(e.key);
    const r = this.rings[e.kind];
    if (r.entries.delete(e)) r.bytes -= e.size;
  }

  /** One CLOCK step until one entry is gone; `keep` (the entry just stored) goes last. */
  private evictOne(r: Ring, keep: Entry, now: number): void {
    for (;;) {
      const e = r.entries.values().next().value as Entry;
      if (e === keep && r.entries.size > 1) {
        r.entries.delete(e);
        r.entries.add(e);
        continue;
      }
      if (e.ref && e !== keep && now < e.retainUntil) {
        e.ref = false;
        r.entries.delete(e);
        r.entries.add(e);
        continue;
      }
      this.remove(e);
      this.onEvict(e.kind);
      return;
    }
  }
}

export { POSITIVE, NEGATIVE };
