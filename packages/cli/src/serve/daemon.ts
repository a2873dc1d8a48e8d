/**
 * The daemon `hoplite serve` runs: the DNS server with the VIP zone, following the VIP store,
 * plus the HTTP endpoint. The one place that wires @hoplite/vip into @hoplite/dns.
 */
import { dirname, join } from 'node:path';
import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { createServer, Registry, type DnsServer, type ServerConfigInput, type BoundAddress } from '@hoplite/dns';
import { parseStoreSpec, planPools } from '@hoplite/vip';
import { allocatorOptions, embeddedPath } from '../config/allocator.js';
import type { HopliteConfig } from '../config/schema.js';
import { parseHostPort } from '../config/values.js';
import { VipFollower } from './follower.js';
import { startHttp } from './http.js';
import { VIP_ZONE, VipTable } from './vip-zone.js';

export const VERSION = '0.1.0';

export interface DaemonOptions {
  readonly logger: Logger;
  /** For the default embedded store path (XDG_STATE_HOME, HOME). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface Daemon {
  readonly dns: DnsServer;
  readonly follower: VipFollower;
  readonly table: VipTable;
  /** DNS addresses actually bound (UDP and TCP). */
  dnsAddresses(): readonly BoundAddress[];
  /** `ip:port` of the HTTP endpoint, or undefined when disabled. */
  readonly httpAddress: string | undefined;
  /** Graceful stop: drain DNS queries in flight, close the feed, write the local copy. */
  stop(): Promise<void>;
}

function snapshotPath(config: HopliteConfig, env: Readonly<Record<string, string | undefined>>): string {
  if (config.vip.snapshotFile) return config.vip.snapshotFile;
  return join(dirname(embeddedPath(env)), 'vip-snapshot.json');
}

export async function startDaemon(config: HopliteConfig, opts: DaemonOptions): Promise<Daemon> {
  const { logger, env } = opts;
  // Pool options are checked before anything starts: a bad pool is a config error, not an outage.
  planPools({ pools: config.vip.pools, ...(config.vip.ipv6Pool ? { ipv6Pool: config.vip.ipv6Pool } : {}), exclude: config.vip.exclude, allowNonPrivate: config.vip.allowNonPrivate });
  parseStoreSpec(config.store);

  const metrics = new Registry();
  const table = new VipTable({ pools: config.vip.pools, ...(config.vip.ipv6Pool ? { ipv6Pool: config.vip.ipv6Pool } : {}) });
  const follower = new VipFollower({
    table,
    allocator: allocatorOptions(config, env, logger, { connectTimeoutMs: 3000 }),
    logger,
    metrics,
    snapshotFile: snapshotPath(config, env),
  });
  // The pools in use are the store's (they win over this config): take them from the local copy,
  // else wait for the first attempt to open the store (bounded by its connect timeout), so the
  // DNS server routes the right reverse zones.
  const { poolsKnown } = follower.start();
  if (!poolsKnown) await follower.firstAttempt();
  follower.zonesFixed = true;

  const d = config.dns;
  const dnsConfig: ServerConfigInput = {
    listen: d.listen.map((l) => parseHostPort(l, 53)!),
    tcp: { idleTimeoutMs: d.tcpIdleTimeout, maxConnections: d.tcpMaxConnections },
    maxInFlight: d.maxInFlight,
    udp: { io: d.udpIo },
    localZones: [
      {
        zone: VIP_ZONE,
        source: table,
        reverseZones: table.reverseZones,
        owns: (name: string) => table.owns(name),
        ttl: config.vip.ttl,
      },
    ],
    masters: {
      servers: d.masters,
      ...(d.mastersFile ? { file: d.mastersFile } : {}),
      zones: d.masterZones,
      timeout: d.timeout,
      deadline: d.deadline,
      nxdomainGrace: d.nxdomainGrace,
    },
    upstreams: { servers: d.upstreams, policy: d.policy, timeout: d.timeout, deadline: d.deadline },
    forwardZones: d.forwardZones,
    cache: d.cache
      ? {
          maxEntries: d.cacheSize,
          maxNegativeEntries: d.cacheSize,
          maxTtl: Math.round(d.cacheMaxTtl / 1000),
          staleTtl: Math.round(d.cacheStale / 1000),
        }
      : false,
  };
  let dns: DnsServer;
  try {
    dns = await createServer(dnsConfig, { logger, metrics });
  } catch (err) {
    await follower.close();
    throw err;
  }
  let serving = true;
  let http: Server | undefined;
  let httpAddress: string | undefined;
  if (config.http.listen) {
    const hp = parseHostPort(config.http.listen)!;
    try {
      const h = await startHttp(hp.address, hp.port, { metrics, table, follower, version: VERSION, serving: () => serving });
      http = h.server;
      httpAddress = `${h.address.family === 'IPv6' ? `[${h.address.address}]` : h.address.address}:${h.address.port}`;
    } catch (err) {
      await dns.close({ timeoutMs: 0 });
      await follower.close();
      throw err;
    }
  }
  logger.info(
    {
      dns: dns.addresses().map((a) => `${a.transport}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`),
      http: httpAddress,
      upstreams: d.upstreams,
      masters: d.masters,
    },
    'hoplite serving',
  );

  return {
    dns,
    follower,
    table,
    dnsAddresses: () => dns.addresses(),
    httpAddress,
    async stop() {
      serving = false;
      const started = Date.now();
      await dns.close();
      if (http) {
        http.closeAllConnections();
        await new Promise<void>((r) => http!.close(() => r()));
      }
      await follower.close();
      logger.info({ drainMs: Date.now() - started }, 'hoplite stopped');
    },
  };
}
