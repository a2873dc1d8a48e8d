/**
 * Server addresses: `ip`, `ip:port`, `[v6]` and `[v6]:port` (a bare IPv6 address without brackets
 * is accepted too, with the default port). Addresses are kept in the canonical form Node reports
 * as a reply's source (`rinfo.address`), so that the source check is a string comparison.
 */
import { isIPv4, isIPv6, SocketAddress } from 'node:net';

export type Family = 'IPv4' | 'IPv6';

export interface ServerAddress {
  /** Canonical address (IPv6 compressed, lowercase). */
  readonly address: string;
  readonly port: number;
  readonly family: Family;
  /** `ip:port` or `[v6]:port`: the label used in logs and metrics. */
  readonly key: string;
}

/** Canonical text form of an IP address, or undefined when it is not one. */
export function canonicalIp(ip: string): string | undefined {
  if (isIPv4(ip)) return new SocketAddress({ address: ip, family: 'ipv4' }).address;
  if (isIPv6(ip)) return new SocketAddress({ address: ip, family: 'ipv6' }).address;
  return undefined;
}

/**
 * A dgram `lookup` for sockets that only ever send to IP literals (upstreams, masters, and
 * clients' `rinfo.address`): hands the address back at once. Node's default lookup calls
 * `dns.lookup`, which for a literal still validates it and defers the send to the next tick
 * (a closure and a nextTick per datagram).
 */
export function literalLookup(address: string, family: number, cb: (err: Error | null, address: string, family: number) => void): void {
  cb(null, address, family);
}

export function serverKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * Parse `ip[:port]` / `[v6][:port]`. Returns undefined when malformed (no host names: a resolver
 * that needs a resolver to find its upstreams is a loop waiting to happen; no IPv6 zone ids).
 */
export function parseServerAddress(text: string, defaultPort: number): ServerAddress | undefined {
  if (typeof text !== 'string') return undefined;
  const s = text.trim();
  if (s.includes('%')) return undefined;
  let host: string;
  let portText: string | undefined;
  if (s.startsWith('[')) {
    const close = s.indexOf(']');
    if (close < 0) return undefined;
    host = s.slice(1, close);
    const rest = s.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return undefined;
      portText = rest.slice(1);
    }
    if (!isIPv6(host)) return undefined;
  } else if (isIPv6(s)) {
    host = s;
  } else {
    const colon = s.lastIndexOf(':');
    if (colon >= 0) {
      host = s.slice(0, colon);
      portText = s.slice(colon + 1);
    } else {
      host = s;
    }
    if (!isIPv4(host)) return undefined;
  }
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
  }
  if (port < 1 || port > 65535) return undefined;
  const address = canonicalIp(host)!;
  const family: Family = isIPv4(address) ? 'IPv4' : 'IPv6';
  return { address, port, family, key: serverKey(address, port) };
}
