#!/usr/bin/env node
// Adapter: runs Hoplite's DNS server as a "server under test" for the benchmark harness.
//
//   node bench/dns/hoplite-server.mjs --port P --upstream 127.0.0.1:K
//        [--master-zone mesos --masters 127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3]
//        [--local-zone l4lb.thisdcos.directory --local-records records.json]
//        [--stages default|auto|explicit]
//        [--module @hoplite/dns]   (another module exposing createServer, e.g. the stand-in in fixtures/)
//        [--udp-io auto|native|dgram]   (config udp.io; unset: the package's default)
//
// It imports the BUILT `@hoplite/dns` (run `npx tsc -b packages/dns` first), listens on 127.0.0.1:P
// (UDP and TCP), and stops cleanly on SIGTERM (server.close()).
//
// Aligned with @hoplite/dns as it landed (see bench/README.md, "The Hoplite adapter"):
//   const server = await createServer(config)   // starts listening
//   await server.close()
//   config: { listen, upstreams: { servers }, masters: { servers, zones }, localZones: [{ zone, source }],
//             cache: false }
//   --stages default (the default): createServer adds the masters and forward stages itself (it does
//     since the package's early commits). --stages auto|explicit: pass mastersStageFactory and
//     forwardStageFactory as options.stages, from the package index or, failing that, from the built
//     files dist/masters/stage.js and dist/upstream/forward.js (for builds that did not add them).
//   cache: false, so that Hoplite forwards without a cache, like the peers (set only for builds that
//     know the key).
//   localZones source: the package's staticSource(records) when exported, else a minimal
//     RecordSource ({ version, lookup(name) }) built here. LOCAL-ZONE HOOK: replace it with the VIP
//     table's record source (issue 4) to measure that path, preloaded with the same records.
//
// Exit codes: 0 after SIGTERM; 3 when the module is missing, unbuilt or has no createServer (the
// harness then skips Hoplite and reports it as pending); 1 on any other failure.

import { readFileSync, existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const EXIT_NOT_AVAILABLE = 3;

const { values } = parseArgs({
  options: {
    port: { type: 'string' },
    upstream: { type: 'string' },
    'master-zone': { type: 'string', default: 'mesos' },
    masters: { type: 'string' },
    'local-zone': { type: 'string' },
    'local-records': { type: 'string' },
    stages: { type: 'string', default: 'default' },
    module: { type: 'string', default: '@hoplite/dns' },
    'udp-io': { type: 'string' },
  },
});
if (!values.port || !values.upstream || !['auto', 'explicit', 'default'].includes(values.stages)) {
  console.error('usage: hoplite-server.mjs --port P --upstream host:port [--masters a,b,c] [--local-zone Z --local-records file.json] [--stages auto|explicit|default] [--module M]');
  process.exit(2);
}

const note = (msg) => console.error(`hoplite-adapter: ${msg}`);
function notAvailable(reason) {
  note(`Hoplite not available: ${reason}`);
  process.exit(EXIT_NOT_AVAILABLE);
}

// ------------------------------------------------------------------ load the module
const specifier = existsSync(values.module) ? pathToFileURL(resolve(values.module)).href : values.module;
let mod;
let moduleUrl;
try {
  moduleUrl = import.meta.resolve(specifier);
  mod = await import(moduleUrl);
} catch (err) {
  notAvailable(`cannot import ${values.module} (${err.code ?? ''} ${err.message.split('\n')[0]}); build it with \`npx tsc -b packages/dns\``);
}
if (typeof mod.createServer !== 'function') {
  notAvailable(`${values.module} has no createServer export yet (exports: ${Object.keys(mod).join(', ') || 'none'})`);
}

/** A named export of the package index, or of a built file beside it (see the header). */
async function findExport(name, relFile) {
  if (typeof mod[name] === 'function') return { fn: mod[name], from: 'index' };
  const url = new URL(relFile, moduleUrl);
  if (url.protocol !== 'file:' || !existsSync(url)) return undefined;
  try {
    const m = await import(url.href);
    return typeof m[name] === 'function' ? { fn: m[name], from: url.pathname } : undefined;
  } catch {
    return undefined;
  }
}

// ------------------------------------------------------------------ config
function localSource(records) {
  const byName = {};
  for (const r of records) (byName[r.name.toLowerCase()] ??= []).push({ type: r.type ?? 'A', address: r.address, ttl: r.ttl });
  if (typeof mod.staticSource === 'function') return mod.staticSource(byName);
  // Minimal RecordSource (the package's interface: lookup(name) -> records | undefined; version).
  const map = new Map(Object.entries(byName));
  return { version: 0, lookup: (name) => map.get(name) };
}

const config = {
  listen: [{ address: '127.0.0.1', port: Number(values.port) }],
  upstreams: { servers: [values.upstream] },
  // The peers forward with their caches off; so does Hoplite here (the cache stage is then not in
  // the chain at all). Only set for a package that has the cache stage (older builds refuse the key).
  ...(mod.CACHE_DEFAULTS ? { cache: false } : {}),
  ...(values['udp-io'] ? { udp: { io: values['udp-io'] } } : {}),
};
if (values.masters) config.masters = { zones: [values['master-zone']], servers: values.masters.split(',') };
if (values['local-zone']) {
  const records = values['local-records'] ? JSON.parse(readFileSync(values['local-records'], 'utf8')) : [];
  config.localZones = [{ zone: values['local-zone'], source: localSource(records) }];
}

const stages = [];
if (values.stages !== 'default') {
  const masters = values.masters ? await findExport('mastersStageFactory', './masters/stage.js') : undefined;
  const forward = await findExport('forwardStageFactory', './upstream/forward.js');
  if (values.masters && masters) stages.push(masters.fn(config));
  if (forward) stages.push(forward.fn(config));
  const found = [masters && `mastersStageFactory from ${masters.from}`, forward && `forwardStageFactory from ${forward.from}`].filter(Boolean);
  if (found.length) note(`stages: ${found.join(', ')}`);
  if (values.stages === 'explicit' && (!forward || (values.masters && !masters))) {
    notAvailable('--stages explicit: stage factories not found in the module or beside it');
  }
}

// ------------------------------------------------------------------ run
let server;
try {
  server = await mod.createServer(config, stages.length ? { stages } : {});
  if (typeof server.start === 'function') await server.start();
} catch (err) {
  note(`createServer failed: ${err.code ?? ''} ${err.stack ?? err}`);
  process.exit(1);
}
console.log(`hoplite-adapter: listening 127.0.0.1:${values.port}`);

let stopping = false;
process.on('SIGTERM', async () => {
  if (stopping) return;
  stopping = true;
  try {
    if (typeof server.close === 'function') await server.close({ timeoutMs: 1000 });
    else if (typeof server.stop === 'function') await server.stop();
  } finally {
    process.exit(0);
  }
});
