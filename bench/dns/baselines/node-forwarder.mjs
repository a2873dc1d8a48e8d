#!/usr/bin/env node
// Calibration baseline: a minimal Node UDP forwarder. Each query is decoded with dns-packet (as a
// real server must read it), sent with a fresh random ID to every upstream given (one upstream: a
// plain forwarder; several: "ask all, first reply wins", the fan-out baseline), and the first reply
// is relayed to the client with the client's ID patched back. No validation beyond the ID and the
// source address, no TCP, no EDNS handling: this is the floor of what Node costs per query, not a
// server to use.
//
//   node bench/dns/baselines/node-forwarder.mjs --port P --upstream 127.0.0.1:K[,127.0.0.1:K2,...] [--no-decode]
//
// --no-decode (server `node-relay`): no dns-packet decode, the client's ID read from the header:
// Node's own floor for the datagrams of a forward or fan-out (receive, send, ID patch, a Map), with
// a literal-address lookup (no dns.lookup per send).

import dgram from 'node:dgram';
import { parseArgs } from 'node:util';
import dnsPacket from 'dns-packet';

const { values } = parseArgs({
  options: { port: { type: 'string' }, upstream: { type: 'string' }, 'timeout-ms': { type: 'string', default: '2000' }, 'no-decode': { type: 'boolean', default: false } },
});
if (!values.port || !values.upstream) {
  console.error('usage: node-forwarder.mjs --port P --upstream host:port[,host:port...]');
  process.exit(2);
}
const upstreams = values.upstream.split(',').map((s) => {
  const i = s.lastIndexOf(':');
  return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
});
const timeoutMs = Number(values['timeout-ms']);

// --no-decode also skips dns.lookup per send (addresses are IP literals), as Hoplite does.
const literal = (address, family, cb) => cb(null, address, 4);
const socketOptions = values['no-decode'] ? { type: 'udp4', lookup: literal } : 'udp4';
const server = dgram.createSocket(socketOptions);
const upstream = dgram.createSocket(socketOptions);
/** id -> { clientPort, clientAddress, clientId, at } */
const pending = new Map();
let dropped = 0;

function freshId() {
  for (let i = 0; i < 100; i++) {
    const id = (Math.random() * 0x10000) | 0;
    if (!pending.has(id)) return id;
  }
  return -1;
}

const decode = !values['no-decode'];

server.on('message', (msg, rinfo) => {
  if (!decode) {
    if (msg.length < 12) {
      dropped++;
      return;
    }
    const rid = freshId();
    if (rid < 0) {
      dropped++;
      return;
    }
    pending.set(rid, { clientPort: rinfo.port, clientAddress: rinfo.address, clientId: msg.readUInt16BE(0), at: Date.now() });
    const raw = Buffer.from(msg);
    raw.writeUInt16BE(rid, 0);
    for (const u of upstreams) upstream.send(raw, u.port, u.host);
    return;
  }
  let q;
  try {
    q = dnsPacket.decode(msg);
  } catch {
    dropped++;
    return;
  }
  if (!q.questions || q.questions.length !== 1) {
    dropped++;
    return;
  }
  const id = freshId();
  if (id < 0) {
    dropped++;
    return;
  }
  pending.set(id, { clientPort: rinfo.port, clientAddress: rinfo.address, clientId: q.id, at: Date.now() });
  const out = Buffer.from(msg);
  out.writeUInt16BE(id, 0);
  for (const u of upstreams) upstream.send(out, u.port, u.host);
});

upstream.on('message', (msg, rinfo) => {
  if (msg.length < 12) return;
  if (!upstreams.some((u) => u.port === rinfo.port && u.host === rinfo.address)) return;
  const id = msg.readUInt16BE(0);
  const p = pending.get(id);
  if (!p) return; // a later reply of a fan-out, or a stale one
  pending.delete(id);
  msg.writeUInt16BE(p.clientId, 0);
  server.send(msg, p.clientPort, p.clientAddress);
});

// Forget exchanges that got no reply (bounded memory when an upstream is dead).
const sweep = setInterval(() => {
  const limit = Date.now() - timeoutMs;
  for (const [id, p] of pending) if (p.at < limit) pending.delete(id);
}, 500);

upstream.bind(0, '127.0.0.1');
server.bind(Number(values.port), '127.0.0.1', () => {
  console.log(`node-forwarder listening 127.0.0.1:${values.port} upstreams ${values.upstream}`);
});

process.on('SIGTERM', () => {
  clearInterval(sweep);
  server.close();
  upstream.close();
  console.log(`node-forwarder stopped (dropped ${dropped})`);
});
