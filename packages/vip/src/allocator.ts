/**
 * The allocator: what the DNS side and the CLI use. It validates input (names, labels, ports,
 * addresses), computes each name's preferred address, adds the derived IPv6 address, and leaves
 * atomicity to the store.
 *
 *   const vips = await createAllocator({ store: 'embedded:/var/lib/hoplite/vip.db', pools: ['172.16.0.0/16'] });
 *   const { vip } = await vips.allocate('/mygroup/myapp', { ports: ['5555/tcp'] });
 *   vip.name // 'mygroupmyapp.marathon.l4lb.thisdcos.directory'
 *   vip.ipv4 // '172.16.x.y', the same on every call, from every process sharing the store
 */
import { Address6 } from 'ip-address';
import { homedir } from 'node:os';
import { pino, type Logger } from 'pino';
import { formatIpv4, parseIpv4, parseIpv4Cidr } from './addr.js';
import { defaultEmbeddedPath, openEmbeddedStore, type EmbeddedStoreOptions } from './embedded/index.js';
import { BadAddressError, BadOptionError, ClosedError } from './errors.js';
import { preferredAddress } from './hash.js';
import { labelPorts, parsePortSpec, parseVipLabel, type ParseLabelOptions, type VipLabel } from './labels.js';
import { normalizePart, vipName } from './names.js';
import { inLayout, ipv4ForIpv6, ipv6For, planPools, type PoolOptions, type PoolPlan } from './pools.js';
import { normalizePorts } from './records.js';
import type { RedisStoreOptions } from './redis/store.js';
import { describePools, planFromLayout, poolConfigKey, POOLS_ADOPTED_LOG } from './stored-pools.js';
import { parseStoreSpec, redactStoreSpec } from './store-url.js';
import type {
  AllocateResult,
  PoolConfig,
  PoolsOutcome,
  StoreCommonOptions,
  CheckReport,
  PoolStats,
  QuarantineEntry,
  VipKind,
  VipPort,
  VipRecord,
  VipSnapshot,
  VipStore,
  VipTableExport,
  Watch,
  WatchEvent,
  WatchOptions,
} from './types.js';

/** How long a released address stays reserved for its old name, by default: 10 minutes. */
export const DEFAULT_QUARANTINE_MS = 10 * 60_000;

export interface AllocatorOptions extends PoolOptions {
  /**
   * Where the table lives: a `VipStore` instance, `"embedded"` (default), `"embedded:<path>"`, a
   * file path, or a Redis URL (`redis://`, `rediss://`, `redis+sentinel://`, `redis+cluster://`).
   */
  store?: VipStore | string;
  /** The embedded store's file when `store` is `"embedded"` (default `~/.local/state/hoplite/vip.db`). */
  path?: string;
  /**
   * Replace the pools stored with the table by these options' when they differ (default false).
   * Without it a store that holds other pools keeps them and this allocator follows them
   * (`poolsAdopted`, a warning); an empty store always gets these. Only with a `store` string.
   */
  updatePools?: boolean;
  /** Quarantine of released addresses in ms (default DEFAULT_QUARANTINE_MS; 0: none). Ignored when `store` is an instance. */
  quarantineMs?: number;
  /** pino logger; silent by default. */
  logger?: Logger;
  /** Epoch milliseconds now (default Date.now); tests inject one. */
  clock?: () => number;
  /** More options of the embedded store. */
  embedded?: Pick<EmbeddedStoreOptions, 'busyTimeoutMs' | 'synchronous' | 'pollIntervalMs' | 'changeLogSize'>;
  /** More options of the Redis store. */
  redis?: Omit<RedisStoreOptions, 'url' | 'layout' | 'quarantineMs' | 'logger' | 'updatePools'>;
}

/** Every option of createAllocator (unknown keys are refused: a typo should not pass silently). */
export const ALLOCATOR_OPTION_KEYS = Object.freeze([
  'store',
  'path',
  'pools',
  'ipv6Pool',
  'exclude',
  'allowNonPrivate',
  'updatePools',
  'quarantineMs',
  'logger',
  'clock',
  'embedded',
  'redis',
] as const);

/** Options of the embedded store accepted under `embedded`. */
export const EMBEDDED_OPTION_KEYS = Object.freeze(['busyTimeoutMs', 'synchronous', 'pollIntervalMs', 'changeLogSize'] as const);

