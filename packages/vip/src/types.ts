/**
 * The contract between the allocator and its stores. Both stores (embedded SQLite and Redis)
 * implement `VipStore`; one conformance suite (test/conformance.ts) runs against both.
 *
 * Addresses are handled as unsigned integers inside the stores (IPv4: 0..2^32-1) and as dotted
 * strings on the surface. IPv6 addresses (AAAA) are derived, never allocated on their own: the
 * IPv6 address of a VIP is `ipv6Pool.base + offset`, where `offset` is the IPv4 address's index
 * within the concatenation of the IPv4 pools (see docs/vip.md, "IPv6").
 *
 * Semantics every store follows (test/conformance.ts checks them; see also
 * /work/notes/vip-contract-changes.md):
 * - Stores leave `VipRecord.ipv6` unset: the allocator facade derives it from its IPv6 pool.
 * - allocate: an existing name gets its address back, ports merged (a change, and a revision,
 *   only when a port was added). Else a name whose quarantine has not expired (`until > now`) takes
 *   its old address back (`fromQuarantine`). Else the first free address >= `preferred`, wrapping to
 *   the lowest free one; quarantine entries with `until <= now` count as free. None left: throw
 *   PoolExhaustedError (errors.ts) naming every pool of the layout and its size.
 * - release: the address goes into quarantine for the name until `now + quarantineMs`
 *   (quarantineMs 0: free at once); an address outside the layout is simply dropped.
 * - reserve: the address must be inside the layout (else AddressOutsidePoolError); held by another
 *   VIP, or in another name's unexpired quarantine -> AddressTakenError. A name that had another
 *   address moves: the old address goes into quarantine under the name. The record is `pinned`.
 * - Every change of a VIP (put or delete) takes the next revision (+1) and one change-feed entry.
 *   Quarantine bookkeeping is not a change. `importTable`, a `check` repair that changes VIPs and
 *   an update of the pools (`updatePools`) may skip revisions (the feed then has a gap and
 *   watchers resync from a snapshot).
 * - Pools: the layout stored with the table is authoritative. Opening an empty store writes the
 *   given layout (and its configuration); opening one that holds other pools adopts the stored
 *   ones (the store's `layout` is then the stored one, `poolsOutcome` 'adopted', a warning is
 *   logged) unless `updatePools` is set, which replaces them (VIPs stay; free space is rebuilt).
 * - check: `problems` are those left when it returns (after a repair), `repaired` what it did.
 * - Errors are the coded classes of errors.ts (StoreUnavailableError when the backend fails).
 */

import type { Logger } from 'pino';

export type Protocol = 'tcp' | 'udp';

export interface VipPort {
  port: number;
  protocol: Protocol;
}

/** A named VIP is keyed by its DNS name; an IP VIP by its address (a reservation inside a pool). */
export type VipKind = 'named' | 'ip';

export interface VipRecord {
  /** The key. Named: the normalized DNS name, e.g. `myapp.marathon.l4lb.thisdcos.directory`.
   *  IP: the address itself, e.g. `10.1.2.3`. */
  readonly name: string;
  readonly kind: VipKind;
  /** Normalized name part, e.g. `mygroupmyapp` (named VIPs); the address for IP VIPs. */
  readonly label: string;
  /** Normalized framework, e.g. `marathon` (named VIPs); '' for IP VIPs. */
  readonly framework: string;
  /** The IPv4 address, dotted quad. */
  readonly ipv4: string;
  /** The IPv6 address mirroring `ipv4` when an IPv6 pool is configured. Stores leave it unset;
   *  the allocator adds it (docs/vip.md, "Pools"). */
  readonly ipv6?: string;
  /** Ports and protocols, sorted by port then protocol, without duplicates. */
  readonly ports: readonly VipPort[];
  /** True when an operator pinned the address (`reserve`), false when the allocator chose it. */
  readonly pinned: boolean;
  /** Revision at which the record was created and last changed. */
  readonly createdRevision: number;
  readonly updatedRevision: number;
}

/** One entry of the change feed. Revisions grow by exactly one per change, with no gaps. */
export type VipChange =
  | { readonly revision: number; readonly type: 'put'; readonly vip: VipRecord }
  | { readonly revision: number; readonly type: 'delete'; readonly name: string; readonly vip: VipRecord };

export interface VipSnapshot {
  /** The store's revision at which this snapshot was taken. */
  readonly revision: number;
  readonly vips: readonly VipRecord[];
}

