/**
 * The Redis VIP store: every mutation is one Lua script (packages/vip/lua), all keys under one
 * hash tag (keys.ts), the change feed a stream written by the same scripts (watch.ts).
 */
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
} from '../errors.js';
import { layoutKey, layoutPools, poolOf } from '../pools.js';
import { normalizePorts, validateTable } from '../records.js';
import { describePools, encodeStoredPools, poolConfigKey, POOLS_ADOPTED_LOG, storedLayout } from '../stored-pools.js';
import type {
  AllocateRequest,
  AllocateResult,
  CheckReport,
  PoolLayout,
  PoolsOutcome,
  PoolStats,
  QuarantineEntry,
  VipKind,
  VipRecord,
  VipSnapshot,
  VipStore,
  VipTableExport,
  Watch,
  WatchEvent,
  WatchOptions,
} from '../types.js';
import { findProblems, parseDump } from './check.js';
import { connectClient, createClient, recycleOnTimeout, toStoreError } from './connection.js';
import { DEFAULT_KEY_PREFIX, redisKeys, type RedisKeys } from './keys.js';
import { decodeRecord } from './records.js';
import { defineScripts, runScript, type RedisClient, type ScriptName, type ScriptReply } from './scripts.js';
import { describeConnection, parseRedisUrl, type RedisConnectionOptions } from './url.js';
import { RedisWatcher, readSnapshot } from './watch.js';
import { watchChunkSize } from '../watch-options.js';

export interface RedisStoreOptions {
  /** A Redis URL (see url.ts) or parsed connection options. */
  url: string | RedisConnectionOptions;
  /** Validated pools (from `planPools(...).layout`). Written when the store holds none; a store that
   *  holds other pools keeps them (`poolsOutcome: 'adopted'`) unless `updatePools` is set. */
  layout: PoolLayout;
  /** Replace the stored pools with `layout` when they differ (default false). */
  updatePools?: boolean;
  /** How long a released address stays reserved for its old name, in ms (0: none). */
  quarantineMs: number;
  /** Hash tag of every key: keys are `{<keyPrefix>}:<what>`. Default `hoplite:vip`. */
  keyPrefix?: string;
  /** pino logger; silent when absent. */
  logger?: Logger;
  /** Change-feed length kept (approximate, XADD MAXLEN ~). Default 10000. */
  feedMaxLen?: number;
  /** A command without a reply after this long fails with StoreUnavailableError. Default 5000 ms. */
  commandTimeoutMs?: number;
  /** How long createRedisStore (and a watcher) waits for the first connection. Default 10000 ms. */
  connectTimeoutMs?: number;
  /** Expired quarantine entries merged back into the free ranges per write. Default 32. */
  sweepLimit?: number;
  /** XREAD BLOCK time of watchers; an idle watcher checks the revision this often. Default 5000 ms. */
  watchBlockMs?: number;
}

export const REDIS_STORE_DEFAULTS = Object.freeze({
  keyPrefix: DEFAULT_KEY_PREFIX,
  feedMaxLen: 10_000,
  commandTimeoutMs: 5_000,
  connectTimeoutMs: 10_000,
  sweepLimit: 32,
  watchBlockMs: 5_000,
});

function intOption(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new BadOptionError(name, value, `an integer ${min}-${max}`);
  }
  return value;
}

type Settings = {
  readonly conn: RedisConnectionOptions;
  readonly name: string;
  readonly keys: RedisKeys;
  readonly layout: PoolLayout;
  readonly updatePools: boolean;
  readonly quarantineMs: number;
  readonly logger: Logger;
  readonly feedMaxLen: number;
  readonly commandTimeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly sweepLimit: number;
  readonly watchBlockMs: number;
};

