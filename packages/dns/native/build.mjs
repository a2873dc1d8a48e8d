#!/usr/bin/env node
// Build the udp_batch addon with node-gyp (the copy that comes with npm). A failure is not fatal:
// @hoplite/dns then uses Node's dgram sockets (udp.io `auto`), and says so when it starts. Set
// UDP_BATCH_BUILD=required to make a failed build fail the build (not a HOPLITE_* name: hoplite
// rejects unknown HOPLITE_* variables as config typos).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const required = process.env.UDP_BATCH_BUILD === 'required';

function nodeGyp() {
  if (process.env.npm_config_node_gyp && existsSync(process.env.npm_config_node_gyp)) return process.env.npm_config_node_gyp;
  const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  return existsSync(bundled) ? bundled : undefined;
}

if (process.platform !== 'linux') {
  console.warn(`udp_batch: not built on ${process.platform}; @hoplite/dns will use dgram sockets`);
  process.exit(0);
}
const gyp = nodeGyp();
if (gyp === undefined) {
  console.warn('udp_batch: node-gyp not found; @hoplite/dns will use dgram sockets');
  process.exit(required ? 1 : 0);
}
// npm passes its `nodedir` setting to scripts as npm_config_nodedir, which node-gyp reads; outside
// npm, the headers of the running Node (installed beside it) are used when present.
const args = [gyp, 'rebuild', '--directory', here];
const headers = join(dirname(process.execPath), '..', 'include', 'node', 'node_api.h');
if (!process.env.npm_config_nodedir && existsSync(headers)) args.push(`--nodedir=${join(dirname(process.execPath), '..')}`);
const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
if (r.status !== 0) {
  const lines = (r.stderr ?? '').split('\n').filter((l) => /error|ERR!/i.test(l)).slice(0, 8);
  console.warn(`udp_batch: build failed (node-gyp exit ${r.status}); @hoplite/dns will use dgram sockets\n${lines.join('\n')}`);
  process.exit(required ? 1 : 0);
}
