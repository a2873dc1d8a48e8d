/**
 * Config of the forward stage: the upstream resolvers (everything that is not a local, master or
 * forward zone) and the forward zones (zone -> its own servers). Validated once, every problem
 * reported at once (ConfigProblem[] with key, value and what is accepted), defaults applied, frozen.
 *
 * Input, as createServer's config carries it:
 *   upstreams: ["10.0.0.2", "[fd00::53]:5353"]            // shorthand for { servers: [...] }
 *   upstreams: { servers: [...], policy: "parallel", timeout: 2000, deadline: 5000, ... }
 *   forwardZones: { "corp.example": ["10.1.0.53", "10.2.0.53:5353"] }
 */
import { ConfigError, type ConfigProblem } from '../errors.js';
import { parseServerAddress, type ServerAddress } from '../exchange/address.js';
import { EXCHANGER_DEFAULTS } from '../exchange/exchanger.js';
import { HEALTH_DEFAULTS, type HealthOptions } from '../health/health.js';
import { qtypeNumber } from '../health/checker.js';
import { encodeName } from '../wire/name.js';

export type ForwardPolicy = 'parallel' | 'sequential' | 'random';
export const FORWARD_POLICIES: readonly ForwardPolicy[] = ['parallel', 'sequential', 'random'];

export interface SocketPoolConfig {
  /** UDP sockets per server (each connected to it, on its own random port). */
  readonly count: number;
  /** Exchanges one socket serves before it is replaced by one on a new random port. */
  readonly maxUses: number;
  /** Milliseconds one socket serves before it is replaced. */
  readonly maxAge: number;
}

export interface UpstreamsConfigInput {
  readonly servers?: readonly string[];
  readonly policy?: ForwardPolicy;
  readonly parallelism?: number;
  readonly timeout?: number;
  readonly deadline?: number;
  readonly tcpFallback?: boolean;
  readonly ednsUdpSize?: number;
  readonly health?: Partial<HealthOptions>;
  readonly sockets?: Partial<SocketPoolConfig>;
}

export interface ForwardConfigInput {
  readonly upstreams?: UpstreamsConfigInput | readonly string[];
  readonly forwardZones?: Readonly<Record<string, readonly string[]>>;
}

export interface UpstreamsConfig {
  readonly servers: readonly ServerAddress[];
  readonly policy: ForwardPolicy;
  /** `parallel`: servers asked at once. */
  readonly parallelism: number;
  /** One exchange with one server, ms. */
  readonly timeout: number;
  /** The whole query, ms: the client gets an answer (SERVFAIL at worst) within it. */
  readonly deadline: number;
  readonly tcpFallback: boolean;
  /** UDP size advertised upstream for clients that sent no EDNS (0: forward them without OPT). */
  readonly ednsUdpSize: number;
  readonly health: HealthOptions;
  readonly sockets: SocketPoolConfig;
}

export interface ForwardZone {
  /** Lowercase, no trailing dot. */
  readonly zone: string;
  readonly servers: readonly ServerAddress[];
}

export interface ForwardConfig {
  readonly upstreams: UpstreamsConfig;
  readonly forwardZones: readonly ForwardZone[];
}

export const SOCKET_DEFAULTS: SocketPoolConfig = Object.freeze({
  count: EXCHANGER_DEFAULTS.sockets,
  maxUses: EXCHANGER_DEFAULTS.socketMaxUses,
  maxAge: EXCHANGER_DEFAULTS.socketMaxAge,
});

export const UPSTREAM_DEFAULTS = Object.freeze({
  servers: Object.freeze([]) as readonly string[],
  policy: 'parallel' as ForwardPolicy,
  parallelism: 2,
  timeout: 2000,
  deadline: 5000,
  tcpFallback: true,
  ednsUdpSize: 1232,
  health: HEALTH_DEFAULTS,
  sockets: SOCKET_DEFAULTS,
});

// ---- shared checks (masters/config.ts uses them too) ---------------------------------------------

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function unknownKeys(obj: Record<string, unknown>, allowed: readonly string[], prefix: string, problems: ConfigProblem[]): void {
  for (const k of Object.keys(obj)) {
    if (!allowed.includes(k)) problems.push({ key: `${prefix}${k}`, value: obj[k], expected: `one of the keys ${allowed.join(', ')}` });
  }
}

export function intOption(obj: Record<string, unknown>, name: string, prefix: string, fallback: number, min: number, max: number, problems: ConfigProblem[], unit = ''): number {
  const v = obj[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    problems.push({ key: `${prefix}${name}`, value: v, expected: `an integer ${min} .. ${max}${unit}` });
    return fallback;
  }
  return v;
}

