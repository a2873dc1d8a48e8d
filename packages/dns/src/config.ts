/**
 * The server config: one typed schema, defaults in one object beside it, validated once at the
 * edge (every problem reported at once, ConfigError), then frozen.
 */
import { isIP } from 'node:net';
import { ConfigError, type ConfigProblem } from './errors.js';
import { UDP_IO_VALUES, type UdpIo } from './io/udp.js';
import type { LocalZoneConfig, ResolvedLocalZone } from './local/types.js';
import { validateLocalZones } from './local/config.js';
import { checkMastersConfig, type MastersConfigInput } from './masters/config.js';
import { checkForwardConfig, type UpstreamsConfigInput } from './upstream/config.js';
import { checkCacheConfig, CACHE_DEFAULTS, type CacheConfig, type CacheConfigInput } from './cache/config.js';

export interface ListenAddress {
  /** An IPv4 or IPv6 address (no host names). */
  readonly address: string;
  /** 0 picks a free port (UDP first, TCP then binds the same port). */
  readonly port: number;
}

export interface TcpConfig {
  /** A connection with no query in flight and no traffic for this long is closed. */
  readonly idleTimeoutMs: number;
  /** Open TCP connections at most, over all listen addresses. */
  readonly maxConnections: number;
  /** Queries in flight per connection at most; beyond, the connection is not read until one completes. */
  readonly maxQueriesPerConnection: number;
}

/**
 * The largest UDP payload an IPv4 datagram can carry (65535 - 20 - 8); IPv6's is 65527. An answer
 * above it cannot be sent at all (the kernel refuses it: EMSGSIZE) where one cut with TC would
 * have sent the client to TCP, so udp.maxResponseSize stops here.
 */
export const MAX_UDP_PAYLOAD = 65507;

export interface UdpConfig {
  /** Largest UDP response we send (and advertise in our OPT), when the client's EDNS buffer allows
   *  (at most MAX_UDP_PAYLOAD). */
  readonly maxResponseSize: number;
  /**
   * The UDP socket implementation (listeners and exchanges): `native` (the udp_batch addon:
   * recvmmsg/sendmmsg, one JavaScript call per batch), `dgram` (Node's sockets), or `auto`
   * (native when the addon is built, else dgram). See docs/dns.md.
   */
  readonly io: UdpIo;
}

/** The config as given: every key optional. */
export interface ServerConfigInput {
  readonly listen?: readonly ListenAddress[];
  readonly tcp?: Partial<TcpConfig>;
  readonly udp?: Partial<UdpConfig>;
  readonly maxInFlight?: number;
  readonly renames?: boolean;
  readonly ready?: boolean;
  readonly localZones?: readonly LocalZoneConfig[];
  readonly localCacheEntries?: number;
  readonly shutdownTimeoutMs?: number;
  /** The masters stage (see docs/dns-forwarding.md). */
  readonly masters?: MastersConfigInput | readonly string[];
  /** The forward stage: upstream resolvers (see docs/dns-forwarding.md). */
  readonly upstreams?: UpstreamsConfigInput | readonly string[];
  /** The forward stage: zone -> its servers (see docs/dns-forwarding.md). */
  readonly forwardZones?: Readonly<Record<string, readonly string[]>>;
  /** The cache stage: true (defaults), false (no cache stage), or its options (see docs/dns.md#cache). */
  readonly cache?: boolean | CacheConfigInput;
}

/** The validated config, defaults applied, frozen. */
export interface ServerConfig {
  readonly listen: readonly ListenAddress[];
  readonly tcp: TcpConfig;
  readonly udp: UdpConfig;
  /** Queries waiting on another server (masters, upstreams) at most; beyond: REFUSED. */
  readonly maxInFlight: number;
  /** Apply the reference's renames (dclb.thisdcos.*, *.thisdcos.global). */
  readonly renames: boolean;
  /** Serve the liveness zones `spartan` and `hoplite` (ready.spartan / ready.hoplite A 127.0.0.1). */
  readonly ready: boolean;
  readonly localZones: readonly ResolvedLocalZone[];
  /** Encoded local answers cached at most. */
  readonly localCacheEntries: number;
  /** close(): how long queries in flight may take to finish before everything is closed. */
  readonly shutdownTimeoutMs: number;
  /** As given (validated): the masters stage reads it. */
  readonly masters: MastersConfigInput | readonly string[] | undefined;
  /** As given (validated): the forward stage reads it. */
  readonly upstreams: UpstreamsConfigInput | readonly string[] | undefined;
  /** As given (validated): the forward stage reads it. */
  readonly forwardZones: Readonly<Record<string, readonly string[]>> | undefined;
  /** The cache stage (enabled: false: not in the chain). */
  readonly cache: CacheConfig;
}

