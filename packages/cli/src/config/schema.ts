/**
 * The one typed schema of Hoplite's configuration, shared by `hoplite serve` and `hoplite vip`.
 * Every key has a kind (how it is read and checked), a default, a description, an environment
 * variable (HOPLITE_ + the key in upper snake case) and, for the common ones, a flag.
 * docs/config.md is generated from this list (a test keeps it true).
 */
import { DEFAULT_POOLS, DEFAULT_QUARANTINE_MS } from '@hoplite/vip';
import {
  boolKind,
  durationKind,
  enumKind,
  hostPortKind,
  intKind,
  listKind,
  mapOfListsKind,
  stringKind,
  type Kind,
} from './values.js';

export interface HopliteConfig {
  /** `embedded`, `embedded:/path/to/vip.db`, `redis://...`, `rediss://...`, `redis+sentinel://...`, `redis+cluster://...`. */
  store: string;
  vip: {
    pools: string[];
    ipv6Pool: string;
    exclude: string[];
    allowNonPrivate: boolean;
    updatePools: boolean;
    quarantine: number;
    ttl: number;
    /** Where `serve` keeps its last snapshot of the VIP table (answers from it when the store is down at start). */
    snapshotFile: string;
  };
  dns: {
    listen: string[];
    upstreams: string[];
    policy: 'parallel' | 'sequential' | 'random';
    masters: string[];
    mastersFile: string;
    masterZones: string[];
    forwardZones: Record<string, string[]>;
    timeout: number;
    deadline: number;
    nxdomainGrace: number;
    maxInFlight: number;
    tcpIdleTimeout: number;
    tcpMaxConnections: number;
    cache: boolean;
    cacheSize: number;
    cacheMaxTtl: number;
    cacheStale: number;
    udpIo: 'auto' | 'native' | 'dgram';
  };
  http: {
    listen: string;
  };
  log: {
    level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  };
}

export interface Field {
  /** Dotted key, e.g. `dns.listen`. */
  readonly key: string;
  readonly kind: Kind<unknown>;
  /** Default value; a function when it depends on the machine (e.g. /etc/resolv.conf). */
  readonly default: unknown;
  /** Shown in docs and `--help` for a default computed at start. */
  readonly defaultText?: string;
  readonly describe: string;
  /** Flag name without dashes; omitted keys are set by file or environment only. */
  readonly flag?: string;
  /** Masked in logs (passwords in URLs). */
  readonly secret?: boolean;
}

const zoneKind = stringKind('a DNS zone name such as mesos or example.com', (s) =>
  /^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?$/.test(s),
);

const storeKind = stringKind(
  'embedded, embedded:<path>, redis://host:port[/db], rediss://..., redis+sentinel://host:port[,host:port]/<master>, or redis+cluster://host:port[,host:port]',
  (s) => s === 'embedded' || /^embedded:.+/.test(s) || /^(redis|rediss|redis\+sentinel|redis\+cluster):\/\/.+/.test(s),
);

export const DEFAULT_LISTEN = '127.0.0.1:8053';

