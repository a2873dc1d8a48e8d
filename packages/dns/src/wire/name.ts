/**
 * Domain names on the wire <-> presentation strings, without dns-packet (hot path).
 *
 * Presentation form: labels joined by '.', no trailing dot, '' for the root. Bytes outside
 * printable ASCII, and '.', '\\', are escaped as in RFC 4343 / dig (`\.`, `\\`, `\DDD`), so
 * that distinct wire names never map to the same string.
 */

const MAX_NAME = 255;
const MAX_LABEL = 63;

export interface NameRead {
  /** Presentation form, original case. */
  readonly name: string;
  /** Offset just past the name in the message (past the first pointer, if compressed). */
  readonly end: number;
}

function appendLabel(buf: Buffer, start: number, len: number, out: string[]): void {
  let plain = true;
  for (let i = start; i < start + len; i++) {
    const c = buf[i]!;
    if (c <= 0x20 || c >= 0x7f || c === 0x2e || c === 0x5c) {
      plain = false;
      break;
    }
  }
  if (plain) {
    out.push(buf.toString('latin1', start, start + len));
    return;
  }
  let s = '';
  for (let i = start; i < start + len; i++) {
    const c = buf[i]!;
    if (c === 0x2e || c === 0x5c) s += '\\' + String.fromCharCode(c);
    else if (c <= 0x20 || c >= 0x7f) s += '\\' + String(c).padStart(3, '0');
    else s += String.fromCharCode(c);
  }
  out.push(s);
}

/**
 * Read a name at `offset`. `allowPointers` false (a query's question) makes any compression
 * pointer an error. Pointers must point backwards (no loops). Returns undefined when malformed.
 */
export function readName(buf: Buffer, offset: number, allowPointers = true): NameRead | undefined {
  const labels: string[] = [];
  let pos = offset;
  let end = -1;
  let total = 1;
  let hops = 0;
  for (;;) {
    if (pos >= buf.length) return undefined;
    const len = buf[pos]!;
    if (len === 0) {
      if (end < 0) end = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (!allowPointers || pos + 1 >= buf.length) return undefined;
      const target = ((len & 0x3f) << 8) | buf[pos + 1]!;
      if (target >= pos || ++hops > 127) return undefined;
      if (end < 0) end = pos + 2;
      pos = target;
      continue;
    }
    if (kind !== 0) return undefined;
    if (len > MAX_LABEL) return undefined;
    total += len + 1;
    if (total > MAX_NAME || pos + 1 + len > buf.length) return undefined;
    appendLabel(buf, pos + 1, len, labels);
    pos += 1 + len;
  }
  return { name: labels.join('.'), end };
}

/** Offset just past the name at `offset` without decoding it; -1 when malformed. */
export function skipName(buf: Buffer, offset: number): number {
  let pos = offset;
  for (;;) {
    if (pos >= buf.length) return -1;
    const len = buf[pos]!;
    if (len === 0) return pos + 1;
    if ((len & 0xc0) === 0xc0) return pos + 2 <= buf.length ? pos + 2 : -1;
    if ((len & 0xc0) !== 0) return -1;
    pos += 1 + len;
  }
}

/** Wire form (uncompressed) of a presentation name. Throws on a label > 63 or name > 255 bytes. */
export function encodeName(name: string): Buffer {
  if (name === '' || name === '.') return Buffer.from([0]);
  const parts: Buffer[] = [];
  let total = 1;
  for (const label of splitLabels(name)) {
    if (label.length === 0 || label.length > MAX_LABEL) throw new RangeError(`bad label in name ${JSON.stringify(name)}`);
    total += label.length + 1;
    parts.push(Buffer.from([label.length]), label);
  }
  if (total > MAX_NAME) throw new RangeError(`name longer than 255 bytes: ${JSON.stringify(name)}`);
  parts.push(Buffer.from([0]));
  return Buffer.concat(parts);
}

/** Split a presentation name into label byte strings, undoing `\.`, `\\` and `\DDD` escapes. */
export function splitLabels(name: string): Buffer[] {
  const s = name.endsWith('.') && !name.endsWith('\\.') ? name.slice(0, -1) : name;
  const labels: Buffer[] = [];
  let cur: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch === 0x5c && i + 1 < s.length) {
      const d = s.slice(i + 1, i + 4);
      if (/^\d{3}$/.test(d)) {
        cur.push(Number(d) & 0xff);
        i += 3;
      } else {
        cur.push(s.charCodeAt(i + 1) & 0xff);
        i += 1;
      }
    } else if (ch === 0x2e) {
      labels.push(Buffer.from(cur));
      cur = [];
    } else {
      cur.push(ch & 0xff);
    }
  }
  labels.push(Buffer.from(cur));
  return labels;
}

/** ASCII-only lowercase, as DNS comparison is (RFC 4343). */
export function lowerName(name: string): string {
  return /[A-Z]/.test(name) ? name.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : name;
}

/** True when `name` equals `zone` or lies under it (both lowercase presentation, no trailing dot). */
export function isSubdomain(name: string, zone: string): boolean {
  if (zone === '') return true;
  if (name.length === zone.length) return name === zone;
  if (name.length <= zone.length || !name.endsWith(zone)) return false;
  let i = name.length - zone.length - 1;
  if (name.charCodeAt(i) !== 0x2e) return false;
  // The dot must not be escaped (`\.`): count the backslashes before it.
  let slashes = 0;
  while (--i >= 0 && name.charCodeAt(i) === 0x5c) slashes++;
  return slashes % 2 === 0;
}