export function boolOption(obj: Record<string, unknown>, name: string, prefix: string, fallback: boolean, problems: ConfigProblem[]): boolean {
  const v = obj[name];
  if (v === undefined) return fallback;
  if (typeof v !== 'boolean') {
    problems.push({ key: `${prefix}${name}`, value: v, expected: 'true or false' });
    return fallback;
  }
  return v;
}

/** A list of `ip[:port]` / `[v6]:port` (no duplicates). */
export function serverList(v: unknown, key: string, defaultPort: number, problems: ConfigProblem[], allowEmpty: boolean): ServerAddress[] {
  const what = `an array of "ip", "ip:port" or "[ipv6]:port" strings (port default ${defaultPort})`;
  if (!Array.isArray(v)) {
    problems.push({ key, value: v, expected: what });
    return [];
  }
  if (v.length === 0 && !allowEmpty) {
    problems.push({ key, value: v, expected: `${what}, at least one` });
    return [];
  }
  const out: ServerAddress[] = [];
  v.forEach((s: unknown, i) => {
    const a = typeof s === 'string' ? parseServerAddress(s, defaultPort) : undefined;
    if (!a) {
      problems.push({ key: `${key}[${i}]`, value: s, expected: `"ip", "ip:port", "[ipv6]" or "[ipv6]:port" (IP addresses only; port 1 .. 65535, default ${defaultPort})` });
      return;
    }
    if (out.some((o) => o.key === a.key)) {
      problems.push({ key: `${key}[${i}]`, value: s, expected: `a server not listed twice (${a.key} is)` });
      return;
    }
    out.push(Object.freeze(a));
  });
  return out;
}

/** A zone name: lowercase, no trailing dot; undefined when not encodable (or the root, unless allowed). */
export function checkZone(v: unknown, allowRoot = false): string | undefined {
  if (typeof v !== 'string') return undefined;
  let z = v.trim().toLowerCase();
  if (z.endsWith('.') && !z.endsWith('\\.')) z = z.slice(0, -1);
  if (z === '' && !allowRoot) return undefined;
  if (z.startsWith('.') || z.includes('..')) return undefined;
  try {
    encodeName(z);
  } catch {
    return undefined;
  }
  return z;
}

export function socketOptions(v: unknown, key: string, problems: ConfigProblem[]): SocketPoolConfig {
  if (v === undefined) return SOCKET_DEFAULTS;
  if (!isObject(v)) {
    problems.push({ key, value: v, expected: 'an object { count?, maxUses?, maxAge? }' });
    return SOCKET_DEFAULTS;
  }
  const p = `${key}.`;
  unknownKeys(v, SOCKET_KEYS, p, problems);
  return Object.freeze({
    count: intOption(v, 'count', p, SOCKET_DEFAULTS.count, 1, 256, problems),
    maxUses: intOption(v, 'maxUses', p, SOCKET_DEFAULTS.maxUses, 1, 10_000_000, problems),
    maxAge: intOption(v, 'maxAge', p, SOCKET_DEFAULTS.maxAge, 10, 3_600_000, problems, ' ms'),
  });
}

function healthOptions(v: unknown, key: string, problems: ConfigProblem[]): HealthOptions {
  const d = HEALTH_DEFAULTS;
  if (v === undefined) return d;
  if (!isObject(v)) {
    problems.push({ key, value: v, expected: 'an object { maxFails?, failureHalfLife?, probeInterval?, probeMaxInterval?, probeName?, probeType? }' });
    return d;
  }
  const p = `${key}.`;
  unknownKeys(v, HEALTH_KEYS, p, problems);
  let probeName = d.probeName;
  if (v.probeName !== undefined) {
    const z = checkZone(v.probeName, true);
    if (z === undefined) problems.push({ key: `${p}probeName`, value: v.probeName, expected: 'a domain name, e.g. "." or "example.com"' });
    else probeName = z === '' ? '.' : z;
  }
  let probeType = d.probeType;
  if (v.probeType !== undefined) {
    if ((typeof v.probeType !== 'string' && typeof v.probeType !== 'number') || qtypeNumber(v.probeType) === undefined) {
      problems.push({ key: `${p}probeType`, value: v.probeType, expected: 'a query type: A, AAAA, NS, SOA, TXT, ... or a number 1 .. 65535' });
    } else probeType = String(v.probeType);
  }
  const probeInterval = intOption(v, 'probeInterval', p, d.probeInterval, 10, 3_600_000, problems, ' ms');
  const probeMaxInterval = intOption(v, 'probeMaxInterval', p, Math.max(d.probeMaxInterval, probeInterval), 10, 3_600_000, problems, ' ms');
  if (probeMaxInterval < probeInterval) {
    problems.push({ key: `${p}probeMaxInterval`, value: probeMaxInterval, expected: `at least probeInterval (${probeInterval} ms)` });
  }
  return Object.freeze({
    maxFails: intOption(v, 'maxFails', p, d.maxFails, 1, 1000, problems),
    failureHalfLife: intOption(v, 'failureHalfLife', p, d.failureHalfLife, 100, 86_400_000, problems, ' ms'),
    probeInterval,
    probeMaxInterval,
    probeName,
    probeType,
  });
}

