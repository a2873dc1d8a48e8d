/**
 * Hot-path response helpers: read a reply's header, check that it answers our question, build
 * error responses, fit a response into the client's buffer. No full decode, no dns-packet.
 */
import { Buffer } from 'node:buffer';
import { Flag, HEADER_SIZE, QType } from './constants.js';
import { skipName } from './name.js';

export interface ResponseHeader {
  readonly id: number;
  readonly flags: number;
  /** Header rcode (low 4 bits; the OPT's extended bits are not included). */
  readonly rcode: number;
  readonly truncated: boolean;
  readonly qdcount: number;
  readonly ancount: number;
  readonly nscount: number;
  readonly arcount: number;
}

/** undefined when the message is too short or is not a response (QR clear). */
export function readResponseHeader(buf: Buffer): ResponseHeader | undefined {
  if (buf.length < HEADER_SIZE) return undefined;
  const flags = buf.readUInt16BE(2);
  if ((flags & Flag.QR) === 0) return undefined;
  return {
    id: buf.readUInt16BE(0),
    flags,
    rcode: flags & 0xf,
    truncated: (flags & Flag.TC) !== 0,
    qdcount: buf.readUInt16BE(4),
    ancount: buf.readUInt16BE(6),
    nscount: buf.readUInt16BE(8),
    arcount: buf.readUInt16BE(10),
  };
}

/**
 * True when `resp` carries exactly the question of `query` (bytes 12..questionEnd of the query),
 * names compared case-insensitively (RFC 4343), type and class exactly.
 */
export function questionMatches(resp: Buffer, query: Buffer, questionEnd: number): boolean {
  if (resp.length < questionEnd || resp.readUInt16BE(4) !== 1) return false;
  for (let i = HEADER_SIZE; i < questionEnd; i++) {
    let a = resp[i]!;
    let b = query[i]!;
    if (a === b) continue;
    if (a >= 0x41 && a <= 0x5a) a |= 0x20;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (a !== b) return false;
  }
  return true;
}

/**
 * A 30-bit hash of a message's question (bytes 12..questionEnd, the name case-folded): what an
 * abandoned exchange keeps of its query, so that a late reply can still be checked against it
 * (questionHash(reply, end) === questionHash(query, end) when questionMatches(reply, query, end)).
 * -1 when `msg` is shorter than `questionEnd` or does not hold exactly one question.
 */
export function questionHash(msg: Buffer, questionEnd: number): number {
  if (msg.length < questionEnd || questionEnd < HEADER_SIZE + 5 || msg.readUInt16BE(4) !== 1) return -1;
  let h = 0x811c9dc5;
  const nameEnd = questionEnd - 4;
  for (let i = HEADER_SIZE; i < questionEnd; i++) {
    let b = msg[i]!;
    if (i < nameEnd && b >= 0x41 && b <= 0x5a) b |= 0x20;
    h = Math.imul(h ^ b, 0x01000193);
  }
  return h & 0x3fffffff;
}

export interface ErrorResponseInput {
  readonly id: number;
  /** The query's flags word: opcode, RD and CD are copied. */
  readonly flags: number;
  /** The query message; the question (bytes 12..questionEnd) is copied when questionEnd > 0. */
  readonly raw: Buffer;
  readonly questionEnd: number;
  /** Present when the query had EDNS: the response then carries an OPT record. */
  readonly edns: { readonly dnssecOk: boolean } | undefined;
}

/**
 * A response with no records: header (QR, RA, opcode/RD/CD from the query, the rcode), the
 * question when it was readable, and an OPT record when the query had one. Extended rcodes
 * (>= 16, e.g. BADVERS) go into the OPT. `flagsToSet` adds e.g. AA or TC.
 */
export function errorResponse(q: ErrorResponseInput, rcode: number, udpSize: number, flagsToSet = 0): Buffer {
  const qlen = q.questionEnd > 0 ? q.questionEnd - HEADER_SIZE : 0;
  const optLen = q.edns ? 11 : 0;
  const out = Buffer.allocUnsafe(HEADER_SIZE + qlen + optLen);
  out.writeUInt16BE(q.id, 0);
  const flags = Flag.QR | (q.flags & (0x7800 | Flag.RD | Flag.CD)) | Flag.RA | flagsToSet | (rcode & 0xf);
  out.writeUInt16BE(flags, 2);
  out.writeUInt16BE(qlen > 0 ? 1 : 0, 4);
  out.writeUInt32BE(0, 6);
  out.writeUInt16BE(optLen > 0 ? 1 : 0, 10);
  if (qlen > 0) q.raw.copy(out, HEADER_SIZE, HEADER_SIZE, q.questionEnd);
  if (optLen > 0) writeOpt(out, HEADER_SIZE + qlen, udpSize, q.edns!.dnssecOk, rcode >> 4);
  return out;
}