function settingsOf(opts: RedisStoreOptions): Settings {
  if (typeof opts !== 'object' || opts === null) throw new BadOptionError('options', opts, 'an object');
  const conn = typeof opts.url === 'string' ? parseRedisUrl(opts.url) : opts.url;
  if (typeof conn !== 'object' || conn === null || !Array.isArray(conn.hosts) || conn.hosts.length === 0) {
    throw new BadOptionError('url', opts.url, 'a Redis URL or { mode, hosts: [{ host, port }], ... }');
  }
  const layout = opts.layout;
  if (typeof layout !== 'object' || layout === null || !Array.isArray(layout.ranges)) {
    throw new BadOptionError('layout', layout, 'a PoolLayout from planPools()');
  }
  return {
    conn,
    name: describeConnection(conn),
    keys: redisKeys(opts.keyPrefix ?? REDIS_STORE_DEFAULTS.keyPrefix),
    layout,
    updatePools: boolOption('updatePools', opts.updatePools ?? false),
    quarantineMs: intOption('quarantineMs', opts.quarantineMs, 0, 2 ** 40),
    logger: opts.logger ?? pino({ level: 'silent' }),
    feedMaxLen: intOption('feedMaxLen', opts.feedMaxLen ?? REDIS_STORE_DEFAULTS.feedMaxLen, 10, 100_000_000),
    commandTimeoutMs: intOption('commandTimeoutMs', opts.commandTimeoutMs ?? REDIS_STORE_DEFAULTS.commandTimeoutMs, 1, 3_600_000),
    connectTimeoutMs: intOption('connectTimeoutMs', opts.connectTimeoutMs ?? REDIS_STORE_DEFAULTS.connectTimeoutMs, 1, 3_600_000),
    sweepLimit: intOption('sweepLimit', opts.sweepLimit ?? REDIS_STORE_DEFAULTS.sweepLimit, 1, 100_000),
    watchBlockMs: intOption('watchBlockMs', opts.watchBlockMs ?? REDIS_STORE_DEFAULTS.watchBlockMs, 10, 600_000),
  };
}

function boolOption(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new BadOptionError(name, value, 'true or false');
  return value;
}

function asArray(reply: ScriptReply): ScriptReply[] {
  return Array.isArray(reply) ? reply : [];
}

function str(v: ScriptReply | undefined): string {
  return v === null || v === undefined ? '' : String(v);
}

export class RedisStore implements VipStore {
  readonly kind = 'redis';
  readonly #s: Settings;
  readonly #client: RedisClient;
  readonly #watchers = new Set<RedisWatcher>();
  #closed = false;
  /** The layout this store follows (the stored one), and the stored fingerprint + pools it was read from. */
  #layout: PoolLayout;
  #layoutState = '';
  #outcome: PoolsOutcome = 'same';

  constructor(s: Settings, client: RedisClient) {
    this.#s = s;
    this.#client = client;
    this.#layout = s.layout;
  }

  /** The key names this store uses (for tools and tests). */
  get keys(): RedisKeys {
    return this.#s.keys;
  }

  get layout(): PoolLayout {
    return this.#layout;
  }

  get poolsOutcome(): PoolsOutcome {
    return this.#outcome;
  }

  /** Follow what the store holds (fingerprint and pools as read from Redis). */
  #follow(fingerprint: string, pools: string): void {
    if (fingerprint === '') return; // not initialized: the next write initializes it
    const key = `${fingerprint}\n${pools}`;
    if (key === this.#layoutState) return;
    const first = this.#layoutState === '';
    const previous = this.#layout;
    this.#layout = storedLayout(fingerprint, pools).layout;
    this.#layoutState = key;
    if (!first) this.#s.logger.warn({ store: this.#s.name, previous: describePools(previous), pools: describePools(this.#layout) }, 'vip pools updated by another process');
  }

  async refreshLayout(): Promise<PoolLayout> {
    const [fingerprint, pools] = await this.#cmd((c) => c.mget(this.#s.keys.layout, this.#s.keys.pools));
    this.#follow(fingerprint ?? '', pools ?? '');
    return this.#layout;
  }

