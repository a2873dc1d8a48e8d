/**
 * The two per-socket structures of the exchanger's hot path, built so that the churn of one
 * exchange per query (add, answer, abandon, expire) allocates nothing once they have grown to the
 * socket's load. A Map reallocates its hash table as it grows and shrinks (a socket's pending
 * count goes 0, 1, 0 at every query at low rates), and JavaScript arrays pushed to and sliced
 * reallocate their backing stores: at 10k qps of fan-out that was about a third of all allocation
 * on the query path, and each young-generation GC it caused stalled every query in flight.
 */

const EMPTY = -1;

/**
 * A map from 16-bit DNS message IDs to values: open addressing with linear probing over a
 * power-of-two table, grown at half load and never shrunk; deletion shifts the entries after
 * the hole back (no deleted markers, so probe chains stay short). IDs are random, so `id & mask`
 * spreads them; a lookup by a hostile ID costs at most a probe chain, which half load keeps short.
 */
export class IdTable<V> {
  private keys: Int32Array;
  private vals: Array<V | undefined>;
  private mask: number;
  private count = 0;

  constructor(capacity = 16) {
    let cap = 16;
    while (cap < capacity) cap *= 2;
    this.keys = new Int32Array(cap).fill(EMPTY);
    this.vals = new Array<V | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.count;
  }

  get(id: number): V | undefined {
    const keys = this.keys;
    const mask = this.mask;
    for (let i = id & mask; ; i = (i + 1) & mask) {
      const k = keys[i]!;
      if (k === id) return this.vals[i];
      if (k === EMPTY) return undefined;
    }
  }

  has(id: number): boolean {
    const keys = this.keys;
    const mask = this.mask;
    for (let i = id & mask; ; i = (i + 1) & mask) {
      const k = keys[i]!;
      if (k === id) return true;
      if (k === EMPTY) return false;
    }
  }

  /** Add or replace. `id` must be 0..65535. */
  set(id: number, value: V): void {
    const keys = this.keys;
    const mask = this.mask;
    let i = id & mask;
    for (; ; i = (i + 1) & mask) {
      const k = keys[i]!;
      if (k === id) {
        this.vals[i] = value;
        return;
      }
      if (k === EMPTY) break;
    }
    keys[i] = id;
    this.vals[i] = value;
    if (++this.count * 2 > keys.length) this.grow();
  }

  /** Remove `id`; false when it was not there. */
  delete(id: number): boolean {
    const keys = this.keys;
    const vals = this.vals;
    const mask = this.mask;
    let hole = id & mask;
    for (; ; hole = (hole + 1) & mask) {
      const k = keys[hole]!;
      if (k === id) break;
      if (k === EMPTY) return false;
    }
    // Backward shift: an entry after the hole moves into it unless its home slot lies cyclically
    // in (hole, j], where a lookup for it would stop at the hole before reaching it.
    for (let j = (hole + 1) & mask; ; j = (j + 1) & mask) {
      const k = keys[j]!;
      if (k === EMPTY) break;
      const home = k & mask;
      const stays = hole <= j ? hole < home && home <= j : hole < home || home <= j;
      if (stays) continue;
      keys[hole] = k;
      vals[hole] = vals[j];
      hole = j;
    }
    keys[hole] = EMPTY;
    vals[hole] = undefined;
    this.count--;
    return true;
  }

  /** The values, in table order (for close()). */
  values(): V[] {
    const out: V[] = [];
    for (let i = 0; i < this.keys.length; i++) if (this.keys[i] !== EMPTY) out.push(this.vals[i]!);
    return out;
  }

  clear(): void {
    this.keys.fill(EMPTY);
    this.vals.fill(undefined);
    this.count = 0;
  }

  private grow(): void {
    const oldKeys = this.keys;
    const oldVals = this.vals;
    const cap = oldKeys.length * 2;
    this.keys = new Int32Array(cap).fill(EMPTY);
    this.vals = new Array<V | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
    this.count = 0;
    for (let i = 0; i < oldKeys.length; i++) if (oldKeys[i] !== EMPTY) this.set(oldKeys[i]!, oldVals[i]!);
  }
}

/**
 * The tombstones of one socket's abandoned exchanges, oldest first: a ring of typed arrays (ID,
 * expiry, question hash, question end), grown by doubling when full and never shrunk. Each
 * tombstone has a sequence number (`push()` returns it), which the socket's IdTable holds for its
 * ID; a tombstone is still current when the table still maps its ID to its number.
 */
export class TombstoneRing {
  private ids: Uint16Array;
  private expiries: Float64Array;
  private hashes: Int32Array;
  private questionEnds: Uint16Array;
  private mask: number;
  /** Sequence number of the oldest tombstone; `tail` is the next one's. */
  head = 0;
  tail = 0;

  constructor(capacity = 16) {
    let cap = 16;
    while (cap < capacity) cap *= 2;
    this.ids = new Uint16Array(cap);
    this.expiries = new Float64Array(cap);
    this.hashes = new Int32Array(cap);
    this.questionEnds = new Uint16Array(cap);
    this.mask = cap - 1;
  }

  get length(): number {
    return this.tail - this.head;
  }

  push(id: number, expiry: number, hash: number, questionEnd: number): number {
    if (this.tail - this.head > this.mask) this.grow();
    const seq = this.tail++;
    const i = seq & this.mask;
    this.ids[i] = id;
    this.expiries[i] = expiry;
    this.hashes[i] = hash;
    this.questionEnds[i] = questionEnd;
    return seq;
  }

  id(seq: number): number {
    return this.ids[seq & this.mask]!;
  }

  expiry(seq: number): number {
    return this.expiries[seq & this.mask]!;
  }

  hash(seq: number): number {
    return this.hashes[seq & this.mask]!;
  }

  questionEnd(seq: number): number {
    return this.questionEnds[seq & this.mask]!;
  }

  private grow(): void {
    const cap = (this.mask + 1) * 2;
    const ids = new Uint16Array(cap);
    const expiries = new Float64Array(cap);
    const hashes = new Int32Array(cap);
    const questionEnds = new Uint16Array(cap);
    const newMask = cap - 1;
    for (let seq = this.head; seq < this.tail; seq++) {
      const from = seq & this.mask;
      const to = seq & newMask;
      ids[to] = this.ids[from]!;
      expiries[to] = this.expiries[from]!;
      hashes[to] = this.hashes[from]!;
      questionEnds[to] = this.questionEnds[from]!;
    }
    this.ids = ids;
    this.expiries = expiries;
    this.hashes = hashes;
    this.questionEnds = questionEnds;
    this.mask = newMask;
  }
}
