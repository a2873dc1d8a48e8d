/**
 * Config of the masters stage: the master zones (default `mesos`), and the masters (Mesos-DNS,
 * port 61053 by default) from a static list or a master-list file re-read when it changes.
 *
 *   masters: ["10.0.0.1", "10.0.0.2", "10.0.0.3:61053"]           // shorthand for { servers }
 *   masters: { file: "/opt/mesosphere/etc/master_list", zones: ["mesos"], nxdomainGrace: 50 }
 */
import { ConfigError, type ConfigProblem } from '../errors.js';
import type { ServerAddress } from '../exchange/address.js';
import {
  boolOption,
  checkZone,
  intOption,
  isObject,
  serverList,
  socketOptions,
  SOCKET_DEFAULTS,
  unknownKeys,
  type SocketPoolConfig,
} from '../upstream/config.js';

export const MASTER_PORT = 61053;

export interface MastersConfigInput {
  readonly servers?: readonly string[];
  readonly file?: string;
  readonly zones?: readonly string[];
  readonly port?: number;
  readonly timeout?: number;
  readonly deadline?: number;
  readonly nxdomainGrace?: number;
  readonly pollInterval?: number;
  readonly tcpFallback?: boolean;
  readonly ednsUdpSize?: number;
  readonly sockets?: Partial<SocketPoolConfig>;
}

export interface MastersConfig {
  /** Static masters (empty when `file` is used). */
  readonly servers: readonly ServerAddress[];
  /** Master-list file ('' for none). */
  readonly file: string;
  /** Zones the masters answer (lowercase, no trailing dot). */
  readonly zones: readonly string[];
  /** Port of masters listed without one. */
  readonly port: number;
  /** One exchange with one master, ms. */
  readonly timeout: number;
  /** The whole query, ms. */
  readonly deadline: number;
  /** How long an NXDOMAIN waits for a second master to agree, ms. */
  readonly nxdomainGrace: number;
  /** How often the master-list file is checked (stat) besides fs.watch, ms. */
  readonly pollInterval: number;
  readonly tcpFallback: boolean;
  readonly ednsUdpSize: number;
  readonly sockets: SocketPoolConfig;
}

export const MASTERS_DEFAULTS = Object.freeze({
  servers: Object.freeze([]) as readonly string[],
  file: '',
  zones: Object.freeze(['mesos']) as readonly string[],
  port: MASTER_PORT,
  timeout: 2000,
  deadline: 5000,
  nxdomainGrace: 50,
  pollInterval: 5000,
  tcpFallback: true,
  ednsUdpSize: 1232,
  sockets: SOCKET_DEFAULTS,
});

/** Every key of `masters` (docs test). */
export const MASTERS_KEYS: readonly string[] = ['servers', 'file', 'zones', 'port', 'timeout', 'deadline', 'nxdomainGrace', 'pollInterval', 'tcpFallback', 'ednsUdpSize', 'sockets'];

/** Validate the `masters` key of the server config, without throwing. */
export function checkMastersConfig(input: { readonly masters?: MastersConfigInput | readonly string[] } | Record<string, unknown> = {}): { config: MastersConfig; problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const d = MASTERS_DEFAULTS;
  const v = (input as Record<string, unknown>).masters;
  const obj: Record<string, unknown> | undefined = v === undefined ? {} : Array.isArray(v) ? { servers: v } : isObject(v) ? v : undefined;
  if (obj === undefined) {
    problems.push({ key: 'masters', value: v, expected: 'an array of "ip[:port]" strings, or an object { servers? | file?, zones?, port?, timeout?, deadline?, nxdomainGrace?, pollInterval?, tcpFallback?, ednsUdpSize?, sockets? }' });
  }
  const o = obj ?? {};
  const p = 'masters.';
  unknownKeys(o, MASTERS_KEYS, p, problems);
  const port = intOption(o, 'port', p, d.port, 1, 65535, problems);
  const servers = o.servers === undefined ? [] : serverList(o.servers, Array.isArray(v) ? 'masters' : `${p}servers`, port, problems, true);
  let file: string = d.file;
  if (o.file !== undefined) {
    if (typeof o.file !== 'string') problems.push({ key: `${p}file`, value: o.file, expected: 'a file path, or an empty string for none' });
    else file = o.file;
  }
  if (file !== '' && servers.length > 0) {
    problems.push({ key: `${p}file`, value: file, expected: 'either masters.servers or masters.file, not both' });
  }
  let zones: string[] = [...d.zones];
  if (o.zones !== undefined) {
    if (!Array.isArray(o.zones) || o.zones.length === 0) {
      problems.push({ key: `${p}zones`, value: o.zones, expected: 'a non-empty array of zone names, e.g. ["mesos"]' });
    } else {
      zones = [];
      o.zones.forEach((z: unknown, i) => {
        const zone = checkZone(z);
        if (zone === undefined) problems.push({ key: `${p}zones[${i}]`, value: z, expected: 'a zone name such as mesos (not the root)' });
        else if (zones.includes(zone)) problems.push({ key: `${p}zones[${i}]`, value: z, expected: 'a zone listed once' });
        else zones.push(zone);
      });
    }
  }
  const ednsUdpSize = intOption(o, 'ednsUdpSize', p, d.ednsUdpSize, 0, 65535, problems);
  if (ednsUdpSize !== 0 && ednsUdpSize < 512) problems.push({ key: `${p}ednsUdpSize`, value: ednsUdpSize, expected: '0 (off) or 512 .. 65535' });
  const config: MastersConfig = Object.freeze({
    servers: Object.freeze(servers),
    file,
    zones: Object.freeze(zones),
    port,
    timeout: intOption(o, 'timeout', p, d.timeout, 10, 60_000, problems, ' ms'),
    deadline: intOption(o, 'deadline', p, d.deadline, 10, 120_000, problems, ' ms'),
    nxdomainGrace: intOption(o, 'nxdomainGrace', p, d.nxdomainGrace, 0, 5000, problems, ' ms'),
    pollInterval: intOption(o, 'pollInterval', p, d.pollInterval, 10, 3_600_000, problems, ' ms'),
    tcpFallback: boolOption(o, 'tcpFallback', p, d.tcpFallback, problems),
    ednsUdpSize,
    sockets: socketOptions(o.sockets, `${p}sockets`, problems),
  });
  return { config, problems };
}

export function validateMastersConfig(input: { readonly masters?: MastersConfigInput | readonly string[] } | Record<string, unknown> = {}): MastersConfig {
  const { config, problems } = checkMastersConfig(input);
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
