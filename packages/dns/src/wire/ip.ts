/** IP address text <-> rdata bytes, and reverse-lookup names (in-addr.arpa / ip6.arpa). */
import { isIPv4, isIPv6 } from 'node:net';

/** The 4 bytes of an IPv4 address in dotted-quad form; undefined when it is not one. */
export function ipv4Bytes(address: string): Buffer | undefined {
  if (!isIPv4(address)) return undefined;
  const out = Buffer.allocUnsafe(4);
  const parts = address.split('.');
  for (let i = 0; i < 4; i++) out[i] = Number(parts[i]);
  return out;
}

/** The 16 bytes of an IPv6 address (with `::` and an embedded IPv4 tail); undefined when it is not one. */
export function ipv6Bytes(address: string): Buffer | undefined {
  if (!isIPv6(address) || address.includes('%')) return undefined;
  let head = address;
  let tail: number[] = [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two 16-bit groups.
  const lastColon = head.lastIndexOf(':');
  const maybeV4 = head.slice(lastColon + 1);
  if (maybeV4.includes('.')) {
    const v4 = ipv4Bytes(maybeV4);
    if (!v4) return undefined;
    tail = [v4.readUInt16BE(0), v4.readUInt16BE(2)];
    head = head.slice(0, lastColon + 1);
    if (head.endsWith(':') && !head.endsWith('::')) head = head.slice(0, -1);
  }
  const groups: number[] = [];
  const dbl = head.indexOf('::');
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  if (dbl >= 0) {
    const left = parse(head.slice(0, dbl));
    const right = parse(head.slice(dbl + 2));
    const missing = 8 - left.length - right.length - tail.length;
    groups.push(...left, ...new Array<number>(missing).fill(0), ...right, ...tail);
  } else {
    groups.push(...parse(head), ...tail);
  }
  if (groups.length !== 8) return undefined;
  const out = Buffer.allocUnsafe(16);
  for (let i = 0; i < 8; i++) out.writeUInt16BE(groups[i]!, i * 2);
  return out;
}

/** `4.3.2.1.in-addr.arpa` for 1.2.3.4; nibble form under `ip6.arpa` for IPv6; undefined otherwise. */
export function reverseName(address: string): string | undefined {
  const v4 = ipv4Bytes(address);
  if (v4) return `${v4[3]}.${v4[2]}.${v4[1]}.${v4[0]}.in-addr.arpa`;
  const v6 = ipv6Bytes(address);
  if (!v6) return undefined;
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) {
    const b = v6[i]!;
    nibbles.push((b & 0xf).toString(16), (b >> 4).toString(16));
  }
  return `${nibbles.join('.')}.ip6.arpa`;
}

/**
 * The address a full reverse name stands for (`4.3.2.1.in-addr.arpa` -> `1.2.3.4`, 32 nibbles
 * under `ip6.arpa` -> compressed IPv6 text); undefined for a partial or malformed name.
 * The name must be lowercase, without a trailing dot.
 */
export function addressFromReverseName(name: string): string | undefined {
  if (name.endsWith('.in-addr.arpa')) {
    const parts = name.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4) return undefined;
    for (const p of parts) if (!/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255) return undefined;
    return parts.reverse().join('.');
  }
  if (name.endsWith('.ip6.arpa')) {
    const parts = name.slice(0, -'.ip6.arpa'.length).split('.');
    if (parts.length !== 32) return undefined;
    for (const p of parts) if (!/^[0-9a-f]$/.test(p)) return undefined;
    const hex = parts.reverse().join('');
    const groups: string[] = [];
    for (let i = 0; i < 32; i += 4) groups.push(parseInt(hex.slice(i, i + 4), 16).toString(16));
    // Compress the longest run of zero groups (RFC 5952).
    let best = -1;
    let bestLen = 0;
    for (let i = 0; i < 8; ) {
      if (groups[i] !== '0') {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && groups[j] === '0') j++;
      if (j - i > bestLen && j - i > 1) {
        best = i;
        bestLen = j - i;
      }
      i = j;
    }
    if (best < 0) return groups.join(':');
    return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
  }
  return undefined;
}
