/**
 * The hot-path query parser: reads the header, the one question and the OPT record, nothing more.
 * It never throws: a message is either a parsed query, or a verdict saying how to refuse it.
 */
import { Flag, HEADER_SIZE, Opcode, QType, Rcode } from './constants.js';
import { readName, skipName } from './name.js';

export interface ParsedQuestion {
  readonly id: number;
  readonly flags: number;
  readonly opcode: number;
  readonly qname: string;
  readonly qtype: number;
  readonly qclass: number;
  /** Offset just past the question. */
  readonly questionEnd: number;
  readonly edns: { readonly udpSize: number; readonly dnssecOk: boolean; readonly version: number } | undefined;
}

export type ParseResult =
  | { readonly ok: true; readonly query: ParsedQuestion }
  /** Answerable refusal: the header was readable. `questionEnd` > 0 when the question was too. */
  | {
      readonly ok: false;
      readonly action: 'respond';
      readonly rcode: number;
      readonly reason: string;
      readonly id: number;
      readonly flags: number;
      readonly questionEnd: number;
      readonly edns: ParsedQuestion['edns'];
    }
  /** Not answerable (too short for a header, or a response): drop and count. */
  | { readonly ok: false; readonly action: 'drop'; readonly reason: string };

/**
 * Parse a query. Rules:
 * - fewer than 12 bytes, or the QR bit set: drop (never answer a response: no reflection loops);
 * - opcode other than QUERY: NOTIMP;
 * - QDCOUNT other than 1: FORMERR;
 * - a malformed question (bad label, compression pointer, truncated): FORMERR;
 * - a malformed or repeated OPT record: FORMERR; EDNS version > 0: BADVERS (RFC 6891 6.1.3).
 */
export function parseQuery(buf: Buffer): ParseResult {
  if (buf.length < HEADER_SIZE) return { ok: false, action: 'drop', reason: 'short' };
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if (flags & Flag.QR) return { ok: false, action: 'drop', reason: 'response' };
  const opcode = (flags >> 11) & 0xf;
  const qdcount = buf.readUInt16BE(4);
  const refuse = (rcode: number, reason: string, questionEnd = 0, edns: ParsedQuestion['edns'] = undefined): ParseResult => ({
    ok: false,
    action: 'respond',
    rcode,
    reason,
    id,
    flags,
    questionEnd,
    edns,
  });
  if (opcode !== Opcode.QUERY) return refuse(Rcode.NOTIMP, 'opcode');
  if (qdcount !== 1) return refuse(Rcode.FORMERR, 'qdcount');
  const name = readName(buf, HEADER_SIZE, false);
  if (name === undefined || name.end + 4 > buf.length) return refuse(Rcode.FORMERR, 'question');
  const qtype = buf.readUInt16BE(name.end);
  const qclass = buf.readUInt16BE(name.end + 2);
  const questionEnd = name.end + 4;

  let edns: ParsedQuestion['edns'];
  const ancount = buf.readUInt16BE(6);
  const nscount = buf.readUInt16BE(8);
  const arcount = buf.readUInt16BE(10);
  if (arcount > 0) {
    let pos = questionEnd;
    // Skip answer and authority records (a query normally has none), then read the additional
    // section looking for OPT.
    const total = ancount + nscount + arcount;
    for (let i = 0; i < total; i++) {
      const nameEnd = skipName(buf, pos);
      if (nameEnd < 0 || nameEnd + 10 > buf.length) return refuse(Rcode.FORMERR, 'record', questionEnd);
      const type = buf.readUInt16BE(nameEnd);
      const rdlength = buf.readUInt16BE(nameEnd + 8);
      const next = nameEnd + 10 + rdlength;
      if (next > buf.length) return refuse(Rcode.FORMERR, 'record', questionEnd);
      if (type === QType.OPT && i >= ancount + nscount) {
        if (edns !== undefined) return refuse(Rcode.FORMERR, 'opt-repeated', questionEnd);
        if (nameEnd !== pos + 1) return refuse(Rcode.FORMERR, 'opt-name', questionEnd);
        const udpSize = buf.readUInt16BE(nameEnd + 2);
        const version = buf[nameEnd + 5]!;
        const dnssecOk = (buf.readUInt16BE(nameEnd + 6) & 0x8000) !== 0;
        edns = { udpSize: Math.max(512, udpSize), dnssecOk, version };
      }
      pos = next;
    }
    if (edns !== undefined && edns.version > 0) return refuse(Rcode.BADVERS, 'edns-version', questionEnd, edns);
  }
  return { ok: true, query: { id, flags, opcode, qname: name.name, qtype, qclass, questionEnd, edns } };
}
