#!/usr/bin/env node
// Calibration baseline: a minimal Node UDP responder for a fixed set of A records.
//   --mode idpatch: every answer is encoded once at start; a query is matched by its question bytes
//                   (lowercased) and answered with a copy of the stored answer, ID and RD patched;
//   --mode encode:  same lookup, but the answer is encoded with dns-packet for each query.
// Unknown names get REFUSED (the query echoed with QR set). No TCP, no EDNS: the floor of a local
// answer in Node.
//
//   node bench/dns/baselines/node-responder.mjs --port P --records records.json [--mode idpatch|encode]
//   records.json: [{ "name": "vip0.marathon.l4lb.thisdcos.directory", "type": "A", "address": "10.64.0.0", "ttl": 5 }]

import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import dnsPacket from 'dns-packet';

const { values } = parseArgs({
  options: { port: { type: 'string' }, records: { type: 'string' }, mode: { type: 'string', default: 'idpatch' } },
});
if (!values.port || !values.records || !['idpatch', 'encode'].includes(values.mode)) {
  console.error('usage: node-responder.mjs --port P --records file.json [--mode idpatch|encode]');
  process.exit(2);
}
const records = JSON.parse(readFileSync(values.records, 'utf8'));

function questionKey(name) {
  // Wire form of the question (name, type A, class IN), lowercased, as a latin1 string.
  const q = dnsPacket.encode({ type: 'query', id: 0, questions: [{ name, type: 'A', class: 'IN' }] });
  return q.toString('latin1', 12).toLowerCase();
}
function answerObject(r, id, rd) {
  return {
    type: 'response',
    id,
    flags: dnsPacket.AUTHORITATIVE_ANSWER | (rd ? dnsPacket.RECURSION_DESIRED : 0),
    questions: [{ name: r.name, type: 'A', class: 'IN' }],
    answers: [{ name: r.name, type: 'A', class: 'IN', ttl: r.ttl ?? 5, data: r.address }],
  };
}

/** key -> { rec, wire } */
const table = new Map();
for (const r of records) table.set(questionKey(r.name), { rec: r, wire: dnsPacket.encode(answerObject(r, 0, false)) });

/** End of the question section (after QTYPE/QCLASS), or -1. */
function questionEnd(msg) {
  let o = 12;
  for (;;) {
    if (o >= msg.length) return -1;
    const len = msg[o];
    if (len === 0) break;
    if (len & 0xc0) return -1;
    o += len + 1;
  }
  o += 5;
  return o <= msg.length ? o : -1;
}

const server = dgram.createSocket('udp4');
const encode = values.mode === 'encode';
server.on('message', (msg, rinfo) => {
  if (msg.length < 12 || (msg[2] & 0x80) !== 0 || msg.readUInt16BE(4) !== 1) return;
  const end = questionEnd(msg);
  if (end < 0) return;
  const hit = table.get(msg.toString('latin1', 12, end).toLowerCase());
  const rd = (msg[2] & 0x01) !== 0;
  let out;
  if (!hit) {
    out = Buffer.from(msg.subarray(0, end));
    out[2] |= 0x80;
    out[3] = (out[3] & 0xf0) | 5; // REFUSED
    out.writeUInt16BE(0, 6); out.writeUInt16BE(0, 8); out.writeUInt16BE(0, 10);
  } else if (encode) {
    out = dnsPacket.encode(answerObject(hit.rec, msg.readUInt16BE(0), rd));
  } else {
    out = Buffer.from(hit.wire);
    out[0] = msg[0];
    out[1] = msg[1];
    if (rd) out[2] |= 0x01;
  }
  server.send(out, rinfo.port, rinfo.address);
});
server.bind(Number(values.port), '127.0.0.1', () => {
  console.log(`node-responder (${values.mode}) listening 127.0.0.1:${values.port}, ${table.size} names`);
});
process.on('SIGTERM', () => server.close());