/**
 * Events delivered to a watcher, in order.
 *
 * Without `chunkSize` (WatchOptions) a snapshot is one 'snapshot' event holding every record. With
 * `chunkSize` it is streamed, and a watcher never holds more than one chunk of records:
 *
 * - 'snapshot-begin' `{ revision }`: start building a new table (drop any table an earlier,
 *   unfinished 'snapshot-begin' started). `revision` is the store's revision when the read began.
 * - 'snapshot-chunk' `{ vips }` (at most `chunkSize` records, never empty): put each record into the
 *   table being built, by name. A name may come in more than one chunk (Redis SCAN); the later one wins.
 * - 'change' events between begin and end: the changes made while the records were read
 *   (revisions `begin.revision + 1`, `+ 2`, ... without gaps), to apply to the table being built:
 *   replaying them converges whatever the chunks saw of them (a put carries the whole record, a
 *   delete of an absent name is nothing).
 * - 'snapshot-end' `{ revision }`: the table being built is now the store's table at `revision`
 *   (begin's revision plus the changes replayed): use it. 'change' events after it apply to it.
 * - An 'error' between begin and end abandons that snapshot; a new 'snapshot-begin' follows once the
 *   store is reachable again, as does one after a gap.
 */
export type WatchEvent =
  | { readonly type: 'snapshot'; readonly snapshot: VipSnapshot }
  /** Chunked mode: a new table starts (see above). */
  | { readonly type: 'snapshot-begin'; readonly revision: number }
  /** Chunked mode: records of the table being built (at most `chunkSize`). */
  | { readonly type: 'snapshot-chunk'; readonly vips: readonly VipRecord[] }
  /** Chunked mode: the table being built is complete, at `revision`. */
  | { readonly type: 'snapshot-end'; readonly revision: number }
  | { readonly type: 'change'; readonly change: VipChange }
  /** The store could not be reached; the watcher keeps trying (with backoff) and resyncs. */
  | { readonly type: 'error'; readonly error: Error }
  /** The store is reachable again (after an 'error'); a 'snapshot' follows when a resync is needed. */
  | { readonly type: 'reconnected' };

/** Options of `watch`. */
export interface WatchOptions {
  /** Resume after this revision: no snapshot when the store still holds every change after it. */
  readonly fromRevision?: number;
  /**
   * Stream every snapshot in chunks of at most this many records ('snapshot-begin',
   * 'snapshot-chunk'..., 'snapshot-end'; see WatchEvent) instead of one 'snapshot' event holding
   * the whole table. An integer from 1 to 100000 (`WATCH_CHUNK_MAX`); absent: one 'snapshot' event.
   */
  readonly chunkSize?: number;
}

export interface Watch {
  close(): Promise<void>;
}

export interface AllocateRequest {
  /** Normalized DNS name (key). */
  name: string;
  label: string;
  framework: string;
  /** Ports to add (merged with the ports the VIP already has). */
  ports: readonly VipPort[];
  /** Preferred IPv4 address as an unsigned integer, from `preferredAddress()` (the name's hash). */
  preferred: number;
}

export interface AllocateResult {
  vip: VipRecord;
  /** True when the address was newly assigned by this call (false: existing, or taken back from quarantine). */
  created: boolean;
  /** True when the address came back from quarantine. */
  fromQuarantine: boolean;
}

export interface QuarantineEntry {
  readonly name: string;
  readonly ipv4: string;
  /** Epoch milliseconds after which the address may go to someone else. */
  readonly until: number;
}

export interface PoolStats {
  /** CIDR as configured, e.g. `10.96.0.0/12`. */
  readonly cidr: string;
  /** Addresses that can be handed out (network, broadcast and exclusions removed). */
  readonly size: number;
  readonly used: number;
  readonly quarantined: number;
  readonly free: number;
}

/**
 * A pool configuration in canonical form: what a store keeps beside its table, so that every
 * process sharing the store derives the same addresses (docs/vip.md, "The stored pools").
 * `planPools()` builds it; two configurations that hand out the same addresses and the same AAAA
 * have the same canonical form (`poolConfigKey`).
 */
export interface PoolConfig {
  /** IPv4 pools, canonical CIDRs, in configuration order (the order IPv6 offsets follow). */
  readonly pools: readonly string[];
  /** What the exclusions removed from the pools, as canonical CIDRs (a bare address for a /32),
   *  in address order; network and broadcast addresses are implicit. */
  readonly exclude: readonly string[];
  /** The IPv6 pool, canonical CIDR; absent: no AAAA. */
  readonly ipv6Pool?: string;
  /** Whether pools outside RFC 1918 / fd00::/8 were allowed (not part of the comparison). */
  readonly allowNonPrivate: boolean;
}

/** Everything the stores need to know about the pools, already validated. */
export interface PoolLayout {
  /** IPv4 ranges available for allocation, sorted, non-overlapping, inclusive, as integers
   *  (network, broadcast and exclusions already removed). */
  readonly ranges: readonly { readonly start: number; readonly end: number; readonly cidr: string }[];
  /** Total number of allocatable IPv4 addresses. */
  readonly size: number;
  /** The configuration this layout was planned from (`planPools` sets it). A store keeps it with the
   *  layout; absent for a layout read from a store written by an older Hoplite, which kept only the
   *  IPv4 ranges. */
  readonly config?: PoolConfig;
}

