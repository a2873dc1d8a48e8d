#!/usr/bin/env node
// Adapter: runs Hoplite's DNS server as a "server under test" for the benchmark harness.
//
//   node bench/dns/hoplite-server.mjs --port P --upstream 127.0.0.1:K
//        [--master-zone mesos --masters 127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3]
//        [--local-zone l4lb.thisdcos.directory --local-records records.json]
//        [--module @hoplite/dns]   (another module exposing createServer, e.g. the stand-in in fixtures/)
//
// It imports `createServer` from '@hoplite/dns' (the built package: run `npx tsc -b packages/dns`
// first), listens on 127.0.0.1:P (UDP and TCP), and stops cleanly on SIGTERM.
//
// GUESSED API — align with the real one once @hoplite/dns lands (see bench/README.md):
//   const server = await createServer(config)   // config as built by buildConfig() below
//   await server.start?.()                      // if createServer does not start it itself
//   await server.close()                        // (or stop())
// and the local-zone hook in buildConfig().
//
// Exit codes: 0 after SIGTERM; 3 when @hoplite/dns is missing, unbuilt or has no createServer (the
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
    // For checking the harness itself: import this module (a path or a specifier) instead.
    module: { type: 'string', default: '@hoplite/dns' },
  },
});
if (!values.port || !values.upstream) {
  console.error('usage: hoplite-server.mjs --port P --upstream host:port [--masters a,b,c] [--local-zone Z --local-records file.json]');
  process.exit(2);
}

/**
 * The config handed to createServer. Everything Hoplite-specific the harness depends on is here.
 * Logging stays silent (the library default) so that logging costs nothing under load.
 */
function buildConfig() {
  const config = {
    listen: [{ address: '127.0.0.1', port: Number(values.port) }],
    upstreams: { servers: [values.upstream] },
  };
  if (values.masters) {
    config.masters = { zones: [values['master-zone']], servers: values.masters.split(',') };
  }
  if (values['local-zone']) {
    // LOCAL-ZONE HOOK (guessed): the VIP zone plugs in through an interface (issue 4). Until that
    // interface exists, hand the records over as a static zone. Replace this block with the real
    // record source (e.g. a VIP table preloaded with these names) when it lands.
    const records = values['local-records'] ? JSON.parse(readFileSync(values['local-records'], 'utf8')) : [];
    config.local = [{ zone: values['local-zone'], records }];
  }
  return config;
}

function notAvailable(reason) {
  console.error(`hoplite-adapter: Hoplite not available: ${reason}`);
  process.exit(EXIT_NOT_AVAILABLE);
}

let mod;
const specifier = existsSync(values.module)
  ? pathToFileURL(resolve(values.module)).href
  : values.module;
try {
  mod = await import(specifier);
} catch (err) {
  notAvailable(`cannot import ${values.module} (${err.code ?? ''} ${err.message.split('\n')[0]}); build it with \`npx tsc -b packages/dns\``);
}
if (typeof mod.createServer !== 'function') {
  notAvailable(`${values.module} has no createServer export yet (exports: ${Object.keys(mod).join(', ') || 'none'})`);
}

let server;
try {
  server = await mod.createServer(buildConfig());
  if (typeof server.start === 'function') await server.start();
} catch (err) {
  console.error(`hoplite-adapter: createServer/start failed: ${err.code ?? ''} ${err.stack ?? err}`);
  process.exit(1);
}
console.log(`hoplite-adapter: listening 127.0.0.1:${values.port}`);

let stopping = false;
process.on('SIGTERM', async () => {
  if (stopping) return;
  stopping = true;
  try {
    if (typeof server.close === 'function') await server.close();
    else if (typeof server.stop === 'function') await server.stop();
  } finally {
    process.exit(0);
  }
});
