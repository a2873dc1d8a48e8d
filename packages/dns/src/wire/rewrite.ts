/**
 * Renamed queries (cold path). The router may answer a name under another one
 * (`x.dclb.thisdcos.global` is looked up as `x.l4lb.thisdcos.directory`). A stage that relays such
 * a query elsewhere sends `rewriteQuestion(...)` (the looked-up name) and gives the client
 * `restoreQuestion(...)` of the reply: the question the client asked, and that name again as the
 * owner of the records that were owned by the looked-up name.
 *
 * Both work on raw bytes without dns-packet. restoreQuestion decompresses the reply and encodes it
 * again (names inside the rdata of the well-known types are decompressed; other rdata is copied).
 */
import { HEADER_SIZE, QType } from './constants.js';
import { encodeMessage, type RDataPart, type WireRecord } from './builder.js';
import { encodeName, lowerName, readName } from './name.js';
import { findOpt } from './response.js';
import type { Query } from '../chain/stage.js';

/**
 * A copy of the query `raw` (whose question ends at `questionEnd`) asking `name` instead:
 * same header (ID, flags), one question with the new name and the same type and class, no
 * answer/authority records, and the OPT record of the original if it had one (other additional
 * records are dropped). Throws RangeError when `name` cannot be encoded.
 */
export function rewriteQuestion(raw: Buffer, questionEnd: number, name: string): Buffer {
  const wireName = encodeName(name);
  const opt = findOpt(raw, questionEnd);
  const optLen = opt ? opt[1] - opt[0] : 0;
  const out = Buffer.allocUnsafe(HEADER_SIZE + wireName.length + 4 + optLen);
  raw.copy(out, 0, 0, 4);
  out.writeUInt16BE(1, 4);
  out.writeUInt32BE(0, 6);
  out.writeUInt16BE(opt ? 1 : 0, 10);
  wireName.copy(out, HEADER_SIZE);
  raw.copy(out, HEADER_SIZE + wireName.length, questionEnd - 4, questionEnd);
  if (opt) raw.copy(out, HEADER_SIZE + wireName.length + 4, opt[0], opt[1]);
  return out;
}

/** The query, as sent to an upstream, with its looked-up name (a copy of `raw` when not renamed). */
export function lookupQuery(q: Query): Buffer {
  return q.renamed ? rewriteQuestion(q.raw, q.questionEnd, q.lookupName) : q.raw;
}

/** Types whose rdata holds names that may be compressed (RFC 1035 3.3, RFC 3597 4), and their layout. */
const NAME_LAYOUT: Readonly<Record<number, readonly (number | 'name')[]>> = {
  2: ['name'], // NS
  3: ['name'], // MD
  4: ['name'], // MF
  5: ['name'], // CNAME
  6: ['name', 'name', 20], // SOA
  7: ['name'], // MB
  8: ['name'], // MG
  9: ['name'], // MR
  12: ['name'], // PTR
  14: ['name', 'name'], // MINFO
  15: [2, 'name'], // MX
  17: ['name', 'name'], // RP
  18: [2, 'name'], // AFSDB
  21: [2, 'name'], // RT
  33: [6, 'name'], // SRV (some servers compress it)
  36: [2, 'name'], // KX
  39: ['name'], // DNAME
};

interface ParsedRecord {
  name: string;
  type: number;
  cls: number;
  ttl: number;
  rdata: RDataPart[];
}

function parseRecords(resp: Buffer, start: number, count: number): { records: ParsedRecord[]; end: number } | undefined {
  const records: ParsedRecord[] = [];
  let pos = start;
  for (let i = 0; i < count; i++) {
    const owner = readName(resp, pos, true);
    if (!owner || owner.end + 10 > resp.length) return undefined;
    const type = resp.readUInt16BE(owner.end);
    const cls = resp.readUInt16BE(owner.end + 2);
    const ttl = resp.readUInt32BE(owner.end + 4);
    const rdlength = resp.readUInt16BE(owner.end + 8);
    const rdStart = owner.end + 10;
    const rdEnd = rdStart + rdlength;
    if (rdEnd > resp.length) return undefined;
    const layout = NAME_LAYOUT[type];
    const rdata: RDataPart[] = [];
    if (layout) {
      let p = rdStart;
      for (const part of layout) {
        if (part === 'name') {
          const n = readName(resp, p, true);
          if (!n || n.end > rdEnd) return undefined;
          rdata.push({ name: n.name, compress: type !== 33 });
          p = n.end;
        } else {
          if (p + part > rdEnd) return undefined;
          rdata.push(Buffer.from(resp.subarray(p, p + part)));
          p += part;
        }
      }
      if (p !== rdEnd) return undefined;
    } else {
      rdata.push(Buffer.from(resp.subarray(rdStart, rdEnd)));
    }
    records.push({ name: owner.name, type, cls, ttl, rdata });
    pos = rdEnd;
  }
  return { records, end: pos };
}

/**
 * The reply `resp` (to a query asking `lookupName`) as an answer to the client's query `raw`:
 * the client's question (original letter case) replaces the reply's, and records owned by
 * `lookupName` (compared case-insensitively) are owned by the asked name. Header fields (ID,
 * flags, rcode) are kept; the ID is set to the client's. Returns undefined when the reply cannot
 * be walked (the caller answers SERVFAIL).
 */
export function restoreQuestion(resp: Buffer, raw: Buffer, questionEnd: number, lookupName: string): Buffer | undefined {
  if (resp.length < HEADER_SIZE) return undefined;
  const asked = readName(raw, HEADER_SIZE, false);
  if (!asked || asked.end + 4 !== questionEnd) return undefined;
  const qdcount = resp.readUInt16BE(4);
  let pos = HEADER_SIZE;
  for (let i = 0; i < qdcount; i++) {
    const n = readName(resp, pos, true);
    if (!n || n.end + 4 > resp.length) return undefined;
    pos = n.end + 4;
  }
  const an = parseRecords(resp, pos, resp.readUInt16BE(6));
  if (!an) return undefined;
  const ns = parseRecords(resp, an.end, resp.readUInt16BE(8));
  if (!ns) return undefined;
  const ar = parseRecords(resp, ns.end, resp.readUInt16BE(10));
  if (!ar) return undefined;
  const target = lowerName(lookupName);
  const map = (r: ParsedRecord): WireRecord => ({
    name: r.type !== QType.OPT && lowerName(r.name) === target ? asked.name : r.name,
    type: r.type,
    class: r.cls,
    ttl: r.ttl,
    rdata: r.rdata,
  });
  try {
    return encodeMessage({
      id: raw.readUInt16BE(0),
      flags: resp.readUInt16BE(2),
      question: { name: asked.name, type: raw.readUInt16BE(questionEnd - 4), class: raw.readUInt16BE(questionEnd - 2) },
      answers: an.records.map(map),
      authority: ns.records.map(map),
      additional: ar.records.map(map),
    });
  } catch {
    return undefined;
  }
}

/** restoreQuestion for a Query (the reply itself when the query was not renamed). */
export function askedResponse(resp: Buffer, q: Query): Buffer | undefined {
  return q.renamed ? restoreQuestion(resp, q.raw, q.questionEnd, q.lookupName) : resp;
}
