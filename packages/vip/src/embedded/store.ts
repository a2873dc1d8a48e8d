/**
 * The embedded store: one SQLite file (better-sqlite3) shared by the processes of one machine.
 *
 * - WAL journal: readers never wait for the writer; a commit is one append to the WAL.
 * - Every mutation is one `BEGIN IMMEDIATE` transaction (the write lock is taken up front, so two
 *   processes never both read-then-write). SQLite's own busy handler would block the event loop,
 *   so it is off (busy_timeout 0) and a locked database is retried here with a short randomized
 *   backoff until `busyTimeoutMs`, then StoreUnavailableError.
 * - synchronous=FULL by default: the WAL is fsynced at every commit, so an acknowledged allocation
 *   survives kill -9 AND a power cut. (NORMAL would survive kill -9 only.) VIP allocations are rare
 *   operator/deploy events, so the fsync is worth it; `synchronous: 'normal'` trades it for speed.
 * - Free space is a table of ranges (see schema.ts): finding a free address is an index lookup,
 *   whatever the pool size or how full it is.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pino, type Logger } from 'pino';
import { formatIpv4, parseIpv4 } from '../addr.js';
import {
  AddressOutsidePoolError,
  AddressTakenError,
  BadAddressError,
  BadImportError,
  BadOptionError,
  ClosedError,
  PoolExhaustedError,
  StoreIncompatibleError,
  StoreUnavailableError,
  VipError,
} from '../errors.js';
import { inLayout, layoutKey, layoutPools, rangeIndexOf } from '../pools.js';
import { decodePorts, encodePorts, hasAllPorts, mergePorts, validateTable } from '../records.js';
import { isNormalizedVipName } from '../names.js';
import { decidePools, describePools, encodeStoredPools, POOLS_ADOPTED_LOG, storedLayout } from '../stored-pools.js';
import type {
  AllocateRequest,
  AllocateResult,
  CheckProblem,
  CheckReport,
  PoolLayout,
  PoolsOutcome,
  PoolStats,
  QuarantineEntry,
  StoreCommonOptions,
  VipChange,
  VipKind,
  VipRecord,
  VipSnapshot,
  VipStore,
  VipTableExport,
  Watch,
  WatchEvent,
  WatchOptions,
} from '../types.js';
import { watchChunkSize } from '../watch-options.js';
import { SCHEMA_SQL, SCHEMA_VERSION, TABLES } from './schema.js';

export interface EmbeddedStoreOptions extends StoreCommonOptions {
  /** The database file. Its directory is created when missing. */
  path: string;
  /** How long to keep retrying while another process holds the write lock (default 10000 ms). */
  busyTimeoutMs?: number;
  /** `full` (default): durable across power loss; `normal`: across process crashes only, faster. */
  synchronous?: 'full' | 'normal';
  /** How often watchers look for changes (default 25 ms). One cheap `PRAGMA data_version` each. */
  pollIntervalMs?: number;
  /** How many change-feed entries to keep (default 10000). A watcher further behind resyncs. */
  changeLogSize?: number;
}

export const EMBEDDED_DEFAULTS = Object.freeze({
  busyTimeoutMs: 10_000,
  synchronous: 'full' as const,
  pollIntervalMs: 25,
  changeLogSize: 10_000,
});

/** How many expired quarantine entries one write merges back into the free space. */
const EXPIRE_BATCH = 16;

type DB = Database.Database;
type Stmt = Database.Statement;

interface VipRow {
  name: string;
  kind: string;
  label: string;
  framework: string;
  ipv4: number;
  ports: string;
  pinned: number;
  created_rev: number;
  updated_rev: number;
}
interface StateRow {
  schema: number;
  revision: number;
  layout: string;
  layout_key: string;
  pools: string | null;
}
interface FreeRow {
  first: number;
  last: number;
}
interface QuarantineRow {
  ipv4: number;
  name: string;
  until: number;
}
interface ChangeRow {
  revision: number;
  type: string;
  name: string;
  vip: string;
}

function toRecord(r: VipRow): VipRecord {
  return {
    name: r.name,
    kind: r.kind === 'ip' ? 'ip' : 'named',
    label: r.label,
    framework: r.framework,
    ipv4: formatIpv4(r.ipv4),
    ports: decodePorts(r.ports),
    pinned: r.pinned === 1,
    createdRevision: r.created_rev,
    updatedRevision: r.updated_rev,
  };
}

function toChange(r: ChangeRow): VipChange {
  const vip = JSON.parse(r.vip) as VipRecord;
  return r.type === 'delete' ? { revision: r.revision, type: 'delete', name: r.name, vip } : { revision: r.revision, type: 'put', vip };
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED'));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function positiveInt(option: string, value: unknown, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new BadOptionError(option, value, `an integer >= ${min}`);
  }
  return value;
}

type Stmt2<P extends unknown[], R> = Database.Statement<P, R>;

