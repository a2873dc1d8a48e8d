/**
 * A small DNS message encoder with name compression, for answers built once and then cached
 * (local zones) and for the cold-path question restore of renamed queries. Not used per query.
 *
 * Names are presentation strings (see name.ts). Owner names and the names inside NS, CNAME,
 * PTR, SOA, MX, ... rdata are compressed against every name written before them; the SRV target
 * is written in full (RFC 2782) but later names may point into it. A name equal to the question
 * name therefore becomes a pointer to offset 12: patching the question bytes of a cached answer
 * (to the client's letter case) changes those owner names too.
 */
import { QClass, QType } from './constants.js';
import { splitLabels } from './name.js';

/** A piece of rdata: raw bytes, or a domain name (compressed unless `compress` is false). */
export type RDataPart = Buffer | { readonly name: string; readonly compress?: boolean };

export interface WireRecord {
  readonly name: string;
  readonly type: number;
  /** Default IN. For OPT this is the UDP payload size. */
  readonly class?: number;
  /** Unsigned 32-bit; for OPT the extended rcode / version / flags word. */
  readonly ttl: number;
  readonly rdata: readonly RDataPart[];
}

export interface WireQuestion {
  readonly name: string;
  readonly type: number;
  readonly class?: number;
}

export interface WireMessage {
  readonly id: number;
  /** The whole flags word (QR, opcode, AA, TC, RD, RA, rcode low 4 bits...). */
  readonly flags: number;
  readonly question?: WireQuestion;
  readonly answers?: readonly WireRecord[];
  readonly authority?: readonly WireRecord[];
  readonly additional?: readonly WireRecord[];
  /** An OPT record appended to the additional section. */
  readonly opt?: { readonly udpSize: number; readonly dnssecOk: boolean; readonly extendedRcode?: number };
}

const MAX_POINTER = 0x3fff;

class Writer {
  buf = Buffer.alloc(512);
  pos = 0;
  private readonly names = new Map<string, number>();

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.pos);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }

  bytes(b: Buffer): void {
    this.ensure(b.length);
    b.copy(this.buf, this.pos);
    this.pos += b.length;
  }

  name(name: string, compress: boolean): void {
    if (name === '' || name === '.') {
      this.u8(0);
      return;
    }
    const labels = splitLabels(name);
    // Suffix keys: the lowercased wire form of each suffix, as a latin1 string (unique per name).
    const keys: string[] = new Array<string>(labels.length);
    let key = '';
    for (let i = labels.length - 1; i >= 0; i--) {
      const l = labels[i]!;
      if (l.length === 0 || l.length > 63) throw new RangeError(`bad label in name ${JSON.stringify(name)}`);
      key = String.fromCharCode(l.length) + l.toString('latin1').toLowerCase() + key;
      keys[i] = key;
    }
    if (key.length + 1 > 255) throw new RangeError(`name longer than 255 bytes: ${JSON.stringify(name)}`);
    for (let i = 0; i < labels.length; i++) {
      const k = keys[i]!;
      if (compress) {
        const at = this.names.get(k);
        if (at !== undefined) {
          this.u16(0xc000 | at);
          return;
        }
      }
      if (this.pos <= MAX_POINTER && !this.names.has(k)) this.names.set(k, this.pos);
      const l = labels[i]!;
      this.u8(l.length);
      this.bytes(l);
    }
    this.u8(0);
  }

  record(r: WireRecord): void {
    this.name(r.name, true);
    this.u16(r.type);
    this.u16(r.class ?? QClass.IN);
    this.u32(r.ttl);
    const lenAt = this.pos;
    this.u16(0);
    for (const part of r.rdata) {
      if (Buffer.isBuffer(part)) this.bytes(part);
      else this.name(part.name, part.compress !== false);
    }
    const rdlength = this.pos - lenAt - 2;
    if (rdlength > 0xffff) throw new RangeError('rdata longer than 65535 bytes');
    this.buf.writeUInt16BE(rdlength, lenAt);
  }
}

/** Encode a message. Throws RangeError on a malformed name (callers validate their input first). */
export function encodeMessage(m: WireMessage): Buffer {
  const w = new Writer();
  const an = m.answers ?? [];
  const ns = m.authority ?? [];
  const ar = m.additional ?? [];
  w.u16(m.id);
  w.u16(m.flags);
  w.u16(m.question ? 1 : 0);
  w.u16(an.length);
  w.u16(ns.length);
  w.u16(ar.length + (m.opt ? 1 : 0));
  if (m.question) {
    w.name(m.question.name, true);
    w.u16(m.question.type);
    w.u16(m.question.class ?? QClass.IN);
  }
  for (const r of an) w.record(r);
  for (const r of ns) w.record(r);
  for (const r of ar) w.record(r);
  if (m.opt) {
    const ext = (m.opt.extendedRcode ?? 0) & 0xff;
    w.record({
      name: '',
      type: QType.OPT,
      class: m.opt.udpSize,
      ttl: ((ext << 24) | (m.opt.dnssecOk ? 0x8000 : 0)) >>> 0,
      rdata: [],
    });
  }
  return Buffer.from(w.buf.subarray(0, w.pos));
}
