/**
 * Relay helpers for the forward and masters stages (hot path, raw bytes, no dns-packet).
 *
 * A client that sent no EDNS gets its query forwarded with an OPT record of ours (so a large
 * answer comes back whole over UDP instead of truncated and retried over TCP upstream); the OPT
 * in the reply is then removed again (RFC 6891 7: no OPT to a client that sent none).
 */
import { Buffer } from 'node:buffer';
import { HEADER_SIZE, QType } from './constants.js';
import { optEnd, optStart } from './response.js';

/**
 * `raw` with an OPT record (UDP size `udpSize`, DO clear, no options) appended, when it has no
 * records besides its question (a plain query); undefined otherwise (leave such queries alone).
 */
export function appendOpt(raw: Buffer, udpSize: number): Buffer | undefined {
  if (raw.length < HEADER_SIZE || raw[6] !== 0 || raw[7] !== 0 || raw[8] !== 0 || raw[9] !== 0 || raw[10] !== 0 || raw[11] !== 0) return undefined;
  const out = Buffer.allocUnsafe(raw.length + 11);
  raw.copy(out, 0);
  out[11] = 1; // ARCOUNT = 1
  let at = raw.length;
  out[at++] = 0; // root owner
  out[at++] = QType.OPT >> 8;
  out[at++] = QType.OPT & 0xff;
  out[at++] = (udpSize >> 8) & 0xff;
  out[at++] = udpSize & 0xff;
  out[at++] = 0; // extended rcode
  out[at++] = 0; // version
  out[at++] = 0; // flags (DO clear)
  out[at++] = 0;
  out[at++] = 0; // rdlength
  out[at] = 0;
  return out;
}

/**
 * `resp` without its OPT record (ARCOUNT decremented); `resp` itself when it has none. When the
 * OPT is the last record (the usual place) the result is a view of `resp`, which is modified.
 */
export function removeOpt(resp: Buffer, questionEnd: number): Buffer {
  const start = optStart(resp, questionEnd);
  if (start < 0) return resp;
  const end = optEnd();
  if (end === resp.length) {
    resp.writeUInt16BE(resp.readUInt16BE(10) - 1, 10);
    return resp.subarray(0, start);
  }
  const out = Buffer.allocUnsafe(resp.length - (end - start));
  resp.copy(out, 0, 0, start);
  resp.copy(out, start, end);
  out.writeUInt16BE(resp.readUInt16BE(10) - 1, 10);
  return out;
}

/** Write `id` into bytes 0-1 of `buf` (in place). */
export function setId(buf: Buffer, id: number): Buffer {
  buf[0] = id >> 8;
  buf[1] = id & 0xff;
  return buf;
}