function prepare(db: DB): Statements {
  const q = <P extends unknown[] = [], R = unknown>(sql: string): Stmt2<P, R> => db.prepare<P, R>(sql);
  const qp = <P extends unknown[] = [], R = unknown>(sql: string): Stmt2<P, R> => db.prepare<P, R>(sql).pluck();
  return {
    getState: q<[], StateRow>('SELECT schema, revision, layout, layout_key, pools FROM vip_state WHERE id = 1'),
    setRevision: q<[number]>('UPDATE vip_state SET revision = ? WHERE id = 1'),
    getVip: q<[string], VipRow>('SELECT * FROM vips WHERE name = ?'),
    getVipByIp: q<[number], VipRow>('SELECT * FROM vips WHERE ipv4 = ?'),
    listVips: q<[], VipRow>('SELECT * FROM vips ORDER BY name'),
    // Keyset pagination for streamed snapshots (names are never empty: '' starts at the first).
    vipsAfter: q<[string, number], VipRow>('SELECT * FROM vips WHERE name > ? ORDER BY name LIMIT ?'),
    insertVip: q<[string, string, string, string, number, string, number, number, number]>(
      'INSERT INTO vips (name, kind, label, framework, ipv4, ports, pinned, created_rev, updated_rev) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    updateVip: q<[number, string, number, number, string]>('UPDATE vips SET ipv4 = ?, ports = ?, pinned = ?, updated_rev = ? WHERE name = ?'),
    deleteVip: q<[string]>('DELETE FROM vips WHERE name = ?'),
    countVipsIn: qp<[number, number], number>('SELECT count(*) FROM vips WHERE ipv4 BETWEEN ? AND ?'),
    vipAddressesIn: qp<[number, number], number>('SELECT ipv4 FROM vips WHERE ipv4 BETWEEN ? AND ? ORDER BY ipv4'),
    // Free ranges.
    freeAtOrAfter: q<[number], FreeRow>('SELECT first, last FROM vip_free WHERE last >= ? ORDER BY last LIMIT 1'),
    freeLowest: q<[], FreeRow>('SELECT first, last FROM vip_free ORDER BY first LIMIT 1'),
    freeByLast: q<[number], FreeRow>('SELECT first, last FROM vip_free WHERE last = ?'),
    freeByFirst: q<[number], FreeRow>('SELECT first, last FROM vip_free WHERE first = ?'),
    freeInsert: q<[number, number]>('INSERT INTO vip_free (first, last) VALUES (?, ?)'),
    freeDelete: q<[number]>('DELETE FROM vip_free WHERE first = ?'),
    freeSetFirst: q<[number, number]>('UPDATE vip_free SET first = ? WHERE first = ?'),
    freeSetLast: q<[number, number]>('UPDATE vip_free SET last = ? WHERE first = ?'),
    freeClear: q('DELETE FROM vip_free'),
    freeAll: q<[], FreeRow>('SELECT first, last FROM vip_free NOT INDEXED'),
    // Quarantine.
    quarantineOfName: q<[string, number], QuarantineRow>(
      'SELECT ipv4, name, until FROM vip_quarantine WHERE name = ? AND until > ? ORDER BY until DESC LIMIT 1',
    ),
    quarantineAt: q<[number], QuarantineRow>('SELECT ipv4, name, until FROM vip_quarantine WHERE ipv4 = ?'),
    quarantineExpired: q<[number, number], QuarantineRow>(
      'SELECT ipv4, name, until FROM vip_quarantine WHERE until <= ? ORDER BY until LIMIT ?',
    ),
    quarantineLive: q<[number], QuarantineRow>('SELECT ipv4, name, until FROM vip_quarantine WHERE until > ? ORDER BY ipv4'),
    quarantineAll: q<[], QuarantineRow>('SELECT ipv4, name, until FROM vip_quarantine NOT INDEXED'),
    quarantineAddressesIn: qp<[number, number], number>('SELECT ipv4 FROM vip_quarantine WHERE ipv4 BETWEEN ? AND ? ORDER BY ipv4'),
    countQuarantineIn: qp<[number, number, number], number>('SELECT count(*) FROM vip_quarantine WHERE ipv4 BETWEEN ? AND ? AND until > ?'),
    quarantinePut: q<[number, string, number]>('INSERT OR REPLACE INTO vip_quarantine (ipv4, name, until) VALUES (?, ?, ?)'),
    quarantineDelete: q<[number]>('DELETE FROM vip_quarantine WHERE ipv4 = ?'),
    // Changes.
    insertChange: q<[number, string, string, string]>('INSERT INTO vip_changes (revision, type, name, vip) VALUES (?, ?, ?, ?)'),
    trimChanges: q<[number]>('DELETE FROM vip_changes WHERE revision <= ?'),
    changesAfter: q<[number, number], ChangeRow>('SELECT revision, type, name, vip FROM vip_changes WHERE revision > ? ORDER BY revision LIMIT ?'),
  };
}
interface Statements {
  getState: Stmt2<[], StateRow>;
  setRevision: Stmt2<[number], unknown>;
  getVip: Stmt2<[string], VipRow>;
  getVipByIp: Stmt2<[number], VipRow>;
  listVips: Stmt2<[], VipRow>;
  vipsAfter: Stmt2<[string, number], VipRow>;
  insertVip: Stmt2<[string, string, string, string, number, string, number, number, number], unknown>;
  updateVip: Stmt2<[number, string, number, number, string], unknown>;
  deleteVip: Stmt2<[string], unknown>;
  countVipsIn: Stmt2<[number, number], number>;
  vipAddressesIn: Stmt2<[number, number], number>;
  freeAtOrAfter: Stmt2<[number], FreeRow>;
  freeLowest: Stmt2<[], FreeRow>;
  freeByLast: Stmt2<[number], FreeRow>;
  freeByFirst: Stmt2<[number], FreeRow>;
  freeInsert: Stmt2<[number, number], unknown>;
  freeDelete: Stmt2<[number], unknown>;
  freeSetFirst: Stmt2<[number, number], unknown>;
  freeSetLast: Stmt2<[number, number], unknown>;
  freeClear: Stmt2<[], unknown>;
  freeAll: Stmt2<[], FreeRow>;
  quarantineOfName: Stmt2<[string, number], QuarantineRow>;
  quarantineAt: Stmt2<[number], QuarantineRow>;
  quarantineExpired: Stmt2<[number, number], QuarantineRow>;
  quarantineLive: Stmt2<[number], QuarantineRow>;
  quarantineAll: Stmt2<[], QuarantineRow>;
  quarantineAddressesIn: Stmt2<[number, number], number>;
  countQuarantineIn: Stmt2<[number, number, number], number>;
  quarantinePut: Stmt2<[number, string, number], unknown>;
  quarantineDelete: Stmt2<[number], unknown>;
  insertChange: Stmt2<[number, string, string, string], unknown>;
  trimChanges: Stmt2<[number], unknown>;
  changesAfter: Stmt2<[number, number], ChangeRow>;
}
interface WatchConnection {
  db: DB;
  st: Statements;
  dataVersion: Stmt;
}

export class EmbeddedStore implements VipStore {
  readonly kind = 'embedded';
  readonly path: string;
  readonly quarantineMs: number;
  readonly #logger: Logger;
  readonly #busyTimeoutMs: number;
  readonly #pollIntervalMs: number;
  readonly #changeLogSize: number;
  #db: DB;
  #st: Statements;
  #layout: PoolLayout;
  /** layout_key and pools of the state row `#layout` was read from. */
  #layoutState: string;
  readonly poolsOutcome: PoolsOutcome;
  #closed = false;
  #watchDb: DB | undefined;
  readonly #watches = new Set<EmbeddedWatch>();
  // Transactions (better-sqlite3 wrappers; run with .immediate() for writes, .deferred() for reads).
  readonly #txAllocate;
  readonly #txRelease;
  readonly #txReserve;
  readonly #txImport;
  readonly #txCheck;
  readonly #txRead;

  private constructor(db: DB, opts: Required<Omit<EmbeddedStoreOptions, 'logger' | 'updatePools'>> & { logger: Logger }, state: StateRow, outcome: PoolsOutcome) {
    this.#db = db;
    this.path = opts.path;
    this.quarantineMs = opts.quarantineMs;
    this.#logger = opts.logger;
    this.#busyTimeoutMs = opts.busyTimeoutMs;
    this.#pollIntervalMs = opts.pollIntervalMs;
    this.#changeLogSize = opts.changeLogSize;
    this.#st = prepare(db);
    this.#layout = storedLayout(state.layout_key, state.pools).layout;
    this.#layoutState = `${state.layout_key}\n${state.pools ?? ''}`;
    this.poolsOutcome = outcome;
    this.#txAllocate = db.transaction((req: AllocateRequest, now: number) => this.#allocate(req, now));
    this.#txRelease = db.transaction((name: string, now: number) => this.#release(name, now));
    this.#txReserve = db.transaction((req: ReserveRequest, now: number) => this.#reserve(req, now));
    this.#txImport = db.transaction((table: VipTableExport, now: number) => this.#import(table, now));
    this.#txCheck = db.transaction((repair: boolean, now: number) => this.#check(repair, now));
    this.#txRead = db.transaction((fn: () => unknown): unknown => fn());
  }

  /** Open (creating when missing) the database at `opts.path` and bring its pool layout up to date. */
  static async open(opts: EmbeddedStoreOptions): Promise<EmbeddedStore> {
    if (typeof opts.path !== 'string' || opts.path === '') throw new BadOptionError('path', opts.path, 'a file path');
    if (opts.path === ':memory:' || opts.path.startsWith('file:')) {
      throw new BadOptionError('path', opts.path, 'a file path (several connections share the file; ":memory:" cannot be shared)');
    }
    const full = {
      path: opts.path,
      layout: opts.layout,
      quarantineMs: positiveInt('quarantineMs', opts.quarantineMs, 0),
      busyTimeoutMs: positiveInt('busyTimeoutMs', opts.busyTimeoutMs, EMBEDDED_DEFAULTS.busyTimeoutMs),
      pollIntervalMs: positiveInt('pollIntervalMs', opts.pollIntervalMs, EMBEDDED_DEFAULTS.pollIntervalMs, 1),
      changeLogSize: positiveInt('changeLogSize', opts.changeLogSize, EMBEDDED_DEFAULTS.changeLogSize, 1),
      synchronous: opts.synchronous ?? EMBEDDED_DEFAULTS.synchronous,
      logger: (opts.logger ?? pino({ level: 'silent' })).child({ component: 'vip-store', store: 'embedded' }),
    };
    if (full.synchronous !== 'full' && full.synchronous !== 'normal') throw new BadOptionError('synchronous', full.synchronous, '"full" or "normal"');
    if (opts.layout === undefined || !Array.isArray(opts.layout.ranges) || opts.layout.size <= 0) {
      throw new BadOptionError('layout', opts.layout, 'a PoolLayout from planPools()');
    }
    try {
      mkdirSync(dirname(full.path), { recursive: true });
    } catch (err) {
      throw new StoreUnavailableError(full.path, `cannot create its directory: ${(err as Error).message}`, { cause: err });
    }
    let db: DB;
    try {
      db = new Database(full.path, { timeout: 0 });
    } catch (err) {
      throw new StoreUnavailableError(full.path, `cannot open: ${(err as Error).message}`, { cause: err });
    }
    try {
      const update = opts.updatePools ?? false;
      if (typeof update !== 'boolean') throw new BadOptionError('updatePools', update, 'true or false');
      const { state, outcome } = await retryBusy(full.path, full.busyTimeoutMs, 'open', () =>
        initialize(db, full.layout, update, full.synchronous, full.logger, full.path),
      );
      return new EmbeddedStore(db, full, state, outcome);
    } catch (err) {
      db.close();
      throw wrapSqlite(full.path, err);
    }
  }

  /** The pool layout the database follows: the stored one (see VipStore.layout). */
  get layout(): PoolLayout {
    return this.#layout;
  }

  async refreshLayout(): Promise<PoolLayout> {
    await this.#retry('read pools', () => this.#readState());
    return this.#layout;
  }

  // ---------------------------------------------------------------- public API

  async allocate(req: AllocateRequest, now: number): Promise<AllocateResult> {
    // Fast path without the write lock: an existing VIP that already has every port asked for.
    const existing = await this.#retry('allocate', () => this.#st.getVip.get(req.name));
    if (existing !== undefined && hasAllPorts(decodePorts(existing.ports), req.ports)) {
      return { vip: toRecord(existing), created: false, fromQuarantine: false };
    }
    return this.#retry('allocate', () => this.#txAllocate.immediate(req, now));
  }

  async release(name: string, now: number): Promise<VipRecord | undefined> {
    return this.#retry('release', () => this.#txRelease.immediate(name, now));
  }

  async reserve(req: ReserveRequest, now: number): Promise<AllocateResult> {
    return this.#retry('reserve', () => this.#txReserve.immediate(req, now));
  }

  async get(name: string): Promise<VipRecord | undefined> {
    const row = await this.#retry('get', () => this.#st.getVip.get(name));
    return row === undefined ? undefined : toRecord(row);
  }

  async getByAddress(ipv4: string): Promise<VipRecord | undefined> {
    const n = parseIpv4(ipv4);
    if (n === undefined) throw new BadAddressError('address', ipv4, 'not a dotted IPv4 address');
    const row = await this.#retry('get', () => this.#st.getVipByIp.get(n));
    return row === undefined ? undefined : toRecord(row);
  }

  async list(): Promise<VipRecord[]> {
    return (await this.#retry('list', () => this.#st.listVips.all())).map(toRecord);
  }

  async snapshot(): Promise<VipSnapshot> {
    return this.#retry('snapshot', () => this.#read(() => readSnapshot(this.#st)));
  }

  async revision(): Promise<number> {
    return this.#retry('revision', () => this.#readState().revision);
  }

  async quarantine(now: number): Promise<QuarantineEntry[]> {
    const rows = await this.#retry('quarantine', () => this.#st.quarantineLive.all(now));
    return rows.map((q) => ({ name: q.name, ipv4: formatIpv4(q.ipv4), until: q.until }));
  }

  async stats(now: number): Promise<PoolStats[]> {
    return this.#retry('stats', () =>
      this.#read(() => {
        this.#readState();
        const out: PoolStats[] = [];
        for (const pool of layoutPools(this.#layout)) {
          let used = 0;
          let quarantined = 0;
          for (const r of this.#layout.ranges) {
            if (r.cidr !== pool.cidr) continue;
            used += this.#st.countVipsIn.get(r.start, r.end) ?? 0;
            quarantined += this.#st.countQuarantineIn.get(r.start, r.end, now) ?? 0;
          }
          out.push({ cidr: pool.cidr, size: pool.size, used, quarantined, free: pool.size - used - quarantined });
        }
        return out;
      }),
    );
  }

  watch(listener: (event: WatchEvent) => void, opts: WatchOptions = {}): Watch {
    this.#assertOpen();
    const chunkSize = watchChunkSize(opts);
    const w = new EmbeddedWatch(this, () => this.#watchConnection(), listener, opts.fromRevision, this.#pollIntervalMs, this.#logger, chunkSize);
    this.#watches.add(w);
    return w;
  }

  async exportTable(now: number): Promise<VipTableExport> {
    return this.#retry('export', () =>
      this.#read(() => {
        const state = this.#readState();
        return {
          format: 'hoplite-vip-table' as const,
          version: 1 as const,
          revision: state.revision,
          vips: this.#st.listVips.all().map(toRecord),
          quarantine: this.#st.quarantineLive.all(now).map((q) => ({ name: q.name, ipv4: formatIpv4(q.ipv4), until: q.until })),
        };
      }),
    );
  }

  async importTable(table: VipTableExport, now: number): Promise<void> {
    await this.#retry('import', () => this.#txImport.immediate(table, now));
  }

  async check(opts: { repair: boolean }, now: number): Promise<CheckReport> {
    return this.#retry('check', () => (opts.repair ? this.#txCheck.immediate(true, now) : this.#txCheck.deferred(false, now)));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const w of [...this.#watches]) await w.close();
    this.#watchDb?.close();
    this.#watchDb = undefined;
    this.#db.close();
  }

  // ---------------------------------------------------------------- internals for EmbeddedWatch

  /** The watchers' own connection (data_version only changes for commits by others). */
  #watchConnection(): WatchConnection {
    this.#assertOpen();
    if (this.#watchDb === undefined) {
      const db = new Database(this.path, { timeout: 0, fileMustExist: true });
      this.#watchDb = db;
      this.#watchSt = { db, st: prepare(db), dataVersion: db.prepare('PRAGMA data_version').pluck() };
    }
    return this.#watchSt as WatchConnection;
  }
  #watchSt: WatchConnection | undefined;

  #read<T>(fn: () => T): T {
    return this.#txRead.deferred(fn) as T;
  }

  /** @internal */
  forgetWatch(w: EmbeddedWatch): void {
    this.#watches.delete(w);
  }

  get closed(): boolean {
    return this.#closed;
  }

  // ---------------------------------------------------------------- transactions (synchronous)

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('the embedded VIP store');
  }

  async #retry<T>(what: string, fn: () => T): Promise<T> {
    this.#assertOpen();
    try {
      return await retryBusy(this.path, this.#busyTimeoutMs, what, () => {
        this.#assertOpen();
        return fn();
      });
    } catch (err) {
      throw wrapSqlite(this.path, err);
    }
  }

  /** Read the state row; follow the pools when another process updated them. */
  #readState(): StateRow {
    const state = this.#st.getState.get();
    if (state === undefined) throw new StoreIncompatibleError(this.path, 'vip_state row missing');
    const key = `${state.layout_key}\n${state.pools ?? ''}`;
    if (key !== this.#layoutState) {
      const previous = this.#layout;
      this.#layout = storedLayout(state.layout_key, state.pools).layout;
      this.#layoutState = key;
      this.#logger.warn({ previous: describePools(previous), pools: describePools(this.#layout) }, 'vip pools updated by another process');
    }
    return state;
  }

  #logChange(revision: number, type: 'put' | 'delete', vip: VipRecord): void {
    this.#st.setRevision.run(revision);
    this.#st.insertChange.run(revision, type, vip.name, JSON.stringify(vip));
    if (revision > this.#changeLogSize) this.#st.trimChanges.run(revision - this.#changeLogSize);
  }

  /** Remove `address` from the free range `row` that holds it. */
  #split(row: FreeRow, address: number): void {
    const st = this.#st;
    if (row.first === row.last) st.freeDelete.run(row.first);
    else if (address === row.first) st.freeSetFirst.run(address + 1, row.first);
    else if (address === row.last) st.freeSetLast.run(address - 1, row.first);
    else {
      st.freeSetLast.run(address - 1, row.first);
      st.freeInsert.run(address + 1, row.last);
    }
  }

  /** Take `address` out of the free space; false when it was not free. */
  #take(address: number): boolean {
    const row = this.#st.freeAtOrAfter.get(address);
    if (row === undefined || row.first > address) return false;
    this.#split(row, address);
    return true;
  }

  /** The first free address >= preferred, wrapping to the lowest; taken out of the free space. */
  #takeFree(preferred: number): number | undefined {
    let row = this.#st.freeAtOrAfter.get(preferred);
    let address: number;
    if (row !== undefined) address = Math.max(row.first, preferred);
    else {
      row = this.#st.freeLowest.get();
      if (row === undefined) return undefined;
      address = row.first;
    }
    this.#split(row, address);
    return address;
  }

  /** Put `address` back into the free space, merging with its neighbours. */
  #giveBack(address: number): void {
    const st = this.#st;
    if (!inLayout(this.#layout, address)) return;
    if (st.getVipByIp.get(address) !== undefined) return;
    const holder = st.freeAtOrAfter.get(address);
    if (holder !== undefined && holder.first <= address) return;
    const left = st.freeByLast.get(address - 1);
    const right = st.freeByFirst.get(address + 1);
    if (left !== undefined && right !== undefined) {
      st.freeDelete.run(right.first);
      st.freeSetLast.run(right.last, left.first);
    } else if (left !== undefined) st.freeSetLast.run(address, left.first);
    else if (right !== undefined) st.freeSetFirst.run(address, right.first);
    else st.freeInsert.run(address, address);
  }

  /** Merge up to `limit` expired quarantine entries back into the free space. Returns how many. */
  #expire(now: number, limit: number): number {
    const rows = this.#st.quarantineExpired.all(now, limit);
    for (const q of rows) {
      this.#st.quarantineDelete.run(q.ipv4);
      this.#giveBack(q.ipv4);
    }
    return rows.length;
  }

  #allocate(req: AllocateRequest, now: number): AllocateResult {
    const st = this.#st;
    const state = this.#readState();
    const existing = st.getVip.get(req.name);
    if (existing !== undefined) {
      const had = decodePorts(existing.ports);
      if (hasAllPorts(had, req.ports)) return { vip: toRecord(existing), created: false, fromQuarantine: false };
      const revision = state.revision + 1;
      const ports = encodePorts(mergePorts(had, req.ports));
      st.updateVip.run(existing.ipv4, ports, existing.pinned, revision, req.name);
      const vip = toRecord({ ...existing, ports, updated_rev: revision });
      this.#logChange(revision, 'put', vip);
      return { vip, created: false, fromQuarantine: false };
    }
    this.#expire(now, EXPIRE_BATCH);
    let address: number | undefined;
    let fromQuarantine = false;
    const q = st.quarantineOfName.get(req.name, now);
    if (q !== undefined) {
      st.quarantineDelete.run(q.ipv4);
      if (inLayout(this.#layout, q.ipv4) && st.getVipByIp.get(q.ipv4) === undefined) {
        address = q.ipv4;
        fromQuarantine = true;
      }
    }
    if (address === undefined) {
      address = this.#takeFree(req.preferred);
      while (address === undefined && this.#expire(now, 256) > 0) address = this.#takeFree(req.preferred);
      if (address === undefined) throw new PoolExhaustedError(req.name, layoutPools(this.#layout));
    }
    const revision = state.revision + 1;
    const row: VipRow = {
      name: req.name,
      kind: 'named',
      label: req.label,
      framework: req.framework,
      ipv4: address,
      ports: encodePorts(mergePorts([], req.ports)),
      pinned: 0,
      created_rev: revision,
      updated_rev: revision,
    };
    st.insertVip.run(row.name, row.kind, row.label, row.framework, row.ipv4, row.ports, row.pinned, revision, revision);
    const vip = toRecord(row);
    this.#logChange(revision, 'put', vip);
    return { vip, created: !fromQuarantine, fromQuarantine };
  }

  /** Put a released address into quarantine for `name` (or straight back into the free space). */
  #quarantine(address: number, name: string, now: number): void {
    if (!inLayout(this.#layout, address)) return;
    if (this.quarantineMs > 0) this.#st.quarantinePut.run(address, name, now + this.quarantineMs);
    else this.#giveBack(address);
  }

  #release(name: string, now: number): VipRecord | undefined {
    const st = this.#st;
    const state = this.#readState();
    const existing = st.getVip.get(name);
    if (existing === undefined) return undefined;
    st.deleteVip.run(name);
    this.#quarantine(existing.ipv4, name, now);
    this.#expire(now, EXPIRE_BATCH);
    const vip = toRecord(existing);
    this.#logChange(state.revision + 1, 'delete', vip);
    return vip;
  }

  #reserve(req: ReserveRequest, now: number): AllocateResult {
    const st = this.#st;
    const state = this.#readState();
    const address = req.address;
    const dotted = formatIpv4(address);
    if (!inLayout(this.#layout, address)) throw new AddressOutsidePoolError(dotted, layoutPools(this.#layout).map((p) => p.cidr));
    const holder = st.getVipByIp.get(address);
    if (holder !== undefined && holder.name !== req.name) throw new AddressTakenError(dotted, req.name, holder.name, 'used');
    const existing = holder ?? st.getVip.get(req.name);
    const revision = state.revision + 1;
    if (holder !== undefined) {
      // Already this name's address: pin it, add ports.
      const had = decodePorts(holder.ports);
      if (holder.pinned === 1 && hasAllPorts(had, req.ports)) return { vip: toRecord(holder), created: false, fromQuarantine: false };
      const ports = encodePorts(mergePorts(had, req.ports));
      st.updateVip.run(address, ports, 1, revision, req.name);
      const vip = toRecord({ ...holder, ports, pinned: 1, updated_rev: revision });
      this.#logChange(revision, 'put', vip);
      return { vip, created: false, fromQuarantine: false };
    }
    const q = st.quarantineAt.get(address);
    let fromQuarantine = false;
    if (q !== undefined) {
      if (q.until > now && q.name !== req.name) throw new AddressTakenError(dotted, req.name, q.name, 'quarantined', q.until);
      st.quarantineDelete.run(address);
      fromQuarantine = q.until > now;
    } else {
      // Normally free; if it was neither free nor used (a leak), taking it mends the leak.
      this.#take(address);
    }
    if (existing !== undefined) {
      // The name moves to the pinned address; its old address goes into quarantine under its name.
      const ports = encodePorts(mergePorts(decodePorts(existing.ports), req.ports));
      st.updateVip.run(address, ports, 1, revision, req.name);
      this.#quarantine(existing.ipv4, req.name, now);
      const vip = toRecord({ ...existing, ipv4: address, ports, pinned: 1, updated_rev: revision });
      this.#logChange(revision, 'put', vip);
      return { vip, created: false, fromQuarantine };
    }
    const row: VipRow = {
      name: req.name,
      kind: req.kind,
      label: req.label,
      framework: req.framework,
      ipv4: address,
      ports: encodePorts(mergePorts([], req.ports)),
      pinned: 1,
      created_rev: revision,
      updated_rev: revision,
    };
    st.insertVip.run(row.name, row.kind, row.label, row.framework, row.ipv4, row.ports, 1, revision, revision);
    const vip = toRecord(row);
    this.#logChange(revision, 'put', vip);
    return { vip, created: !fromQuarantine, fromQuarantine };
  }

  /** Rebuild the free space: every layout address that is neither a VIP's nor quarantined. */
  #rebuildFree(): void {
    rebuildFree(this.#st, this.#layout);
  }

  #import(table: VipTableExport, now: number): void {
    const state = this.#readState();
    const problems = validateTable(table, this.#layout);
    if (problems.length > 0) throw new BadImportError(problems);
    const db = this.#db;
    db.exec('DELETE FROM vips; DELETE FROM vip_quarantine; DELETE FROM vip_changes; DELETE FROM vip_free;');
    for (const v of table.vips) {
      this.#st.insertVip.run(
        v.name,
        v.kind,
        v.label,
        v.framework,
        parseIpv4(v.ipv4) as number,
        encodePorts(mergePorts([], v.ports)),
        v.pinned ? 1 : 0,
        v.createdRevision,
        v.updatedRevision,
      );
    }
    for (const q of table.quarantine) {
      if (q.until > now) this.#st.quarantinePut.run(parseIpv4(q.ipv4) as number, q.name, q.until);
    }
    this.#rebuildFree();
    // No change-feed entries: the revision jumps and watchers resync from a snapshot.
    this.#st.setRevision.run(Math.max(state.revision, table.revision) + 1);
  }

  #check(repair: boolean, now: number): CheckReport {
    this.#readState();
    const first = inspect(this.#db, this.#st, this.#layout, now);
    if (!repair || first.every((p) => !p.repairable)) {
      return { ok: first.length === 0, problems: first, repaired: [] };
    }
    const repaired: string[] = [];
    if (first.some((p) => p.code === 'INDEX_MISMATCH')) {
      try {
        this.#db.exec('REINDEX');
        repaired.push('rebuilt every index (REINDEX)');
      } catch (err) {
        this.#logger.warn({ err }, 'vip check reindex failed');
      }
    }
    for (const p of first) {
      if (p.code === 'QUARANTINE_MISMATCH') {
        this.#st.quarantineDelete.run(parseIpv4(p.subject) as number);
        repaired.push(`removed the quarantine entry of ${p.subject}`);
      }
    }
    if (first.some((p) => p.code.startsWith('FREE_'))) {
      this.#rebuildFree();
      repaired.push('rebuilt the free space from the pools, the VIPs and the quarantine');
    }
    const revisionProblem = first.find((p) => p.code === 'REVISION_BEHIND');
    if (revisionProblem !== undefined) {
      const max = this.#db.prepare<[], number>('SELECT max((SELECT coalesce(max(updated_rev), 0) FROM vips), (SELECT coalesce(max(revision), 0) FROM vip_changes))').pluck().get() ?? 0;
      this.#st.setRevision.run(max + 1);
      repaired.push(`raised the revision to ${max + 1}`);
    }
    const after = inspect(this.#db, this.#st, this.#layout, now);
    this.#logger.info({ found: first.length, repaired: repaired.length, remaining: after.length }, 'vip check repaired');
    // The problems left after the repair (CheckReport in types.ts): the same contract as Redis.
    return { ok: after.length === 0, problems: after, repaired };
  }
}

/** What reserve() takes (the VipStore signature, named). */
export type ReserveRequest = Omit<AllocateRequest, 'preferred'> & { kind: VipKind; address: number };

function readSnapshot(st: Statements): VipSnapshot {
  const state = st.getState.get();
  return { revision: state?.revision ?? 0, vips: st.listVips.all().map(toRecord) };
}

function rebuildFree(st: Statements, layout: PoolLayout): void {
  st.freeClear.run();
  for (const r of layout.ranges) {
    const used = st.vipAddressesIn.all(r.start, r.end);
    const held = st.quarantineAddressesIn.all(r.start, r.end);
    // Merge the two sorted lists and insert the gaps.
    let next = r.start;
    let i = 0;
    let j = 0;
    while (i < used.length || j < held.length) {
      const u = used[i];
      const h = held[j];
      let a: number;
      if (h === undefined || (u !== undefined && u <= h)) {
        a = u as number;
        i++;
        if (h === a) j++;
      } else {
        a = h;
        j++;
      }
      if (a > next) st.freeInsert.run(next, a - 1);
      if (a >= next) next = a + 1;
    }
    if (next <= r.end) st.freeInsert.run(next, r.end);
  }
}

/**
 * Open-time work: WAL, the schema, the state row and the pools (stored-pools.ts `decidePools`).
 * Without the write lock when the file is current and nothing is to be written (the same pools,
 * or other pools adopted); else in one IMMEDIATE transaction.
 */
function initialize(
  db: DB,
  layout: PoolLayout,
  update: boolean,
  synchronous: 'full' | 'normal',
  logger: Logger,
  path: string,
): { state: StateRow; outcome: PoolsOutcome } {
  const mode = db.pragma('journal_mode = WAL', { simple: true });
  if (mode !== 'wal') logger.warn({ mode }, 'vip store could not switch to WAL');
  db.pragma(`synchronous = ${synchronous.toUpperCase()}`);
  db.pragma('busy_timeout = 0');
  const key = layoutKey(layout);
  const hasPoolsColumn = (): boolean => db.prepare<[], string>("SELECT name FROM pragma_table_info('vip_state')").pluck().all().includes('pools');
  // Fast path without the write lock: the database is ours, current, and nothing is to be written.
  const ready = db.transaction((): { state: StateRow; outcome: PoolsOutcome } | undefined => {
    const has = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'vip_state'").get();
    if (has === undefined || !hasPoolsColumn()) return undefined;
    const row = db.prepare<[], StateRow>('SELECT schema, revision, layout, layout_key, pools FROM vip_state WHERE id = 1').get();
    if (row === undefined || row.schema !== SCHEMA_VERSION) return undefined;
    for (const t of TABLES) if (!db.prepare('SELECT 1 FROM sqlite_master WHERE name = ?').get(t)) return undefined;
    const d = decidePools({ fingerprint: row.layout_key, pools: row.pools }, layout, update);
    if (d.writeLayout || d.writePools) return undefined;
    return { state: row, outcome: d.outcome };
  });
  const current = ready.deferred();
  if (current !== undefined) {
    if (current.outcome === 'adopted') logAdopted(logger, path, layout, current.state);
    return current;
  }
  const run = db.transaction((): { state: StateRow; outcome: PoolsOutcome } => {
    const tables = db.prepare<[], string>("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all();
    if (tables.length > 0 && !tables.includes('vip_state')) {
      throw new StoreIncompatibleError(path, `it is a SQLite database of something else (tables: ${tables.slice(0, 5).join(', ')})`);
    }
    if (tables.includes('vip_state')) {
      const schema = db.prepare<[], number>('SELECT schema FROM vip_state WHERE id = 1').pluck().get();
      if (schema !== undefined && schema > SCHEMA_VERSION) {
        throw new StoreIncompatibleError(path, `schema version ${schema} is newer than this program's (${SCHEMA_VERSION}); upgrade Hoplite`);
      }
    }
    db.exec(SCHEMA_SQL);
    for (const t of TABLES) if (!db.prepare('SELECT 1 FROM sqlite_master WHERE name = ?').get(t)) throw new StoreIncompatibleError(path, `table ${t} missing`);
    if (!hasPoolsColumn()) db.exec('ALTER TABLE vip_state ADD COLUMN pools TEXT');
    const st = prepare(db);
    const before = st.getState.get();
    const d = decidePools(before === undefined ? undefined : { fingerprint: before.layout_key, pools: before.pools }, layout, update);
    const layoutJson = JSON.stringify({ ranges: layout.ranges, size: layout.size });
    const pools = encodeStoredPools(layout) ?? null;
    if (before === undefined) {
      db.prepare('INSERT INTO vip_state (id, schema, revision, layout, layout_key, pools) VALUES (1, ?, 0, ?, ?, ?)').run(SCHEMA_VERSION, layoutJson, key, pools);
      rebuildFree(st, layout);
      logger.info({ path, pools: describePools(layout) }, 'vip store created');
    } else {
      if (d.writeLayout) {
        db.prepare('UPDATE vip_state SET layout = ?, layout_key = ? WHERE id = 1').run(layoutJson, key);
        rebuildFree(st, layout);
      }
      if (d.writePools) db.prepare('UPDATE vip_state SET pools = ? WHERE id = 1').run(pools);
      if (d.outcome === 'updated') {
        // Every VIP's AAAA may have moved: a gap in the revisions makes watchers resync.
        st.setRevision.run(before.revision + 1);
        const outside = st.listVips.all().filter((v) => !inLayout(layout, v.ipv4)).length;
        logger.warn(
          { path, previous: describePools(storedLayout(before.layout_key, before.pools).layout), pools: describePools(layout), vipsOutsidePools: outside },
          'vip pools updated',
        );
      } else if (d.outcome === 'adopted') {
        logAdopted(logger, path, layout, before);
      }
    }
    return { state: st.getState.get() as StateRow, outcome: d.outcome };
  });
  return run.immediate();
}

function logAdopted(logger: Logger, path: string, configured: PoolLayout, state: StateRow): void {
  logger.warn(
    { path, configured: describePools(configured), stored: describePools(storedLayout(state.layout_key, state.pools).layout) },
    POOLS_ADOPTED_LOG,
  );
}

async function retryBusy<T>(path: string, timeoutMs: number, what: string, fn: () => T): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 1;
  for (;;) {
    try {
      return fn();
    } catch (err) {
      if (!isBusy(err)) throw err;
      if (Date.now() >= deadline) {
        throw new StoreUnavailableError(path, `the database stayed locked by another process for more than ${timeoutMs} ms (${what}); raise busyTimeoutMs or find the process holding it`, {
          cause: err,
        });
      }
      await sleep(delay * (0.5 + Math.random()));
      delay = Math.min(delay * 2, 16);
    }
  }
}

function wrapSqlite(path: string, err: unknown): unknown {
  if (err instanceof VipError) return err;
  if (err instanceof Database.SqliteError) {
    if (err.code === 'SQLITE_NOTADB') return new StoreIncompatibleError(path, 'the file is not a SQLite database');
    return new StoreUnavailableError(path, `${err.code}: ${err.message}`, { cause: err });
  }
  if (err instanceof TypeError && /database connection is not open/.test(err.message)) return new ClosedError('the embedded VIP store');
  return err;
}

// ---------------------------------------------------------------- check

function problem(code: string, subject: string, message: string, repairable: boolean): CheckProblem {
  return { code, subject, message, repairable };
}

/** Every invariant of the table, read without indexes where an index could hide a problem. */
function inspect(db: DB, st: Statements, layout: PoolLayout, now: number): CheckProblem[] {
  const problems: CheckProblem[] = [];
  const integrity = db.prepare<[], string>('PRAGMA integrity_check').pluck().all();
  if (!(integrity.length === 1 && integrity[0] === 'ok')) {
    problems.push(problem('INDEX_MISMATCH', 'database', `SQLite integrity check: ${integrity.slice(0, 3).join('; ')}`, true));
  }
  const vips = db.prepare<[], VipRow>('SELECT * FROM vips NOT INDEXED').all();
  const byAddress = new Map<number, string>();
  let maxRev = 0;
  for (const v of vips) {
    const dotted = formatIpv4(v.ipv4);
    const other = byAddress.get(v.ipv4);
    if (other !== undefined) problems.push(problem('DUPLICATE_ADDRESS', dotted, `${dotted} is the VIP of both ${other} and ${v.name}`, false));
    else byAddress.set(v.ipv4, v.name);
    const good = v.kind === 'ip' ? v.name === dotted && v.label === dotted : v.kind === 'named' && isNormalizedVipName(v.name);
    if (!good) problems.push(problem('RECORD_UNREADABLE', v.name, `record ${v.name} (${v.kind}) has a malformed name for its kind`, false));
    if (!inLayout(layout, v.ipv4)) {
      problems.push(problem('OUTSIDE_POOL', v.name, `${v.name} has ${dotted}, outside the pools (a removed pool or an exclusion); release or reserve it elsewhere`, false));
    }
    maxRev = Math.max(maxRev, v.updated_rev, v.created_rev);
  }
  const quarantine = st.quarantineAll.all();
  const held = new Set<number>();
  for (const q of quarantine) {
    const dotted = formatIpv4(q.ipv4);
    if (byAddress.has(q.ipv4)) problems.push(problem('QUARANTINE_MISMATCH', dotted, `${dotted} is in quarantine for ${q.name} and is the VIP of ${byAddress.get(q.ipv4)}`, true));
    else if (!inLayout(layout, q.ipv4)) problems.push(problem('QUARANTINE_MISMATCH', dotted, `${dotted} is in quarantine but outside the pools`, true));
    else held.add(q.ipv4);
  }
  const free = st.freeAll.all().sort((a, b) => a.first - b.first);
  let freeCount = 0;
  let prev: FreeRow | undefined;
  for (const f of free) {
    const label = `${formatIpv4(f.first)}-${formatIpv4(f.last)}`;
    if (f.last < f.first) problems.push(problem('FREE_FRAGMENTED', label, `free range ${label} is reversed`, true));
    if (prev !== undefined && prev.last >= f.first) problems.push(problem('FREE_FRAGMENTED', label, `free range ${label} overlaps another free range`, true));
    const ri = rangeIndexOf(layout, f.first);
    if (ri < 0 || f.last > (layout.ranges[ri] as PoolLayout['ranges'][number]).end) {
      problems.push(problem('FREE_OUTSIDE_POOL', label, `free range ${label} is not inside one pool range`, true));
    }
    freeCount += Math.max(0, f.last - f.first + 1);
    prev = f;
  }
  const containing = (a: number): FreeRow | undefined => {
    let lo = 0;
    let hi = free.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const f = free[mid] as FreeRow;
      if (a < f.first) hi = mid - 1;
      else if (a > f.last) lo = mid + 1;
      else return f;
    }
    return undefined;
  };
  let usedIn = 0;
  for (const a of byAddress.keys()) {
    if (inLayout(layout, a)) usedIn++;
    if (containing(a) !== undefined) problems.push(problem('FREE_OVERLAP', formatIpv4(a), `${formatIpv4(a)} is a VIP's address and also free`, true));
  }
  for (const a of held) {
    if (containing(a) !== undefined) problems.push(problem('FREE_OVERLAP', formatIpv4(a), `${formatIpv4(a)} is in quarantine and also free`, true));
  }
  const accounted = freeCount + usedIn + held.size;
  if (!problems.some((p) => p.code.startsWith('FREE_')) && accounted < layout.size) {
    problems.push(problem('FREE_LEAK', String(layout.size - accounted), `${layout.size - accounted} pool address(es) are neither free, used nor in quarantine`, true));
  }
  const state = st.getState.get();
  if (state !== undefined && !storedLayout(state.layout_key, state.pools).consistent) {
    problems.push(problem('LAYOUT_DIFFERS', 'pools', 'the stored pool configuration does not describe the stored layout (an older Hoplite rewrote the layout); the layout is followed; open once with updatePools to store both again', false));
  }
  const maxChange = db.prepare<[], number>('SELECT coalesce(max(revision), 0) FROM vip_changes').pluck().get() ?? 0;
  if (state !== undefined && state.revision < Math.max(maxRev, maxChange)) {
    problems.push(problem('REVISION_BEHIND', String(state.revision), `the revision ${state.revision} is below a record's or change's ${Math.max(maxRev, maxChange)}`, true));
  }
  void now;
  return problems;
}

// ---------------------------------------------------------------- watch

type ReadResult = { kind: 'snapshot'; snapshot: VipSnapshot } | { kind: 'resync' } | { kind: 'changes'; revision: number; changes: ChangeRow[] };

/**
 * A snapshot being streamed (chunkSize): pages of the vips table by name (keyset pagination), one
 * short read transaction per page and one page per turn of the event loop, then the changes made
 * meanwhile, replayed from the change log (list-then-watch, as on Redis; types.ts, WatchEvent).
 * Not one read transaction across the whole table: it would be held across event-loop turns (a
 * WAL reader open that long keeps checkpoints from resetting the WAL) or block the loop for the
 * whole read; short ones and a replay give the same table.
 */
interface StreamState {
  /** The revision read with the first page; undefined before it. */
  begin: number | undefined;
  /** The last name delivered (pages continue after it). */
  after: string;
  /** Reading pages, then replaying changes. */
  phase: 'rows' | 'catchup';
  /** The revision the built table is at (the last change replayed). */
  last: number;
}

class EmbeddedWatch implements Watch {
  readonly #store: EmbeddedStore;
  readonly #connection: () => WatchConnection;
  readonly #listener: (event: WatchEvent) => void;
  readonly #interval: number;
  readonly #logger: Logger;
  readonly #chunkSize: number | undefined;
  #from: number | undefined;
  #last = -1;
  #dataVersion: unknown = undefined;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #stream: StreamState | undefined;
  #closed = false;
  #failing = false;
  #backoff = 0;

  constructor(
    store: EmbeddedStore,
    connection: () => WatchConnection,
    listener: (event: WatchEvent) => void,
    fromRevision: number | undefined,
    interval: number,
    logger: Logger,
    chunkSize?: number,
  ) {
    this.#store = store;
    this.#connection = connection;
    this.#listener = listener;
    this.#from = fromRevision;
    this.#interval = interval;
    this.#logger = logger;
    this.#chunkSize = chunkSize;
    this.#timer = setTimeout(() => this.#tick(), 0);
  }

  #emit(event: WatchEvent): void {
    try {
      this.#listener(event);
    } catch (err) {
      this.#logger.error({ err }, 'vip watch listener threw');
    }
  }

  #tick(): void {
    this.#timer = undefined;
    this.#immediate = undefined;
    if (this.#closed) return;
    let delay = this.#interval;
    try {
      if (this.#poll()) delay = 0;
      if (this.#failing) {
        this.#failing = false;
        this.#backoff = 0;
      }
    } catch (err) {
      if (this.#closed || this.#store.closed) return;
      if (!this.#failing) {
        this.#failing = true;
        this.#emit({ type: 'error', error: wrapSqlite(this.#store.path, err) as Error });
      }
      this.#backoff = Math.min(Math.max(this.#backoff * 2, 50), 2000);
      delay = this.#backoff;
      this.#last = -1; // resync once reachable again
      this.#dataVersion = undefined;
      this.#stream = undefined;
    }
    if (this.#closed) return;
    // A snapshot being streamed goes on at the next turn of the event loop.
    if (delay === 0) this.#immediate = setImmediate(() => this.#tick());
    else this.#timer = setTimeout(() => this.#tick(), delay);
  }

  /** One step; true when there is more to do at once (a streamed snapshot goes on). */
  #poll(): boolean {
    if (this.#stream !== undefined) return this.#streamStep(this.#stream, this.#chunkSize as number);
    const { db, st, dataVersion } = this.#connection();
    const dv = dataVersion.get();
    if (this.#last >= 0 && dv === this.#dataVersion) return false;
    const wasFailing = this.#failing;
    const batch = 1000;
    const chunked = this.#chunkSize !== undefined;
    const resync = (): ReadResult => (chunked ? { kind: 'resync' } : { kind: 'snapshot', snapshot: readSnapshot(st) });
    const read = db.transaction((): ReadResult => {
      const revision = st.getState.get()?.revision ?? 0;
      const after = this.#last >= 0 ? this.#last : this.#from;
      if (after === undefined || after > revision) return resync();
      if (after === revision) return { kind: 'changes', revision, changes: [] };
      const rows = st.changesAfter.all(after, batch);
      let expect = after + 1;
      for (const r of rows) {
        if (r.revision !== expect) return resync();
        expect++;
      }
      if (rows.length < batch && expect - 1 !== revision) return resync();
      return { kind: 'changes', revision, changes: rows };
    });
    const result = read.deferred();
    if (wasFailing) this.#emit({ type: 'reconnected' });
    this.#from = undefined;
    if (result.kind === 'resync') {
      this.#stream = { begin: undefined, after: '', phase: 'rows', last: 0 };
      return true;
    }
    this.#dataVersion = dv;
    if (result.kind === 'snapshot') {
      this.#last = result.snapshot.revision;
      this.#emit({ type: 'snapshot', snapshot: result.snapshot });
      return false;
    }
    for (const r of result.changes) {
      if (this.#closed) return false;
      this.#last = r.revision;
      this.#emit({ type: 'change', change: toChange(r) });
    }
    if (result.changes.length === 0) this.#last = result.revision;
    else if (result.changes.length === batch) this.#dataVersion = undefined; // more to read next tick
    return false;
  }

  /** One page of a streamed snapshot, or one batch of its catch-up. True while it goes on. */
  #streamStep(s: StreamState, chunkSize: number): boolean {
    const { db, st, dataVersion } = this.#connection();
    if (s.phase === 'rows') {
      const page = db.transaction(() => ({
        revision: s.begin === undefined ? (st.getState.get()?.revision ?? 0) : s.begin,
        rows: st.vipsAfter.all(s.after, chunkSize),
      }));
      const { revision, rows } = page.deferred();
      if (s.begin === undefined) {
        s.begin = revision;
        s.last = revision;
        this.#emit({ type: 'snapshot-begin', revision });
      }
      if (rows.length > 0) {
        s.after = (rows[rows.length - 1] as VipRow).name;
        this.#emit({ type: 'snapshot-chunk', vips: rows.map(toRecord) });
      }
      if (rows.length < chunkSize) s.phase = 'catchup';
      return !this.#closed;
    }
    // Catch up: the changes after `begin`, until the revision read with them.
    const dv = dataVersion.get();
    const batch = db.transaction(() => ({ revision: st.getState.get()?.revision ?? 0, rows: st.changesAfter.all(s.last, chunkSize) }));
    const { revision, rows } = batch.deferred();
    const restart = (why: string): boolean => {
      this.#logger.info({ revision, last: s.last, begin: s.begin }, why);
      this.#stream = { begin: undefined, after: '', phase: 'rows', last: 0 };
      return true;
    };
    if (revision < s.last) return restart('vip watch revision went backwards while streaming a snapshot; resync');
    for (const r of rows) {
      if (r.revision !== s.last + 1) return restart('vip watch gap while streaming a snapshot; resync');
      s.last = r.revision;
      this.#emit({ type: 'change', change: toChange(r) });
      if (this.#closed) return false;
    }
    if (s.last !== revision) {
      if (rows.length === 0) return restart('vip watch gap while streaming a snapshot; resync');
      return true;
    }
    this.#stream = undefined;
    this.#last = s.last;
    this.#dataVersion = dv;
    this.#emit({ type: 'snapshot-end', revision: s.last });
    return false;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    this.#store.forgetWatch(this);
  }
}
