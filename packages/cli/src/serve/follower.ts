/**
 * Follows the VIP store's change feed into the VipTable the DNS server answers from.
 *
 * - Starts from the local snapshot copy (if any), so answers exist from the first millisecond.
 * - Opens the store in the background, retrying with backoff while it is unreachable; the DNS
 *   server never waits for it.
 * - Applies the feed: a snapshot, then changes; the store's watcher resyncs after a gap or a
 *   reconnect. While the store is away, the table keeps what it last knew. Snapshots are streamed
 *   (`chunkSize`, WATCH_CHUNK_SIZE records at a time, never the whole table as records at once):
 *   the new table is built beside the one answering queries and swapped in at 'snapshot-end'.
 * - Writes the local snapshot copy shortly after changes (debounced) and at close.
 */
import type { Logger } from 'pino';
import { createAllocator, isVipError, type Allocator, type AllocatorOptions, type Watch, type WatchEvent } from '@hoplite/vip';
import type { Registry } from '@hoplite/dns';
import { readSnapshotFile, writeSnapshotFile } from './snapshot-file.js';
import type { VipTable } from './vip-zone.js';

export type FollowerState = 'connecting' | 'live' | 'down' | 'closed';

/** Records per chunk of a streamed snapshot: small, so that a chunk in flight (the reply and its
 *  records) dies young in a 1-2 MB young generation (serve/heap.ts) instead of being promoted. */
export const WATCH_CHUNK_SIZE = 250;

export interface FollowerOptions {
  readonly table: VipTable;
  readonly allocator: AllocatorOptions;
  readonly logger: Logger;
  readonly metrics: Registry;
  /** '' for no local copy. */
  readonly snapshotFile: string;
  /** Debounce of snapshot-file writes, ms. */
  readonly snapshotDelayMs?: number;
  /** Backoff bounds while the store cannot be opened, ms. */
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
}

export class VipFollower {
  state: FollowerState = 'connecting';
  #allocator: Allocator | undefined;
  #watch: Watch | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #snapshotTimer: NodeJS.Timeout | undefined;
  #dirty = false;
  #attempt = 0;
  #synced = false;
  readonly #opts: FollowerOptions;
  readonly #log: Logger;
  readonly #events;
  #onSynced: Array<() => void> = [];
  #firstAttempt!: Promise<void>;
  #firstAttemptDone: () => void = () => {};
  /** Set by the daemon once the DNS server routes the table's reverse zones. */
  zonesFixed = false;

  constructor(opts: FollowerOptions) {
    this.#opts = opts;
    this.#log = opts.logger.child({ component: 'vip-zone' });
    const m = opts.metrics;
    this.#events = m.counter('hoplite_vip_feed_events_total', 'Change-feed events applied to the VIP zone, by type');
    const records = m.gauge('hoplite_vip_zone_records', 'VIPs in the VIP zone');
    records.collect(() => records.set(opts.table.size));
    const revision = m.gauge('hoplite_vip_zone_revision', 'Store revision the VIP zone reflects');
    revision.collect(() => revision.set(opts.table.revision));
    const up = m.gauge('hoplite_vip_store_up', '1 when the VIP store feed is live');
    up.collect(() => up.set(this.state === 'live' ? 1 : 0));
  }

  /** The allocator, once the store is open. */
  get allocator(): Allocator | undefined {
    return this.#allocator;
  }

  /** True once a snapshot from the store (not the local copy) has been applied. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Resolves when the first store snapshot has been applied. */
  whenSynced(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#onSynced.push(resolve));
  }

  /**
   * Load the local copy (if any) and start opening the store. Never throws for an unreachable
   * store. Returns whether the local copy said which pools are in use.
   */
  start(): { poolsKnown: boolean } {
    this.#firstAttempt = new Promise((resolve) => (this.#firstAttemptDone = resolve));
    const file = this.#opts.snapshotFile;
    let poolsKnown = false;
    if (file) {
      const snap = readSnapshotFile(file);
      if (snap) {
        if (snap.pools) {
          this.#usePools(snap.pools);
          poolsKnown = true;
        }
        this.#opts.table.load(snap);
        this.#log.info({ file, vips: snap.vips.length, revision: snap.revision }, 'vip zone loaded from local copy');
      }
    }
    void this.#connect();
    return { poolsKnown };
  }

  /** Resolves after the first attempt to open the store, whether it worked or not. */
  firstAttempt(): Promise<void> {
    return this.#firstAttempt;
  }