export type PortSpec = VipPort | string | number;

export interface AllocateOptions {
  /** Framework part of the name (default `marathon`). */
  framework?: string;
  /** Ports to add: `{ port, protocol }`, `"5555/tcp"`, `"53/udp"`, `5555`. */
  ports?: readonly PortSpec[];
}

export interface LabelAllocation {
  readonly label: VipLabel;
  /** The VIP; undefined for an IP VIP outside the pools (nothing to reserve). */
  readonly vip: VipRecord | undefined;
  readonly created: boolean;
  readonly fromQuarantine: boolean;
}

export interface ListFilter {
  /** Only VIPs inside this IPv4 CIDR, e.g. `172.16.0.0/16`. */
  pool?: string;
  /** Only named VIPs of this framework (normalized like names). */
  framework?: string;
  kind?: VipKind;
}

const sinkLogger = (): Logger => pino({ level: 'silent' });

/** Validate options, open (or take) the store and return an Allocator. */
export async function createAllocator(opts: AllocatorOptions = {}): Promise<Allocator> {
  if (typeof opts !== 'object' || opts === null) throw new BadOptionError('options', opts, 'an object');
  for (const key of Object.keys(opts)) {
    if (!(ALLOCATOR_OPTION_KEYS as readonly string[]).includes(key)) throw new BadOptionError(key, (opts as Record<string, unknown>)[key], `one of the options ${ALLOCATOR_OPTION_KEYS.join(', ')}`);
  }
  for (const key of Object.keys(opts.embedded ?? {})) {
    if (!(EMBEDDED_OPTION_KEYS as readonly string[]).includes(key)) {
      throw new BadOptionError(`embedded.${key}`, (opts.embedded as Record<string, unknown>)[key], `one of ${EMBEDDED_OPTION_KEYS.join(', ')}`);
    }
  }
  const logger = (opts.logger ?? sinkLogger()).child({ component: 'vip' });
  const quarantineMs = opts.quarantineMs ?? DEFAULT_QUARANTINE_MS;
  if (typeof quarantineMs !== 'number' || !Number.isSafeInteger(quarantineMs) || quarantineMs < 0) {
    throw new BadOptionError('quarantineMs', quarantineMs, 'an integer number of milliseconds >= 0');
  }
  const clock = opts.clock ?? Date.now;
  if (typeof clock !== 'function') throw new BadOptionError('clock', clock, 'a function returning epoch milliseconds');
  const updatePools = opts.updatePools ?? false;
  if (typeof updatePools !== 'boolean') throw new BadOptionError('updatePools', updatePools, 'true or false');
  const plan = planPools(opts);
  for (const warning of plan.warnings) logger.warn({ warning }, 'vip pool option ignored');

  const given = opts.store ?? 'embedded';
  if (typeof given === 'object' && given !== null && typeof (given as VipStore).allocate === 'function') {
    const store = given as VipStore;
    if (opts.updatePools !== undefined) {
      throw new BadOptionError('updatePools', opts.updatePools, 'nothing when `store` is a VipStore instance (open the store with updatePools instead)');
    }
    // Without pool options the allocator simply follows the store's pools.
    const poolsGiven = (['pools', 'ipv6Pool', 'exclude', 'allowNonPrivate'] as const).some((k) => opts[k] !== undefined);
    const configured = poolsGiven || store.layout === undefined ? plan : planFromLayout(store.layout);
    return new Allocator(store, configured, { logger, clock, owned: false });
  }
  if (typeof given !== 'string') throw new BadOptionError('store', given, 'a VipStore, "embedded", "embedded:<path>", a path or a Redis URL');
  const store = await openStore(given, {
    layout: plan.layout,
    updatePools,
    quarantineMs,
    logger,
    ...(opts.path !== undefined ? { path: opts.path } : {}),
    ...(opts.embedded !== undefined ? { embedded: opts.embedded } : {}),
    ...(opts.redis !== undefined ? { redis: opts.redis } : {}),
  });
  return new Allocator(store, plan, { logger, clock, owned: true });
}

export interface OpenStoreOptions extends StoreCommonOptions {
  /** The embedded store's file when `store` is `"embedded"` (default `~/.local/state/hoplite/vip.db`). */
  path?: string;
  embedded?: AllocatorOptions['embedded'];
  redis?: AllocatorOptions['redis'];
}