  /** The stored layout for an error message: read again (the script decided on the stored one), or the last known. */
  async #currentLayout(): Promise<PoolLayout> {
    try {
      return await this.refreshLayout();
    } catch {
      return this.#layout;
    }
  }

  /**
   * Write the pools when the store holds none, else follow the stored ones (or replace them with
   * `updatePools`). At open: with the given layout; after Redis lost its data: with the layout
   * this store follows.
   */
  async init(): Promise<void> {
    const opening = this.#layoutState === '';
    const layout = opening ? this.#s.layout : this.#layout;
    const update = opening && this.#s.updatePools;
    const args = [
      layoutKey(layout),
      encodeStoredPools(layout) ?? '',
      layout.config !== undefined ? poolConfigKey(layout.config) : '',
      update ? '1' : '0',
      this.#s.feedMaxLen,
      ...layout.ranges.map((r) => `${r.start}:${r.end}`),
    ];
    const reply = asArray(await this.#raw('init', args));
    const status = str(reply[0]);
    if (status === 'incompatible') {
      throw new StoreIncompatibleError(this.#s.name, `schema ${str(reply[1])} under ${this.#s.keys.tag} is not the one this version writes (1)`);
    }
    if (status !== 'created' && status !== 'same' && status !== 'adopted' && status !== 'updated') throw new Error(`init script returned ${status}`);
    this.#layoutState = '';
    this.#follow(str(reply[1]), str(reply[2]));
    if (opening) this.#outcome = status;
    const log = this.#s.logger;
    if (status === 'created') log.info({ store: this.#s.name, pools: describePools(this.#layout) }, 'vip pools created');
    else if (status === 'adopted') {
      log.warn(
        { store: this.#s.name, configured: describePools(layout), stored: describePools(this.#layout) },
        POOLS_ADOPTED_LOG,
      );
    } else if (status === 'updated') {
      const previous = str(reply[3]) === '' ? '(none)' : describePools(storedLayout(str(reply[3]), str(reply[4])).layout);
      log.warn({ store: this.#s.name, previous, pools: describePools(this.#layout) }, 'vip pools updated');
    }
  }

  async #raw(name: ScriptName, args: readonly (string | number)[]): Promise<ScriptReply> {
    if (this.#closed) throw new ClosedError('the Redis VIP store');
    try {
      return await runScript(this.#client, name, this.#s.keys.all, args);
    } catch (err) {
      recycleOnTimeout(this.#client, err);
      throw toStoreError(err, this.#s.name);
    }
  }

  /** Run a mutation; when the keys are gone (Redis lost its data), write the layout and retry once. */
  async #mutate(name: ScriptName, args: readonly (string | number)[]): Promise<ScriptReply[]> {
    let reply = asArray(await this.#raw(name, args));
    if (str(reply[0]) === 'uninit') {
      this.#s.logger.warn({ store: this.#s.name }, 'vip store not initialized; writing the pool layout');
      await this.init();
      reply = asArray(await this.#raw(name, args));
    }
    return reply;
  }

  async #cmd<T>(fn: (c: RedisClient) => Promise<T>): Promise<T> {
    if (this.#closed) throw new ClosedError('the Redis VIP store');
    try {
      return await fn(this.#client);
    } catch (err) {
      recycleOnTimeout(this.#client, err);
      throw toStoreError(err, this.#s.name);
    }
  }

  #result(reply: ScriptReply[]): AllocateResult {
    return { vip: decodeRecord(str(reply[1])), created: str(reply[2]) === '1', fromQuarantine: str(reply[3]) === '1' };
  }

  async allocate(req: AllocateRequest, now: number): Promise<AllocateResult> {
    const reply = await this.#mutate('allocate', [
      req.name,
      req.label,
      req.framework,
      JSON.stringify(normalizePorts(req.ports)),
      Math.trunc(req.preferred),
      Math.trunc(now),
      this.#s.feedMaxLen,
      this.#s.sweepLimit,
    ]);
    const status = str(reply[0]);
    if (status === 'exhausted') throw new PoolExhaustedError(req.name, layoutPools(await this.#currentLayout()));
    if (status !== 'ok') throw new Error(`allocate script returned ${status}`);
    return this.#result(reply);
  }

  async release(name: string, now: number): Promise<VipRecord | undefined> {
    const reply = await this.#mutate('release', [name, Math.trunc(now), this.#s.quarantineMs, this.#s.feedMaxLen, this.#s.sweepLimit]);
    const status = str(reply[0]);
    if (status === 'none') return undefined;
    if (status !== 'ok') throw new Error(`release script returned ${status}`);
    return decodeRecord(str(reply[1]));
  }

  async reserve(req: Omit<AllocateRequest, 'preferred'> & { kind: VipKind; address: number }, now: number): Promise<AllocateResult> {
    const reply = await this.#mutate('reserve', [
      req.name,
      req.kind,
      req.label,
      req.framework,
      JSON.stringify(normalizePorts(req.ports)),
      Math.trunc(req.address),
      Math.trunc(now),
      this.#s.quarantineMs,
      this.#s.feedMaxLen,
      this.#s.sweepLimit,
    ]);
    const status = str(reply[0]);
    const address = formatIpv4(req.address);
    if (status === 'outside') throw new AddressOutsidePoolError(address, layoutPools(await this.#currentLayout()).map((p) => p.cidr));
    if (status === 'taken') {
      const reason = str(reply[2]) === 'quarantined' ? 'quarantined' : 'used';
      throw new AddressTakenError(address, req.name, str(reply[1]), reason, reason === 'quarantined' ? Number(str(reply[3])) : undefined);
    }
    if (status !== 'ok') throw new Error(`reserve script returned ${status}`);
    return this.#result(reply);
  }

  async get(name: string): Promise<VipRecord | undefined> {
    const json = await this.#cmd((c) => c.hget(this.#s.keys.vips, name));
    return json === null ? undefined : decodeRecord(json);
  }

  async getByAddress(ipv4: string): Promise<VipRecord | undefined> {
    const a = parseIpv4(ipv4);
    if (a === undefined) throw new BadAddressError('ipv4', ipv4, 'not a dotted IPv4 address');
    const json = await this.#raw('by-address', [a]);
    return json === null ? undefined : decodeRecord(String(json));
  }

  async list(): Promise<VipRecord[]> {
    const values = await this.#cmd((c) => c.hvals(this.#s.keys.vips));
    return values.map(decodeRecord).sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  }

  async snapshot(): Promise<VipSnapshot> {
    return this.#cmd((c) => readSnapshot(c, this.#s.keys));
  }

  async revision(): Promise<number> {
    return Number((await this.#cmd((c) => c.get(this.#s.keys.rev))) ?? '0');
  }

  async quarantine(now: number): Promise<QuarantineEntry[]> {
    const flat = asArray(await this.#raw('quarantine', [Math.trunc(now)])).map(str);
    return this.#quarantineEntries(flat);
  }

  #quarantineEntries(flat: readonly string[]): QuarantineEntry[] {
    const out: QuarantineEntry[] = [];
    for (let i = 0; i + 2 < flat.length; i += 3) {
      out.push({ ipv4: formatIpv4(Number(flat[i])), until: Number(flat[i + 1]), name: flat[i + 2] as string });
    }
    return out.sort((x, y) => x.until - y.until || (x.name < y.name ? -1 : 1));
  }

  async stats(now: number): Promise<PoolStats[]> {
    const reply = asArray(await this.#raw('stats', [Math.trunc(now)]));
    this.#follow(str(reply[0] ?? null), str(reply[1] ?? null));
    const layout = this.#layout;
    const counts = asArray(reply[2] ?? null).map((v) => Number(v));
    const quarantined = asArray(reply[3] ?? null).map((v) => Number(v));
    const byCidr = new Map<string, { size: number; used: number; quarantined: number }>();
    for (const p of layoutPools(layout)) byCidr.set(p.cidr, { size: p.size, used: 0, quarantined: 0 });
    // The script counted over the stored ranges, in address order: the ranges of `layout`.
    layout.ranges.forEach((r, i) => {
      const entry = byCidr.get(r.cidr);
      if (entry !== undefined) entry.used += counts[i] ?? 0;
    });
    for (const a of quarantined) {
      const cidr = poolOf(layout, a);
      const entry = cidr === undefined ? undefined : byCidr.get(cidr);
      if (entry !== undefined) entry.quarantined++;
    }
    return [...byCidr].map(([cidr, e]) => ({ cidr, size: e.size, used: e.used, quarantined: e.quarantined, free: e.size - e.used - e.quarantined }));
  }

  watch(listener: (event: WatchEvent) => void, opts: WatchOptions = {}): Watch {
    if (this.#closed) throw new ClosedError('the Redis VIP store');
    const chunkSize = watchChunkSize(opts);
    const client = createClient(this.#s.conn, {
      commandTimeoutMs: this.#s.commandTimeoutMs,
      connectTimeoutMs: this.#s.connectTimeoutMs,
      connectionName: 'hoplite-vip-watch',
      blockingMs: this.#s.watchBlockMs,
    });
    // ioredis reports connection errors as events; the watcher reports them to its listener.
    client.on('error', () => undefined);
    defineScripts(client);
    const watcher = new RedisWatcher(
      {
        client,
        keys: this.#s.keys,
        store: this.#s.name,
        logger: this.#s.logger,
        blockMs: this.#s.watchBlockMs,
        connectTimeoutMs: this.#s.connectTimeoutMs,
        batch: 1000,
        chunkSize,
      },
      listener,
      opts.fromRevision,
    );
    this.#watchers.add(watcher);
    return {
      close: async () => {
        this.#watchers.delete(watcher);
        await watcher.close();
      },
    };
  }

  async exportTable(now: number): Promise<VipTableExport> {
    const reply = asArray(await this.#raw('export', [Math.trunc(now)]));
    const vips = asArray(reply[1] ?? null)
      .map((v) => decodeRecord(str(v)))
      .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
    return {
      format: 'hoplite-vip-table',
      version: 1,
      revision: Number(str(reply[0]) || '0'),
      vips,
      quarantine: this.#quarantineEntries(asArray(reply[2] ?? null).map(str)),
    };
  }

  async importTable(table: VipTableExport, now: number): Promise<void> {
    const problems = validateTable(table, await this.refreshLayout());
    if (problems.length > 0) throw new BadImportError(problems);
    const payload = {
      vips: table.vips.map((v) => ({
        name: v.name,
        kind: v.kind,
        label: v.label,
        framework: v.framework,
        a: parseIpv4(v.ipv4) as number,
        ports: normalizePorts(v.ports),
        pinned: v.pinned,
        cr: v.createdRevision,
        ur: v.updatedRevision,
      })),
      quarantine: table.quarantine.filter((q) => q.until > now).map((q) => [parseIpv4(q.ipv4) as number, q.until, q.name]),
    };
    const reply = await this.#mutate('import', [this.#s.feedMaxLen, table.revision, JSON.stringify(payload)]);
    if (str(reply[0]) !== 'ok') throw new Error(`import script returned ${str(reply[0])}`);
    this.#s.logger.info({ store: this.#s.name, vips: payload.vips.length, revision: Number(str(reply[1])) }, 'vip table imported');
  }

  async check(opts: { repair: boolean }, _now: number): Promise<CheckReport> {
    const dump = async (): Promise<ReturnType<typeof parseDump>> => parseDump(asArray(await this.#raw('dump', [])) as unknown[]);
    const first = await dump();
    this.#follow(first.layout, first.pools);
    const before = findProblems(first);
    const repairable = before.filter((p) => p.repairable);
    if (!opts.repair || repairable.length === 0) {
      return { ok: before.length === 0, problems: before, repaired: [] };
    }
    if (before.some((p) => p.code === 'NOT_INITIALIZED')) await this.init();
    const d = await dump();
    await this.#mutate('repair', [d.feedRevision]);
    const after = findProblems(await dump());
    const remaining = new Set(after.map((p) => `${p.code} ${p.subject}`));
    const repaired = repairable.filter((p) => !remaining.has(`${p.code} ${p.subject}`)).map((p) => `${p.code} ${p.subject}: ${p.message}`);
    this.#s.logger.warn({ store: this.#s.name, repaired: repaired.length, remaining: after.length }, 'vip store repaired');
    return { ok: after.length === 0, problems: after, repaired };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#watchers].map((w) => w.close()));
    this.#watchers.clear();
    const client = this.#client;
    if (client.status === 'ready') {
      await Promise.race([client.quit().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    }
    client.disconnect();
  }
}

/** Connect to Redis, load the scripts and write the pool layout; resolves with a ready store. */
export async function createRedisStore(opts: RedisStoreOptions): Promise<VipStore> {
  const s = settingsOf(opts);
  const client = createClient(s.conn, {
    commandTimeoutMs: s.commandTimeoutMs,
    connectTimeoutMs: s.connectTimeoutMs,
    connectionName: 'hoplite-vip',
  });
  let lastLogged = 0;
  client.on('error', (err: Error) => {
    // ioredis repeats connection errors on every retry; log at most one a second.
    const t = Date.now();
    if (t - lastLogged >= 1000) {
      lastLogged = t;
      s.logger.warn({ store: s.name, err: err.message }, 'redis connection error');
    }
  });
  defineScripts(client);
  try {
    await connectClient(client, s.name, s.connectTimeoutMs);
    const store = new RedisStore(s, client);
    await store.init();
    s.logger.debug({ store: s.name, keys: s.keys.tag }, 'redis vip store ready');
    return store;
  } catch (err) {
    client.disconnect();
    throw toStoreError(err, s.name);
  }
}
