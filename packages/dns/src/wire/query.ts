/**
 * The hot-path query parser: reads the header, the one question and the OPT record, nothing more.
 * It never throws: a message is either a parsed query, or a verdict saying how to refuse it.
 *
 * `QueryParser` is the allocation-light form the server uses (one instance, fields overwritten
 * per message, the name decoded through a scratch buffer); `parseQuery` wraps it in plain objects.
 */
import { Flag, HEADER_SIZE, Opcode, QType, Rcode } from './constants.js';
import { lowerName, readName, skipName } from './name.js';

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

/** QueryParser.parse verdicts. */
export const Verdict = { OK: 0, RESPOND: 1, DROP: 2 } as const;
export type Verdict = (typeof Verdict)[keyof typeof Verdict];

type Edns = ParsedQuestion['edns'];

/**
 * Parses into its own fields (valid until the next `parse`). Rules:
 * - fewer than 12 bytes, or the QR bit set: drop (never answer a response: no reflection loops);
 * - opcode other than QUERY: NOTIMP;
 * - QDCOUNT other than 1: FORMERR;
 * - a malformed question (bad label, compression pointer, truncated): FORMERR;
 * - a malformed or repeated OPT record: FORMERR; EDNS version > 0: BADVERS (RFC 6891 6.1.3).
 */
export class QueryParser {
  verdict: Verdict = Verdict.DROP;
  /** For RESPOND: the rcode to answer with. */
  rcode = 0;
  /** For RESPOND and DROP: why (a metric label). */
  reason = '';
  id = 0;
  flags = 0;
  opcode = 0;
  /** The name as asked (presentation form, original case, no trailing dot; '' for the root). */
  qname = '';
  /** `qname` lowercased (ASCII only, RFC 4343). */
  lower = '';
  qtype = 0;
  qclass = 0;
  /** Offset just past the question; 0 when the question could not be read. */
  questionEnd = 0;
  edns: Edns = undefined;
  private readonly scratch = Buffer.allocUnsafe(256);

  parse(buf: Buffer): Verdict {
    this.edns = undefined;
    this.questionEnd = 0;
    if (buf.length < HEADER_SIZE) return this.drop('short');
    this.id = (buf[0]! << 8) | buf[1]!;
    const flags = (buf[2]! << 8) | buf[3]!;
    this.flags = flags;
    if (flags & Flag.QR) return this.drop('response');
    const opcode = (flags >> 11) & 0xf;
    this.opcode = opcode;
    if (opcode !== Opcode.QUERY) return this.respond(Rcode.NOTIMP, 'opcode');
    if (buf[4] !== 0 || buf[5] !== 1) return this.respond(Rcode.FORMERR, 'qdcount');

    // The question name: labels of 1..63 bytes, at most 255 bytes in all, no pointers. Copied
    // on the way into the scratch buffer with dots between labels (the presentation form when
    // every byte is printable and needs no escape).
    const len = buf.length;
    const s = this.scratch;
    let n = 0;
    let pos = HEADER_SIZE;
    let plain = true;
    let upper = false;
    for (;;) {
      if (pos >= len) return this.respond(Rcode.FORMERR, 'question');
      const l = buf[pos]!;
      if (l === 0) break;
      if (l > 63) return this.respond(Rcode.FORMERR, 'question');
      const end = pos + 1 + l;
      // n + 1 + l is the wire length so far minus one: at most 255 in all.
      if (n + l + 2 > 255 || end > len) return this.respond(Rcode.FORMERR, 'question');
      if (n > 0) s[n++] = 0x2e;
      for (let i = pos + 1; i < end; i++) {
        const c = buf[i]!;
        if (c <= 0x20 || c >= 0x7f || c === 0x2e || c === 0x5c) plain = false;
        else if (c >= 0x41 && c <= 0x5a) upper = true;
        s[n++] = c;
      }
      pos = end;
    }
    const nameEnd = pos + 1;
    if (nameEnd + 4 > len) return this.respond(Rcode.FORMERR, 'question');
    if (plain) {
      this.qname = n === 0 ? '' : s.toString('latin1', 0, n);
      if (upper) {
        for (let i = 0; i < n; i++) {
          const c = s[i]!;
          if (c >= 0x41 && c <= 0x5a) s[i] = c | 0x20;
        }
        this.lower = s.toString('latin1', 0, n);
      } else {
        this.lower = this.qname;
      }
    } else {
      // Escapes needed (`\.`, `\\`, `\DDD`): the general reader.
      const r = readName(buf, HEADER_SIZE, false);
      if (r === undefined) return this.respond(Rcode.FORMERR, 'question');
      this.qname = r.name;
      this.lower = lowerName(r.name);
    }
    this.qtype = (buf[nameEnd]! << 8) | buf[nameEnd + 1]!;
    this.qclass = (buf[nameEnd + 2]! << 8) | buf[nameEnd + 3]!;
    const questionEnd = nameEnd + 4;
    this.questionEnd = questionEnd;

    const ancount = (buf[6]! << 8) | buf[7]!;
    const nscount = (buf[8]! << 8) | buf[9]!;
    const arcount = (buf[10]! << 8) | buf[11]!;
    if (arcount > 0 || ancount > 0 || nscount > 0) {
      let edns: Edns;
      let p = questionEnd;
      // Skip answer and authority records (a query normally has none), then read the additional
      // section looking for OPT.
      const all = ancount + nscount + arcount;
      for (let i = 0; i < all; i++) {
        const nEnd = skipName(buf, p);
        if (nEnd < 0 || nEnd + 10 > len) return this.respond(Rcode.FORMERR, 'record');
        const type = buf.readUInt16BE(nEnd);
        const next = nEnd + 10 + buf.readUInt16BE(nEnd + 8);
        if (next > len) return this.respond(Rcode.FORMERR, 'record');
        if (type === QType.OPT && i >= ancount + nscount) {
          if (edns !== undefined) return this.respond(Rcode.FORMERR, 'opt-repeated');
          if (nEnd !== p + 1) return this.respond(Rcode.FORMERR, 'opt-name');
          const udpSize = buf.readUInt16BE(nEnd + 2);
          edns = { udpSize: udpSize < 512 ? 512 : udpSize, dnssecOk: (buf[nEnd + 6]! & 0x80) !== 0, version: buf[nEnd + 5]! };
          this.edns = edns;
        }
        p = next;
      }
      if (edns !== undefined && edns.version > 0) return this.respond(Rcode.BADVERS, 'edns-version');
    }
    this.verdict = Verdict.OK;
    return Verdict.OK;
  }

  private drop(reason: string): Verdict {
    this.reason = reason;
    this.verdict = Verdict.DROP;
    return Verdict.DROP;
  }

  private respond(rcode: number, reason: string): Verdict {
    this.rcode = rcode;
    this.reason = reason;
    this.verdict = Verdict.RESPOND;
    return Verdict.RESPOND;
  }
}

const shared = new QueryParser();

/** Parse a query into plain objects (see QueryParser for the rules). */
export function parseQuery(buf: Buffer): ParseResult {
  const p = shared;
  const v = p.parse(buf);
  if (v === Verdict.DROP) return { ok: false, action: 'drop', reason: p.reason };
  if (v === Verdict.RESPOND) {
    return { ok: false, action: 'respond', rcode: p.rcode, reason: p.reason, id: p.id, flags: p.flags, questionEnd: p.questionEnd, edns: p.edns };
  }
  return {
    ok: true,
    query: { id: p.id, flags: p.flags, opcode: p.opcode, qname: p.qname, qtype: p.qtype, qclass: p.qclass, questionEnd: p.questionEnd, edns: p.edns },
  };
}
