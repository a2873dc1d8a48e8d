/**
 * The daemon's HTTP endpoint (loopback by default): /metrics (Prometheus text), /ready,
 * /v1/vips (the VIP zone as this resolver sees it), /v1/version.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from '@hoplite/dns';
import type { VipFollower } from './follower.js';
import type { VipTable } from './vip-zone.js';

export interface HttpDeps {
  readonly metrics: Registry;
  readonly table: VipTable;
  readonly follower: VipFollower;
  readonly version: string;
  /** False once the daemon is stopping. */
  readonly serving: () => boolean;
}

export async function startHttp(address: string, port: number, deps: HttpDeps): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    const sendJson = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body) + '\n');
    };
    switch (url) {
      case '/metrics':
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(deps.metrics.render());
        return;
      case '/ready': {
        const serving = deps.serving();
        sendJson(serving ? 200 : 503, {
          dns: serving ? 'serving' : 'stopping',
          vipStore: deps.follower.state,
          vipZoneSynced: deps.follower.synced,
          vips: deps.table.size,
          revision: deps.table.revision,
        });
        return;
      }
      case '/v1/vips': {
        // The whole records from the store when it is live; else what this resolver answers from.
        const allocator = deps.follower.state === 'live' ? deps.follower.allocator : undefined;
        const local = (): void =>
          sendJson(200, {
            source: 'resolver',
            revision: deps.table.revision,
            vips: [...deps.table.entries()].map((v) => ({ name: v.name, ipv4: v.ipv4, ipv6: v.ipv6 ?? null, ports: v.ports ? v.ports.split(',') : [] })),
          });
        if (!allocator) {
          local();
          return;
        }
        allocator.list().then(
          (vips) => sendJson(200, { source: 'store', revision: deps.table.revision, vips }),
          () => local(),
        );
        return;
      }
      case '/v1/version':
        sendJson(200, { version: deps.version });
        return;
      default:
        sendJson(404, { error: 'not found', paths: ['/metrics', '/ready', '/v1/vips', '/v1/version'] });
    }
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return { server, address: server.address() as AddressInfo };
}
