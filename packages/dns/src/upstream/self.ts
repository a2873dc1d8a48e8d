/**
 * Refuse to forward to ourselves. A server is "us" when its port is one we listen on and its
 * address is that listen address, or a local address of this host while we listen on 0.0.0.0
 * (IPv4) or :: (IPv4 and IPv6); a server at 0.0.0.0 / :: (the local host) matches any listen
 * address on its port.
 */
import { networkInterfaces } from 'node:os';
import { SelfForwardError, type SelfServer } from '../errors.js';
import { canonicalIp, serverKey, type ServerAddress } from '../exchange/address.js';

export interface ListenLike {
  readonly address: string;
  readonly port: number;
}

/** Every address of this host (canonical), from os.networkInterfaces(). */
export function localAddresses(): Set<string> {
  const out = new Set<string>(['127.0.0.1', '::1']);
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const c = canonicalIp(a.address.split('%')[0]!);
      if (c) out.add(c);
    }
  }
  return out;
}

function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::';
}

function isLocal(address: string, local: ReadonlySet<string>): boolean {
  return local.has(address) || address.startsWith('127.') || isWildcard(address);
}

/** The configured servers that are us. `servers` pairs each server with its config key. */
export function findSelfServers(
  servers: ReadonlyArray<{ readonly key: string; readonly server: ServerAddress }>,
  listen: readonly ListenLike[],
  local: ReadonlySet<string> = localAddresses(),
): SelfServer[] {
  const hits: SelfServer[] = [];
  for (const { key, server } of servers) {
    for (const l of listen) {
      if (l.port === 0 || l.port !== server.port) continue;
      const la = canonicalIp(l.address) ?? l.address;
      const v4 = !server.address.includes(':');
      const match =
        la === server.address ||
        isWildcard(server.address) ||
        (la === '0.0.0.0' && v4 && isLocal(server.address, local)) ||
        (la === '::' && isLocal(server.address, local));
      if (match) {
        hits.push({ key, server: server.key, listen: serverKey(la, l.port) });
        break;
      }
    }
  }
  return hits;
}

/** Throw SelfForwardError when any configured server is us. */
export function assertNotSelf(
  servers: ReadonlyArray<{ readonly key: string; readonly server: ServerAddress }>,
  listen: readonly ListenLike[],
  local?: ReadonlySet<string>,
): void {
  const hits = findSelfServers(servers, listen, local);
  if (hits.length > 0) throw new SelfForwardError(hits);
}