export const SERVER_DEFAULTS = Object.freeze({
  listen: Object.freeze([Object.freeze({ address: '127.0.0.1', port: 53 })]) as readonly ListenAddress[],
  tcp: Object.freeze({ idleTimeoutMs: 10_000, maxConnections: 1000, maxQueriesPerConnection: 32 }) as TcpConfig,
  udp: Object.freeze({ maxResponseSize: 1232, io: 'auto' }) as UdpConfig,
  maxInFlight: 10_000,
  renames: true,
  ready: true,
  localCacheEntries: 10_000,
  shutdownTimeoutMs: 5_000,
  cache: CACHE_DEFAULTS,
});

const TOP_KEYS = [
  'listen',
  'tcp',
  'udp',
  'maxInFlight',
  'renames',
  'ready',
  'localZones',
  'localCacheEntries',
  'shutdownTimeoutMs',
  'masters',
  'upstreams',
  'forwardZones',
  'cache',
] as const;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function int(v: unknown, min: number, max: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
}

function intKey(
  obj: Record<string, unknown>,
  name: string,
  key: string,
  fallback: number,
  min: number,
  max: number,
  problems: ConfigProblem[],
): number {
  const v = obj[name];
  if (v === undefined) return fallback;
  if (!int(v, min, max)) {
    problems.push({ key, value: v, expected: `an integer ${min} .. ${max}` });
    return fallback;
  }
  return v;
}

function unknownKeys(obj: Record<string, unknown>, allowed: readonly string[], prefix: string, problems: ConfigProblem[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) problems.push({ key: `${prefix}${k}`, value: obj[k], expected: `one of the keys ${allowed.join(', ')}` });
  }
}

function validateListen(v: unknown, problems: ConfigProblem[]): ListenAddress[] {
  if (v === undefined) return [...SERVER_DEFAULTS.listen];
  if (!Array.isArray(v) || v.length === 0) {
    problems.push({ key: 'listen', value: v, expected: 'a non-empty array of { address, port }' });
    return [];
  }
  const out: ListenAddress[] = [];
  const seen = new Set<string>();
  v.forEach((l: unknown, i) => {
    const k = `listen[${i}]`;
    if (!isObject(l)) {
      problems.push({ key: k, value: l, expected: 'an object { address, port }' });
      return;
    }
    unknownKeys(l, ['address', 'port'], `${k}.`, problems);
    let ok = true;
    if (typeof l.address !== 'string' || isIP(l.address) === 0 || l.address.includes('%')) {
      problems.push({ key: `${k}.address`, value: l.address, expected: 'an IPv4 or IPv6 address, e.g. "127.0.0.1" or "::1"' });
      ok = false;
    }
    if (!int(l.port, 0, 65535)) {
      problems.push({ key: `${k}.port`, value: l.port, expected: 'an integer 0 .. 65535 (0: any free port)' });
      ok = false;
    }
    if (!ok) return;
    const id = `${l.address as string}#${l.port as number}`;
    if ((l.port as number) !== 0 && seen.has(id)) {
      problems.push({ key: k, value: l, expected: 'an address and port not listed twice' });
      return;
    }
    seen.add(id);
    out.push(Object.freeze({ address: l.address as string, port: l.port as number }));
  });
  return out;
}

