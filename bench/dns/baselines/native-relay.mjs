#!/usr/bin/env node
// Calibration baseline: the floor of a Node forwarder on Hoplite's own UDP layer (packages/dns
// io/udp.js with the udp_batch addon: recvmmsg, one JavaScript call per batch, sends flushed by
// sendmmsg when the batch ends). Each query gets a fresh random ID and goes to the upstream over one
// connected socket; the reply goes back with the client's ID. Nothing else: no parsing beyond the
// ID, no question check, no EDNS, no timeouts beyond dropping entries older than 2 s, no metrics.
// What Hoplite spends above this, per query and in latency, is its own logic; what this spends is
// Node's and the addon's.
//
//   node bench/dns/baselines/native-relay.mjs --port P --upstream 127.0.0.1:K
//
// Imports the built package by path (npx tsc -b packages/dns, and the addon built).

import { parseArgs } from 'node:util';
import { randomInt } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

const { values } = parseArgs({ options: { port: { type: 'string' }, upstream: { type: 'string' } } });
if (!values.port || !values.upstream) {
  console.error('usage: native-relay.mjs --port P --upstream host:port');
  process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const { openUdp, listenUdp, nativeUdpStatus } = await import(pathToFileURL(join(here, '..', '..', '..', 'packages', 'dns', 'dist', 'io', 'udp.js')).href);
if (!nativeUdpStatus().available) {
  console.error(`native-relay: the udp_batch addon is not available (${nativeUdpStatus().reason})`);
  process.exit(3);
}
const i = values.upstream.lastIndexOf(':');
const up = { address: values.upstream.slice(0, i), port: Number(values.upstream.slice(i + 1)) };

// By upstream ID: the client's ID, port and address, and when it was sent (parallel arrays).
const clientId = new Int32Array(65536).fill(-1);
const clientPort = new Int32Array(65536);
const clientAddr = new Array(65536);
const sentAt = new Float64Array(65536);
let ids = new Uint16Array(4096);
let next = ids.length;
const freshId = () => {
  if (next === ids.length) {
    for (let j = 0; j < ids.length; j++) ids[j] = randomInt(65536);
    next = 0;
  }
  return ids[next++];
};

const listener = await listenUdp('native', {
  family: 'IPv4',
  bind: { address: '127.0.0.1', port: Number(values.port) },
  onMessage: (msg, address, port) => {
    if (msg.length < 12) return;
    let id = freshId();
    const now = performance.now();
    for (let tries = 0; clientId[id] >= 0 && now - sentAt[id] < 2000 && tries < 16; tries++) id = freshId();
    clientId[id] = (msg[0] << 8) | msg[1];
    clientPort[id] = port;
    clientAddr[id] = address;
    sentAt[id] = now;
    msg[0] = id >> 8;
    msg[1] = id & 0xff;
    upstream.send(msg);
  },
  onError: (err) => console.error(`listener: ${err.message}`),
});
const upstream = openUdp('native', {
  family: 'IPv4',
  connect: up,
  onMessage: (msg) => {
    if (msg.length < 12) return;
    const id = (msg[0] << 8) | msg[1];
    const cid = clientId[id];
    if (cid < 0) return;
    clientId[id] = -1;
    msg[0] = cid >> 8;
    msg[1] = cid & 0xff;
    listener.send(msg, clientPort[id], clientAddr[id]);
  },
  onError: (err) => console.error(`upstream: ${err.message}`),
});
console.log(`native-relay on 127.0.0.1:${values.port} -> ${values.upstream}`);
process.on('SIGTERM', () => process.exit(0));