export const FIELDS: readonly Field[] = [
  { key: 'store', kind: storeKind, default: 'embedded', flag: 'store', secret: true, describe: 'Where the VIP table lives: the embedded store on this machine, or a shared Redis (standalone, Sentinel or Cluster).' },
  { key: 'vip.pools', kind: listKind(stringKind('an IPv4 CIDR such as 172.16.0.0/16'), { min: 1 }), default: [...DEFAULT_POOLS], flag: 'pool', describe: 'IPv4 CIDRs that VIP addresses are drawn from; must lie inside RFC1918 unless vip.allowNonPrivate is set.' },
  { key: 'vip.ipv6Pool', kind: stringKind('an IPv6 CIDR inside fd00::/8, or an empty string for none'), default: '', flag: 'ipv6-pool', describe: 'Optional IPv6 pool for AAAA records (inside fd00::/8).' },
  { key: 'vip.exclude', kind: listKind(stringKind('an IPv4 address or CIDR')), default: [], flag: 'exclude', describe: 'Addresses or CIDRs inside the pools that are never handed out.' },
  { key: 'vip.allowNonPrivate', kind: boolKind, default: false, flag: 'allow-non-private', describe: 'Allow pools outside RFC1918 (10/8, 172.16/12, 192.168/16).' },
  { key: 'vip.updatePools', kind: boolKind, default: false, flag: 'update-pools', describe: 'Replace the pools kept in the store with these. Without it the stored pools win: a process configured with other pools uses the stored ones and warns.' },
  { key: 'vip.quarantine', kind: durationKind(0, 30 * 86_400_000), default: DEFAULT_QUARANTINE_MS, flag: 'quarantine', describe: 'How long a released address stays out of reach of other names.' },
  { key: 'vip.ttl', kind: intKind(0, 86_400), default: 5, flag: 'vip-ttl', describe: 'TTL in seconds of VIP answers.' },
  { key: 'vip.snapshotFile', kind: stringKind('a file path, or an empty string to keep no local copy'), default: '', defaultText: 'beside the embedded store (vip-snapshot.json in the state directory)', describe: 'Local copy of the last VIP table seen, answered from when the store is unreachable at start.' },
  { key: 'dns.listen', kind: listKind(hostPortKind(53), { min: 1 }), default: [DEFAULT_LISTEN], flag: 'listen', describe: 'Addresses to serve DNS on, UDP and TCP (production: 198.51.100.1:53, 198.51.100.2:53, 198.51.100.3:53).' },
  { key: 'dns.upstreams', kind: listKind(hostPortKind(53)), default: null, defaultText: 'the nameservers of /etc/resolv.conf, without Hoplite\'s own addresses', flag: 'upstream', describe: 'Upstream resolvers for everything that is not a local, master or forward zone.' },
  { key: 'dns.policy', kind: enumKind(['parallel', 'sequential', 'random'] as const), default: 'parallel', flag: 'policy', describe: 'How upstreams are chosen: parallel asks two healthy ones at once, first good answer wins.' },
  { key: 'dns.masters', kind: listKind(hostPortKind(61053)), default: [], flag: 'master', describe: 'Masters (Mesos-DNS) asked for the master zones, all at once.' },
  { key: 'dns.mastersFile', kind: stringKind('a file path, or an empty string'), default: '', flag: 'masters-file', describe: 'A file listing the masters, one ip[:port] per line, re-read when it changes.' },
  { key: 'dns.masterZones', kind: listKind(zoneKind), default: ['mesos'], flag: 'master-zone', describe: 'Zones answered by the masters.' },
  { key: 'dns.forwardZones', kind: mapOfListsKind(zoneKind, hostPortKind(53)), default: {}, flag: 'forward-zone', describe: 'Zones forwarded to their own servers: zone -> list of ip[:port].' },
  { key: 'dns.timeout', kind: durationKind(10, 60_000), default: 2_000, flag: 'timeout', describe: 'Timeout of one exchange with one upstream or master.' },
  { key: 'dns.deadline', kind: durationKind(10, 120_000), default: 5_000, flag: 'deadline', describe: 'Overall deadline of a query: the client gets an answer (SERVFAIL at worst) within it.' },
  { key: 'dns.nxdomainGrace', kind: durationKind(0, 5_000), default: 50, flag: 'nxdomain-grace', describe: 'How long an NXDOMAIN from one master waits for another master before it is returned.' },
  { key: 'dns.maxInFlight', kind: intKind(1, 1_000_000), default: 10_000, flag: 'max-in-flight', describe: 'Queries in flight beyond which new queries get REFUSED.' },
  { key: 'dns.tcpIdleTimeout', kind: durationKind(100, 3_600_000), default: 10_000, flag: 'tcp-idle-timeout', describe: 'A TCP connection with no query for this long is closed.' },
  { key: 'dns.tcpMaxConnections', kind: intKind(1, 1_000_000), default: 1_000, flag: 'tcp-max-connections', describe: 'Cap on open TCP connections.' },
  { key: 'dns.cache', kind: boolKind, default: true, flag: 'cache', describe: 'Cache answers of masters and upstreams (positive and negative, with stale answers during outages); --no-cache turns it off.' },
  { key: 'dns.cacheSize', kind: intKind(0, 10_000_000), default: 10_000, flag: 'cache-size', describe: 'Cached answers at most, positive and negative each.' },
  { key: 'dns.cacheMaxTtl', kind: durationKind(1000, 7 * 86_400_000), default: 3_600_000, flag: 'cache-max-ttl', describe: 'Longest time a positive answer is cached (its TTL caps it too).' },
  { key: 'dns.cacheStale', kind: durationKind(0, 7 * 86_400_000), default: 86_400_000, flag: 'cache-stale', describe: 'How long after expiry a cached answer may still be served (TTL 30 s) when every upstream fails (RFC 8767); 0 turns it off.' },
  { key: 'dns.udpIo', kind: enumKind(['auto', 'native', 'dgram'] as const), default: 'auto', flag: 'udp-io', describe: 'UDP sockets: native (recvmmsg/sendmmsg through the udp_batch addon built at install), dgram (Node\'s own), or auto (native when the addon is built, else dgram; the log line `dns server started` says which).' },
  { key: 'http.listen', kind: stringKind('ip:port, or an empty string to disable', (s) => s === '' || hostPortKind().check(s).ok), default: '127.0.0.1:62080', flag: 'http-listen', describe: 'HTTP endpoint for /metrics, /ready and /v1/vips; empty disables it.' },
  { key: 'log.level', kind: enumKind(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const), default: 'info', flag: 'log-level', describe: 'Log level.' },
];

/** `dns.tcpIdleTimeout` -> `HOPLITE_DNS_TCP_IDLE_TIMEOUT`. */
export function envName(key: string): string {
  return 'HOPLITE_' + key.replace(/\./g, '_').replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}