  /** Follow the pools in use: the store's win over the local config (see @hoplite/vip). */
  #usePools(p: { readonly pools: readonly string[]; readonly ipv6Pool?: string | undefined }): void {
    const before = this.#opts.table.reverseZones;
    if (!this.#opts.table.setPools({ pools: p.pools, ...(p.ipv6Pool ? { ipv6Pool: p.ipv6Pool } : {}) })) return;
    const after = this.#opts.table.reverseZones;
    if (this.zonesFixed && JSON.stringify(before) !== JSON.stringify(after)) {
      this.#log.warn({ served: before, pools: p.pools, ipv6Pool: p.ipv6Pool }, 'vip pools changed: PTR zones follow after a restart');
    }
  }

  async #connect(): Promise<void> {
    if (this.#isClosed()) return;
    try {
      const allocator = await createAllocator(this.#opts.allocator);
      if (this.#isClosed()) {
        await allocator.close();
        return;
      }
      this.#allocator = allocator;
      this.#attempt = 0;
      this.#usePools(allocator.pools);
      this.#watch = allocator.watch((e) => this.#onEvent(e), { chunkSize: WATCH_CHUNK_SIZE });
      this.#log.info({ store: allocator.store.kind }, 'vip store open');
    } catch (err) {
      if (this.#isClosed()) return;
      if (isVipError(err) && err.code !== 'HOPLITE_VIP_STORE_UNAVAILABLE') {
        // A config problem the daemon should have caught before: it will not heal by retrying.
        this.#log.error({ err }, 'vip store cannot be used');
      }
      this.state = 'down';
      const min = this.#opts.retryMinMs ?? 250;
      const max = this.#opts.retryMaxMs ?? 10_000;
      const delay = Math.min(max, min * 2 ** this.#attempt++) * (0.75 + Math.random() * 0.5);
      this.#log.warn({ err: (err as Error).message, retryInMs: Math.round(delay) }, 'vip store unreachable');
      this.#retryTimer = setTimeout(() => void this.#connect(), delay);
      this.#retryTimer.unref();
    } finally {
      this.#firstAttemptDone();
    }
  }

  #onEvent(e: WatchEvent): void {
    if (this.#isClosed()) return;
    this.#events.inc({ type: e.type });
    const table = this.#opts.table;
    switch (e.type) {
      case 'snapshot':
        // A snapshot also follows an update of the stored pools.
        if (this.#allocator) this.#usePools(this.#allocator.pools);
        table.load(e.snapshot);
        this.#tableSynced();
        break;
      case 'snapshot-begin':
        table.beginLoad();
        this.#log.debug({ revision: e.revision }, 'vip zone resync started');
        break;
      case 'snapshot-chunk':
        table.loadChunk(e.vips);
        break;
      case 'snapshot-end':
        // The allocator read the stored pools before 'snapshot-begin': follow them with the new table.
        if (this.#allocator) this.#usePools(this.#allocator.pools);
        table.commitLoad(e.revision);
        this.#tableSynced();
        break;
      case 'change':
        if (table.loading) table.applyToLoad(e.change);
        else {
          table.apply(e.change);
          this.#scheduleSnapshot();
        }
        break;
      case 'error':
        table.abortLoad();
        if (this.state !== 'down') this.#log.warn({ err: e.error.message }, 'vip store feed lost; answering from the last table');
        this.state = 'down';
        break;
      case 'reconnected':
        this.state = 'live';
        this.#log.info('vip store feed back');
        break;
    }
  }

  /** A table from the store is in use. */
  #tableSynced(): void {
    const table = this.#opts.table;
    this.state = 'live';
    this.#log.info({ vips: table.size, revision: table.revision }, 'vip zone synced');
    this.#scheduleSnapshot();
    if (!this.#synced) {
      this.#synced = true;
      for (const f of this.#onSynced.splice(0)) f();
    }
  }

  #scheduleSnapshot(): void {
    if (!this.#opts.snapshotFile) return;
    this.#dirty = true;
    if (this.#snapshotTimer) return;
    this.#snapshotTimer = setTimeout(() => {
      this.#snapshotTimer = undefined;
      this.#writeSnapshot();
    }, this.#opts.snapshotDelayMs ?? 1000);
    this.#snapshotTimer.unref();
  }

  #writeSnapshot(): void {
    if (!this.#dirty || !this.#opts.snapshotFile) return;
    this.#dirty = false;
    try {
      writeSnapshotFile(this.#opts.snapshotFile, this.#opts.table.revision, this.#opts.table.pools, this.#opts.table.entries());
    } catch (err) {
      this.#log.warn({ err: (err as Error).message, file: this.#opts.snapshotFile }, 'cannot write the local vip copy');
    }
  }

  #isClosed(): boolean {
    return this.state === 'closed';
  }

  async close(): Promise<void> {
    if (this.#isClosed()) return;
    this.state = 'closed';
    clearTimeout(this.#retryTimer);
    clearTimeout(this.#snapshotTimer);
    this.#snapshotTimer = undefined;
    this.#writeSnapshot();
    await this.#watch?.close();
    await this.#allocator?.close();
  }
}