// ---- the forward stage's config -----------------------------------------------------------------

/** Every key of `upstreams` (docs test). */
export const UPSTREAM_KEYS: readonly string[] = ['servers', 'policy', 'parallelism', 'timeout', 'deadline', 'tcpFallback', 'ednsUdpSize', 'health', 'sockets'];
/** Every key of `upstreams.health`. */
export const HEALTH_KEYS: readonly string[] = ['maxFails', 'failureHalfLife', 'probeInterval', 'probeMaxInterval', 'probeName', 'probeType'];
/** Every key of `*.sockets`. */
export const SOCKET_KEYS: readonly string[] = ['count', 'maxUses', 'maxAge'];

function upstreamsConfig(v: unknown, problems: ConfigProblem[]): UpstreamsConfig {
  const d = UPSTREAM_DEFAULTS;
  const key = 'upstreams';
  const input: Record<string, unknown> | undefined = v === undefined ? {} : Array.isArray(v) ? { servers: v } : isObject(v) ? v : undefined;
  if (input === undefined) {
    problems.push({ key, value: v, expected: 'an array of "ip[:port]" strings, or an object { servers, policy?, parallelism?, timeout?, deadline?, tcpFallback?, ednsUdpSize?, health?, sockets? }' });
    return Object.freeze({ ...d, servers: [] });
  }
  const p = `${key}.`;
  unknownKeys(input, UPSTREAM_KEYS, p, problems);
  const servers = input.servers === undefined ? [] : serverList(input.servers, Array.isArray(v) ? key : `${p}servers`, 53, problems, true);
  let policy = d.policy;
  if (input.policy !== undefined) {
    if (typeof input.policy !== 'string' || !(FORWARD_POLICIES as readonly string[]).includes(input.policy)) {
      problems.push({ key: `${p}policy`, value: input.policy, expected: `one of ${FORWARD_POLICIES.join(', ')}` });
    } else policy = input.policy as ForwardPolicy;
  }
  const ednsUdpSize = intOption(input, 'ednsUdpSize', p, d.ednsUdpSize, 0, 65535, problems);
  if (ednsUdpSize !== 0 && ednsUdpSize < 512) problems.push({ key: `${p}ednsUdpSize`, value: ednsUdpSize, expected: '0 (off) or 512 .. 65535' });
  return Object.freeze({
    servers: Object.freeze(servers),
    policy,
    parallelism: intOption(input, 'parallelism', p, d.parallelism, 1, 16, problems),
    timeout: intOption(input, 'timeout', p, d.timeout, 10, 60_000, problems, ' ms'),
    deadline: intOption(input, 'deadline', p, d.deadline, 10, 120_000, problems, ' ms'),
    tcpFallback: boolOption(input, 'tcpFallback', p, d.tcpFallback, problems),
    ednsUdpSize,
    health: healthOptions(input.health, `${p}health`, problems),
    sockets: socketOptions(input.sockets, `${p}sockets`, problems),
  });
}

function forwardZones(v: unknown, problems: ConfigProblem[]): ForwardZone[] {
  if (v === undefined) return [];
  const key = 'forwardZones';
  if (!isObject(v)) {
    problems.push({ key, value: v, expected: 'an object { "<zone>": ["ip[:port]", ...] }' });
    return [];
  }
  const out: ForwardZone[] = [];
  for (const [name, servers] of Object.entries(v)) {
    const zone = checkZone(name);
    if (zone === undefined) {
      problems.push({ key: `${key}.${name}`, value: name, expected: 'a zone name such as corp.example (not the root: that is what upstreams are for)' });
      continue;
    }
    if (out.some((z) => z.zone === zone)) {
      problems.push({ key: `${key}.${name}`, value: name, expected: `a zone listed once (${zone} is listed twice)` });
      continue;
    }
    const list = serverList(servers, `${key}.${name}`, 53, problems, false);
    out.push(Object.freeze({ zone, servers: Object.freeze(list) }));
  }
  return out;
}

/** Validate without throwing: the config (defaults applied, frozen) and every problem found. */
export function checkForwardConfig(input: ForwardConfigInput | Record<string, unknown> = {}): { config: ForwardConfig; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const i = input as Record<string, unknown>;
  const config: ForwardConfig = Object.freeze({
    upstreams: upstreamsConfig(i.upstreams, problems),
    forwardZones: Object.freeze(forwardZones(i.forwardZones, problems)),
  });
  return { config, problems };
}

/** Validate, throwing ConfigError with every problem. */
export function validateForwardConfig(input: ForwardConfigInput | Record<string, unknown> = {}): ForwardConfig {
  const { config, problems } = checkForwardConfig(input);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