/** Validate a config: every problem at once (ConfigError), defaults applied, result frozen. */
export function validateServerConfig(input: unknown = {}): ServerConfig {
  const problems: ConfigProblem[] = [];
  if (!isObject(input)) throw new ConfigError([{ key: '(config)', value: input, expected: 'an object' }]);
  unknownKeys(input, TOP_KEYS, '', problems);
  const listen = validateListen(input.listen, problems);

  const d = SERVER_DEFAULTS;
  let tcp: TcpConfig = d.tcp;
  if (input.tcp !== undefined) {
    if (!isObject(input.tcp)) problems.push({ key: 'tcp', value: input.tcp, expected: 'an object { idleTimeoutMs?, maxConnections?, maxQueriesPerConnection? }' });
    else {
      unknownKeys(input.tcp, ['idleTimeoutMs', 'maxConnections', 'maxQueriesPerConnection'], 'tcp.', problems);
      tcp = Object.freeze({
        idleTimeoutMs: intKey(input.tcp, 'idleTimeoutMs', 'tcp.idleTimeoutMs', d.tcp.idleTimeoutMs, 1, 3_600_000, problems),
        maxConnections: intKey(input.tcp, 'maxConnections', 'tcp.maxConnections', d.tcp.maxConnections, 1, 1_000_000, problems),
        maxQueriesPerConnection: intKey(input.tcp, 'maxQueriesPerConnection', 'tcp.maxQueriesPerConnection', d.tcp.maxQueriesPerConnection, 1, 65535, problems),
      });
    }
  }
  let udp: UdpConfig = d.udp;
  if (input.udp !== undefined) {
    if (!isObject(input.udp)) problems.push({ key: 'udp', value: input.udp, expected: 'an object { maxResponseSize?, io? }' });
    else {
      unknownKeys(input.udp, ['maxResponseSize', 'io'], 'udp.', problems);
      let io: UdpIo = d.udp.io;
      const given = (input.udp as { io?: unknown }).io;
      if (given !== undefined) {
        if (typeof given === 'string' && (UDP_IO_VALUES as readonly string[]).includes(given)) io = given as UdpIo;
        else problems.push({ key: 'udp.io', value: given, expected: UDP_IO_VALUES.map((v) => `"${v}"`).join(', ') });
      }
      udp = Object.freeze({ maxResponseSize: intKey(input.udp, 'maxResponseSize', 'udp.maxResponseSize', d.udp.maxResponseSize, 512, MAX_UDP_PAYLOAD, problems), io });
    }
  }
  const maxInFlight = intKey(input, 'maxInFlight', 'maxInFlight', d.maxInFlight, 1, 10_000_000, problems);
  const localCacheEntries = intKey(input, 'localCacheEntries', 'localCacheEntries', d.localCacheEntries, 1, 10_000_000, problems);
  const shutdownTimeoutMs = intKey(input, 'shutdownTimeoutMs', 'shutdownTimeoutMs', d.shutdownTimeoutMs, 0, 600_000, problems);
  let renames: boolean = d.renames;
  if (input.renames !== undefined) {
    if (typeof input.renames !== 'boolean') problems.push({ key: 'renames', value: input.renames, expected: 'true or false' });
    else renames = input.renames;
  }
  let ready: boolean = d.ready;
  if (input.ready !== undefined) {
    if (typeof input.ready !== 'boolean') problems.push({ key: 'ready', value: input.ready, expected: 'true or false' });
    else ready = input.ready;
  }
  const localZones = validateLocalZones(input.localZones, 'localZones', problems);
  if (ready && Array.isArray(input.localZones)) {
    input.localZones.forEach((z: unknown, i) => {
      const zone = isObject(z) && typeof z.zone === 'string' ? z.zone.toLowerCase().replace(/\.$/, '') : undefined;
      if (zone === 'spartan' || zone === 'hoplite') {
        problems.push({ key: `localZones[${i}].zone`, value: z && (z as { zone: unknown }).zone, expected: 'a zone other than the built-in "spartan" and "hoplite" (or set ready: false)' });
      }
    });
  }
  // The masters and forward stages validate their own keys; their problems are reported with ours.
  problems.push(...checkMastersConfig({ masters: input.masters }).problems);
  problems.push(...checkForwardConfig({ upstreams: input.upstreams, forwardZones: input.forwardZones }).problems);
  const cache = checkCacheConfig(input.cache);
  problems.push(...cache.problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze({
    listen: Object.freeze(listen),
    tcp,
    udp,
    maxInFlight,
    renames,
    ready,
    localZones: Object.freeze(localZones),
    localCacheEntries,
    shutdownTimeoutMs,
    masters: input.masters as ServerConfig['masters'],
    upstreams: input.upstreams as ServerConfig['upstreams'],
    forwardZones: input.forwardZones as ServerConfig['forwardZones'],
    cache: cache.config,
  });
}