/**
 * What opening a store did with the pools (docs/vip.md, "The stored pools"):
 * - `created`: the store held no pools; the given ones were written.
 * - `same`: the store holds the same pools (nothing to do).
 * - `adopted`: the store holds other pools; they were kept and this handle follows them.
 * - `updated`: the store held other pools; `updatePools` replaced them with the given ones.
 */
export type PoolsOutcome = 'created' | 'same' | 'adopted' | 'updated';

/** The full table, as exported and imported. */
export interface VipTableExport {
  readonly format: 'hoplite-vip-table';
  readonly version: 1;
  readonly revision: number;
  readonly vips: readonly VipRecord[];
  readonly quarantine: readonly QuarantineEntry[];
}

export interface CheckProblem {
  readonly code: string;
  readonly message: string;
  /** Name or address concerned. */
  readonly subject: string;
  /** Whether `check --repair` can mend it safely. */
  readonly repairable: boolean;
}

/**
 * The result of `check`, the same on both stores:
 * - `problems`: what is wrong when the call returns, i.e. AFTER the repair when `repair` is true
 *   (what could not be mended, or was not repairable); before it when not repairing.
 * - `repaired`: one line per thing the repair did (empty when not repairing or nothing was done).
 * - `ok`: `problems` is empty.
 * To see what was wrong before a repair, check without `repair` first.
 */
export interface CheckReport {
  readonly ok: boolean;
  readonly problems: readonly CheckProblem[];
  /** What a repair did (empty when not repairing). */
  readonly repaired: readonly string[];
}

export interface VipStore {
  /** 'embedded' or 'redis'. */
  readonly kind: string;
  /** Allocate (idempotent). Atomic: one transaction / one Lua script. */
  allocate(req: AllocateRequest, now: number): Promise<AllocateResult>;
  /** Release: the address goes into quarantine until now + quarantineMs. Returns the released VIP,
   *  or undefined when the name is unknown. */
  release(name: string, now: number): Promise<VipRecord | undefined>;
  /** Pin `ipv4` (unsigned integer) to a name (named VIP) or reserve an IP VIP. */
  reserve(req: Omit<AllocateRequest, 'preferred'> & { kind: VipKind; address: number }, now: number): Promise<AllocateResult>;
  get(name: string): Promise<VipRecord | undefined>;
  getByAddress(ipv4: string): Promise<VipRecord | undefined>;
  list(): Promise<VipRecord[]>;
  snapshot(): Promise<VipSnapshot>;
  revision(): Promise<number>;
  quarantine(now: number): Promise<QuarantineEntry[]>;
  stats(now: number): Promise<PoolStats[]>;
  /** Change feed: first a 'snapshot' event (unless `fromRevision` is given and the store still
   *  holds every change after it), then every change in revision order. A consumer that sees a
   *  revision gap resyncs by itself; the watcher does it for you. With `chunkSize`, snapshots are
   *  streamed (WatchEvent). Throws BadOptionError for a bad `chunkSize`. */
  watch(listener: (event: WatchEvent) => void, opts?: WatchOptions): Watch;
  exportTable(now: number): Promise<VipTableExport>;
  /** Replace the whole table atomically, or change nothing and throw. */
  importTable(table: VipTableExport, now: number): Promise<void>;
  /** `problems` are those remaining when the call returns (after the repair); see CheckReport. */
  check(opts: { repair: boolean }, now: number): Promise<CheckReport>;
  /**
   * The pool layout this store follows: the one stored with the table (authoritative once written;
   * see `poolsOutcome`), with the configuration it came from when the store holds it. Kept current
   * by the store's own reads and writes; `refreshLayout()` reads it now.
   */
  readonly layout: PoolLayout;
  /** What opening the store did with the given pools. */
  readonly poolsOutcome: PoolsOutcome;
  /** Read the stored pools now (another process may have updated them); resolves with `layout`. */
  refreshLayout(): Promise<PoolLayout>;
  close(): Promise<void>;
}

/** Options every store factory takes, beside its own (path, url...). */
export interface StoreCommonOptions {
  /** Validated pools (from `planPools(...).layout`). Written when the store holds none yet; a store
   *  that holds other pools keeps them (`poolsOutcome: 'adopted'`) unless `updatePools` is set. */
  layout: PoolLayout;
  /** Replace the stored pools with `layout` when they differ (default false: follow the stored ones). */
  updatePools?: boolean;
  /** How long a released address stays reserved for its old name, in milliseconds (0: none). */
  quarantineMs: number;
  /** pino logger; silent when absent. */
  logger?: Logger;
}