/**
 * Open the store a `store` string names ("embedded", "embedded:<path>", a path, a Redis URL).
 * The Redis store (and ioredis) is loaded only when a Redis URL is given.
 */
export async function openStore(spec: string, opts: OpenStoreOptions): Promise<VipStore> {
  const parsed = parseStoreSpec(spec);
  const logger = opts.logger ?? sinkLogger();
  if (parsed.kind === 'embedded') {
    if (parsed.path !== undefined && opts.path !== undefined && parsed.path !== opts.path) {
      throw new BadOptionError('path', opts.path, `nothing, or the same path as store "${spec}"`);
    }
    const path = parsed.path ?? opts.path ?? defaultEmbeddedPath({}, homedir());
    const store = await openEmbeddedStore({
      ...opts.embedded,
      path,
      layout: opts.layout,
      ...(opts.updatePools !== undefined ? { updatePools: opts.updatePools } : {}),
      quarantineMs: opts.quarantineMs,
      logger,
    });
    logger.info({ store: 'embedded', path }, 'vip store open');
    return store;
  }
  const store = await createRedisStore({
    ...opts.redis,
    url: parsed.url,
    layout: opts.layout,
    ...(opts.updatePools !== undefined ? { updatePools: opts.updatePools } : {}),
    quarantineMs: opts.quarantineMs,
    logger,
  });
  logger.info({ store: 'redis', url: redactStoreSpec(parsed.url) }, 'vip store open');
  return store;
}

/** The Redis store's factory, loaded on first use (so ioredis loads only when Redis is used). */
export async function createRedisStore(opts: RedisStoreOptions): Promise<VipStore> {
  const mod = await import('./redis/index.js');
  return mod.createRedisStore(opts);
}

export class Allocator {
  readonly store: VipStore;
  /** The pools this allocator was configured with (its options), canonical. */
  readonly configuredPools: PoolConfig;
  readonly #configured: PoolPlan;
  #plan: PoolPlan;
  /** The store layout `#plan` was made from. */
  #seen: VipStore['layout'] | undefined;
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #owned: boolean;
  #closed = false;

