/**
 * IPv4 addresses as unsigned 32-bit integers, and the few conversions the allocator needs.
 * Strict parsing: four decimal octets 0-255, no leading zeros ("010.1.2.3" is refused: some tools
 * read it as octal), no prefix.
 */

const OCTET = /^(?:0|[1-9][0-9]{0,2})$/;

/** Parse a dotted IPv4 address to an unsigned integer, or undefined when it is not one. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!OCTET.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n = n * 256 + v;
  }
  return n;
}

export function isIpv4(text: string): boolean {
  return parseIpv4(text) !== undefined;
}

/** Unsigned integer to dotted quad. */
export function formatIpv4(n: number): string {
  return `${Math.floor(n / 16777216) % 256}.${Math.floor(n / 65536) % 256}.${Math.floor(n / 256) % 256}.${n % 256}`;
}

export interface Ipv4Cidr {
  /** First address (network), unsigned integer. */
  readonly start: number;
  /** Last address (broadcast), unsigned integer. */
  readonly end: number;
  readonly prefix: number;
  /** Canonical text, e.g. `10.0.0.0/8`. */
  readonly text: string;
}

/** Parse `a.b.c.d/len` (or a bare address = /32). `strict`: host bits must be zero. */
export function parseIpv4Cidr(text: string, strict: boolean): Ipv4Cidr | { error: string } {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const lenText = slash < 0 ? '32' : text.slice(slash + 1);
  const addr = parseIpv4(addrText);
  if (addr === undefined) return { error: `"${addrText}" is not a dotted IPv4 address` };
  if (!/^(?:[0-9]|[12][0-9]|3[0-2])$/.test(lenText)) return { error: `prefix length "${lenText}" is not 0-32` };
  const prefix = Number(lenText);
  const size = 2 ** (32 - prefix);
  const start = addr - (addr % size);
  if (strict && start !== addr) {
    return { error: `host bits set; the network is ${formatIpv4(start)}/${prefix}` };
  }
  return { start, end: start + size - 1, prefix, text: `${formatIpv4(start)}/${prefix}` };
}

/** True when [start,end] lies inside the CIDR. */
export function insideCidr(start: number, end: number, cidr: Ipv4Cidr): boolean {
  return start >= cidr.start && end <= cidr.end;
}