/** Our OPT record (11 bytes) at `at`: root owner, our UDP size, the extended rcode, version 0,
 *  the DO bit, no options. */
export function writeOpt(out: Buffer, at: number, udpSize: number, dnssecOk: boolean, extRcode = 0): void {
  out[at] = 0; // root name
  out[at + 1] = 0;
  out[at + 2] = QType.OPT;
  out[at + 3] = udpSize >>> 8;
  out[at + 4] = udpSize & 0xff;
  out[at + 5] = extRcode & 0xff;
  out[at + 6] = 0; // version
  out[at + 7] = dnssecOk ? 0x80 : 0;
  out[at + 8] = 0;
  out[at + 9] = 0; // rdlength
  out[at + 10] = 0;
}

/** A copy of `buf` with its ID replaced. */
export function withId(buf: Buffer, id: number): Buffer {
  const out = Buffer.allocUnsafe(buf.length);
  buf.copy(out);
  out.writeUInt16BE(id, 0);
  return out;
}

/**
 * Fit a response into `maxSize` bytes. When it is larger, returns the header with TC set, the
 * question, and the OPT record if the response had one (RFC 6891 7: a truncated response keeps
 * its OPT); no answer, authority or other additional records. Returns the input when it fits.
 * A response whose sections cannot be walked is cut to its header and question.
 */
export function fitResponse(resp: Buffer, maxSize: number): Buffer {
  if (resp.length <= maxSize) return resp;
  const qdcount = resp.readUInt16BE(4);
  let pos = HEADER_SIZE;
  for (let i = 0; i < qdcount; i++) {
    const end = skipName(resp, pos);
    if (end < 0 || end + 4 > resp.length) {
      pos = HEADER_SIZE;
      break;
    }
    pos = end + 4;
  }
  const questionEnd = pos;
  const opt = findOpt(resp, questionEnd);
  const optLen = opt ? opt[1] - opt[0] : 0;
  const out = Buffer.allocUnsafe(questionEnd + optLen);
  resp.copy(out, 0, 0, questionEnd);
  out.writeUInt16BE(resp.readUInt16BE(2) | Flag.TC, 2);
  out.writeUInt16BE(questionEnd > HEADER_SIZE ? qdcount : 0, 4);
  out.writeUInt32BE(0, 6);
  out.writeUInt16BE(opt ? 1 : 0, 10);
  if (opt) resp.copy(out, questionEnd, opt[0], opt[1]);
  return out;
}

/** [start, end) of the OPT record in the additional section, or undefined. */
export function findOpt(resp: Buffer, questionEnd: number): [number, number] | undefined {
  const start = optStart(resp, questionEnd);
  return start < 0 ? undefined : [start, lastOptEnd];
}

let lastOptEnd = 0;

/**
 * Where the OPT record of the additional section starts, or -1; where it ends is then optEnd().
 * findOpt() without the array (an allocation per answer on the relay path).
 */
export function optStart(resp: Buffer, questionEnd: number): number {
  if (resp.length < HEADER_SIZE) return -1;
  const an = resp.readUInt16BE(6);
  const ns = resp.readUInt16BE(8);
  const ar = resp.readUInt16BE(10);
  let pos = questionEnd;
  for (let i = 0; i < an + ns + ar; i++) {
    const nameEnd = skipName(resp, pos);
    if (nameEnd < 0 || nameEnd + 10 > resp.length) return -1;
    const next = nameEnd + 10 + resp.readUInt16BE(nameEnd + 8);
    if (next > resp.length) return -1;
    if (i >= an + ns && resp.readUInt16BE(nameEnd) === QType.OPT) {
      lastOptEnd = next;
      return pos;
    }
    pos = next;
  }
  return -1;
}

/** The end of the OPT record found by the last optStart() that found one. */
export function optEnd(): number {
  return lastOptEnd;
}