  /**
   * `plan`: the configured pools. The allocator follows the store's pools (`store.layout`) for
   * everything derived from them; `plan` only says what was configured (and the IPv6 pool to use
   * with a store of an older Hoplite, which kept no configuration).
   */
  constructor(store: VipStore, plan: PoolPlan, opts: { logger?: Logger; clock?: () => number; owned?: boolean } = {}) {
    this.store = store;
    this.#configured = plan;
    this.configuredPools = plan.config;
    this.#plan = plan;
    this.#logger = opts.logger ?? sinkLogger();
    this.#clock = opts.clock ?? Date.now;
    this.#owned = opts.owned ?? false;
    this.#sync();
    if (!this.#owned && this.poolsAdopted) {
      // An owned store said so when it opened; a store given as an instance did not know our options.
      this.#logger.warn(
        { configured: describePools(plan.layout), stored: describePools(this.#plan.layout) },
        POOLS_ADOPTED_LOG,
      );
    }
  }

  /** The pools in use (the store's, once it holds some): layout, blocks, IPv6 mapping, `config`. */
  get plan(): PoolPlan {
    return this.#sync();
  }

  /** The pool configuration in use: the store's (canonical). Compare with `configuredPools`. */
  get pools(): PoolConfig {
    return this.#sync().config;
  }

  /** True when the pools in use (the store's) differ from the configured ones: the stored pools were
   *  kept (pass `updatePools` to replace them). */
  get poolsAdopted(): boolean {
    return poolConfigKey(this.#sync().config) !== poolConfigKey(this.configuredPools);
  }

  /** What opening did with the pools: 'created', 'same', 'adopted' or 'updated' (VipStore.poolsOutcome).
   *  For a store given as an instance: 'adopted' when its pools differ from the configured ones, else 'same'. */
  get poolsOutcome(): PoolsOutcome {
    if (this.#owned && this.store.poolsOutcome !== undefined) return this.store.poolsOutcome;
    return this.poolsAdopted ? 'adopted' : 'same';
  }

  /** Read the store's pools now (another process may have updated them) and follow them. */
  async refreshPools(): Promise<PoolConfig> {
    this.#assertOpen();
    await this.store.refreshLayout();
    return this.pools;
  }

  /** The plan of the store's current layout (re-planned only when the store's layout changed). */
  #sync(): PoolPlan {
    const layout = this.store.layout;
    if (layout === undefined || layout === this.#seen) return this.#plan;
    this.#seen = layout;
    if (layout === this.#configured.layout || (layout.config !== undefined && poolConfigKey(layout.config) === poolConfigKey(this.configuredPools))) {
      this.#plan = this.#configured;
    } else {
      try {
        this.#plan = planFromLayout(layout, this.configuredPools.ipv6Pool);
      } catch (err) {
        this.#logger.error({ err, stored: describePools(layout) }, 'vip stored pools cannot be planned; using the configured pools');
        this.#plan = this.#configured;
      }
    }
    return this.#plan;
  }

  /** Allocate (idempotent) the VIP of a name; adds `ports` to it. */
  async allocate(name: string, opts: AllocateOptions = {}): Promise<AllocateResult> {
    this.#assertOpen();
    const n = vipName(name, opts.framework);
    const ports = this.#ports(opts.ports);
    const preferred = preferredAddress(n.name, this.plan.layout);
    const res = await this.store.allocate({ name: n.name, label: n.label, framework: n.framework, ports, preferred }, this.#clock());
    if (res.created || res.fromQuarantine) {
      this.#logger.info({ name: n.name, ipv4: res.vip.ipv4, fromQuarantine: res.fromQuarantine }, 'vip allocated');
    }
    return this.#result(res);
  }

  /**
   * Allocate what a `VIP*` port label declares: a named VIP (allocated), or an IP VIP (reserved
   * when inside a pool, so that no named VIP gets its address; outside the pools nothing is stored).
   * `opts.key` (e.g. `VIP_0`) is checked when given; `opts.protocol` is the port's (`tcp` default).
   */
  async allocateLabel(value: string, opts: ParseLabelOptions & { framework?: string } = {}): Promise<LabelAllocation> {
    this.#assertOpen();
    const label = parseVipLabel(value, opts);
    const ports = labelPorts(label);
    if (label.kind === 'named') {
      const res = await this.allocate(label.name, { ports, ...(opts.framework !== undefined ? { framework: opts.framework } : {}) });
      return { label, ...res };
    }
    const v4 = label.family === 4 ? (parseIpv4(label.address) as number) : ipv4ForIpv6(this.plan, label.address);
    if (v4 === undefined || !inLayout(this.plan.layout, v4)) return { label, vip: undefined, created: false, fromQuarantine: false };
    const res = await this.#reserve('ip', formatIpv4(v4), formatIpv4(v4), '', v4, ports);
    return { label, ...res };
  }

  /** Release a VIP (by name, or by the address it holds): its address goes into quarantine. */
  async release(nameOrAddress: string): Promise<VipRecord | undefined> {
    this.#assertOpen();
    let name: string;
    const v4 = this.#address(nameOrAddress);
    if (v4 !== undefined) {
      const holder = await this.store.getByAddress(formatIpv4(v4));
      if (holder === undefined) return undefined;
      name = holder.name;
    } else {
      name = vipName(nameOrAddress).name;
    }
    const vip = await this.store.release(name, this.#clock());
    if (vip !== undefined) this.#logger.info({ name, ipv4: vip.ipv4 }, 'vip released');
    return vip === undefined ? undefined : this.#decorate(vip);
  }

  /** Pin `address` (IPv4, or an IPv6 of the IPv6 pool) to a name. */
  async reserve(name: string, address: string, opts: AllocateOptions = {}): Promise<AllocateResult> {
    this.#assertOpen();
    const n = vipName(name, opts.framework);
    const v4 = this.#address(address);
    if (v4 === undefined) throw new BadAddressError('address', address, 'not an IPv4 address, nor an IPv6 address of the IPv6 pool');
    return this.#reserve('named', n.name, n.label, n.framework, v4, this.#ports(opts.ports));
  }

  /** Reserve an IP VIP's address (inside a pool) so that no named VIP gets it. */
  async reserveIp(address: string, opts: Pick<AllocateOptions, 'ports'> = {}): Promise<AllocateResult> {
    this.#assertOpen();
    const v4 = this.#address(address);
    if (v4 === undefined) throw new BadAddressError('address', address, 'not an IPv4 address, nor an IPv6 address of the IPv6 pool');
    const dotted = formatIpv4(v4);
    return this.#reserve('ip', dotted, dotted, '', v4, this.#ports(opts.ports));
  }

  async #reserve(kind: VipKind, name: string, label: string, framework: string, address: number, ports: VipPort[]): Promise<AllocateResult> {
    const res = await this.store.reserve({ kind, name, label, framework, ports, address }, this.#clock());
    this.#logger.info({ name, ipv4: res.vip.ipv4, kind }, 'vip reserved');
    return this.#result(res);
  }

  /** A VIP by name (raw or full DNS name) or by address (IPv4, or IPv6 of the IPv6 pool). */
  async get(nameOrAddress: string): Promise<VipRecord | undefined> {
    this.#assertOpen();
    const v4 = this.#address(nameOrAddress);
    const vip = v4 !== undefined ? await this.store.getByAddress(formatIpv4(v4)) : await this.store.get(vipName(nameOrAddress).name);
    return vip === undefined ? undefined : this.#decorate(vip);
  }

  /** Every VIP (sorted by name), optionally only inside a pool, of a framework, of a kind. */
  async list(filter: ListFilter = {}): Promise<VipRecord[]> {
    this.#assertOpen();
    let range: { start: number; end: number } | undefined;
    if (filter.pool !== undefined) {
      const c = parseIpv4Cidr(String(filter.pool).trim(), false);
      if ('error' in c) throw new BadOptionError('pool', filter.pool, `an IPv4 CIDR such as "172.16.0.0/16" (${c.error})`);
      range = c;
    }
    const framework = filter.framework !== undefined ? normalizePart(filter.framework, 'framework') : undefined;
    const all = await this.store.list();
    return all
      .filter((v) => {
        if (filter.kind !== undefined && v.kind !== filter.kind) return false;
        if (framework !== undefined && v.framework !== framework) return false;
        if (range !== undefined) {
          const a = parseIpv4(v.ipv4) as number;
          if (a < range.start || a > range.end) return false;
        }
        return true;
      })
      .map((v) => this.#decorate(v));
  }

  /** Per pool: size, used, quarantined, free. */
  async stats(): Promise<PoolStats[]> {
    this.#assertOpen();
    return this.store.stats(this.#clock());
  }

  /** Addresses in quarantine now, with the name that may take each back and until when. */
  async quarantine(): Promise<QuarantineEntry[]> {
    this.#assertOpen();
    return this.store.quarantine(this.#clock());
  }

  async revision(): Promise<number> {
    this.#assertOpen();
    return this.store.revision();
  }

  async snapshot(): Promise<VipSnapshot> {
    this.#assertOpen();
    const s = await this.store.snapshot();
    return { revision: s.revision, vips: s.vips.map((v) => this.#decorate(v)) };
  }

  /** The change feed: a snapshot, then changes in revision order; resyncs (a new snapshot) after a gap.
   *  With `chunkSize`, snapshots are streamed ('snapshot-begin', 'snapshot-chunk'..., 'snapshot-end';
   *  types.ts, WatchEvent), each chunk's records with their AAAA. */
  watch(listener: (event: WatchEvent) => void, opts: WatchOptions = {}): Watch {
    this.#assertOpen();
    // Before a snapshot (the first, and every resync, e.g. after another process updated the
    // pools) the stored pools are read again, so that the records it carries get the AAAA of the
    // pools in use. Events stay in order: while that read runs, later events wait behind it.
    let closed = false;
    let queue: Promise<void> | undefined;
    let pending = 0;
    const deliver = (e: WatchEvent): void => {
      if (closed) return;
      try {
        listener(this.#decorateEvent(e));
      } catch (err) {
        this.#logger.error({ err }, 'vip watch listener threw');
      }
    };
    const enqueue = (step: () => Promise<void> | void): void => {
      pending++;
      queue = (queue ?? Promise.resolve()).then(step).finally(() => {
        pending--;
      });
    };
    const w = this.store.watch((e) => {
      if (e.type === 'snapshot' || e.type === 'snapshot-begin') {
        enqueue(async () => {
          if (!closed && !this.#closed) {
            try {
              await this.store.refreshLayout();
            } catch (err) {
              this.#logger.warn({ err }, 'vip pools could not be read; keeping the pools in use');
            }
          }
          deliver(e);
        });
      } else if (pending > 0) enqueue(() => deliver(e));
      else deliver(e);
    }, opts);
    return {
      close: async () => {
        closed = true;
        await w.close();
      },
    };
  }

  /** The whole table (VIPs and unexpired quarantine) as JSON-ready data. */
  async exportTable(): Promise<VipTableExport> {
    this.#assertOpen();
    return this.store.exportTable(this.#clock());
  }

  /** Replace the whole table: validated first, applied atomically, or nothing changes (HOPLITE_VIP_BAD_IMPORT). */
  async importTable(table: VipTableExport): Promise<void> {
    this.#assertOpen();
    await this.store.importTable(table, this.#clock());
    this.#logger.info({ vips: Array.isArray(table?.vips) ? table.vips.length : 0 }, 'vip table imported');
  }

  /** Verify the table's invariants; with `repair`, mend what is safe and say what was done. */
  async check(opts: { repair?: boolean } = {}): Promise<CheckReport> {
    this.#assertOpen();
    return this.store.check({ repair: opts.repair ?? false }, this.#clock());
  }

  /** The preferred address of a name under these pools (what a collision-free allocation gives). */
  preferredAddress(name: string, framework?: string): string {
    return formatIpv4(preferredAddress(vipName(name, framework).name, this.plan.layout));
  }

  /** The IPv6 address mirroring an IPv4 address, when an IPv6 pool is configured. */
  ipv6For(ipv4: string): string | undefined {
    const n = parseIpv4(ipv4);
    return n === undefined ? undefined : ipv6For(this.plan, n);
  }

  /** Close the store when this allocator opened it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#owned) await this.store.close();
  }

  #assertOpen(): void {
    if (this.#closed) throw new ClosedError('the VIP allocator');
  }

  #ports(specs: readonly PortSpec[] | undefined): VipPort[] {
    if (specs === undefined) return [];
    if (!Array.isArray(specs)) return normalizePorts(specs as unknown as VipPort[]);
    return normalizePorts(specs.map((p) => parsePortSpec(p)));
  }

  /** IPv4 (unsigned) of an address argument, or undefined when it is not an address at all. */
  #address(text: string): number | undefined {
    if (typeof text !== 'string') return undefined;
    const t = text.trim();
    const v4 = parseIpv4(t);
    if (v4 !== undefined) return v4;
    const inner = t.startsWith('[') && t.endsWith(']') ? t.slice(1, -1) : t;
    if (inner.includes(':') && !inner.includes('/') && Address6.isValid(inner)) {
      const mapped = ipv4ForIpv6(this.plan, inner);
      if (mapped === undefined) {
        throw new BadAddressError('address', text, this.plan.ipv6 ? `outside the IPv6 pool ${this.plan.ipv6.cidr}` : 'IPv6, and no IPv6 pool is configured');
      }
      return mapped;
    }
    if (/^[0-9.]+$/.test(t) && t.includes('.')) throw new BadAddressError('address', text, 'not a dotted IPv4 address');
    return undefined;
  }

  #decorate(vip: VipRecord): VipRecord {
    if (this.plan.ipv6 === undefined) return vip;
    const ipv6 = ipv6For(this.plan, parseIpv4(vip.ipv4) as number);
    return ipv6 === undefined ? vip : { ...vip, ipv6 };
  }

  #result(res: AllocateResult): AllocateResult {
    return { ...res, vip: this.#decorate(res.vip) };
  }

  #decorateEvent(e: WatchEvent): WatchEvent {
    if (this.plan.ipv6 === undefined) return e;
    if (e.type === 'snapshot') return { type: 'snapshot', snapshot: { revision: e.snapshot.revision, vips: e.snapshot.vips.map((v) => this.#decorate(v)) } };
    if (e.type === 'snapshot-chunk') return { type: 'snapshot-chunk', vips: e.vips.map((v) => this.#decorate(v)) };
    if (e.type === 'change') {
      const c = e.change;
      return {
        type: 'change',
        change: c.type === 'put' ? { ...c, vip: this.#decorate(c.vip) } : { ...c, vip: this.#decorate(c.vip) },
      };
    }
    return e;
  }
}
