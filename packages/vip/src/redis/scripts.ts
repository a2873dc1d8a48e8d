/**
 * The Lua scripts (packages/vip/lua/*.lua), each sent as one atomic EVALSHA through ioredis
 * `defineCommand` (which falls back to EVAL after a NOSCRIPT).
 *
 * Each script is `prelude + lib.lua + <script>.lua`; the prelude maps key names to KEYS in the
 * order of keys.ts, so the scripts say `K.vips` and never hard-code a key or its position.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cluster, Redis } from 'ioredis';
import { KEY_NAMES } from './keys.js';

/** Script name (file name without .lua) -> ioredis command name. */
export const SCRIPTS = {
  init: 'hopliteVipInit',
  allocate: 'hopliteVipAllocate',
  release: 'hopliteVipRelease',
  reserve: 'hopliteVipReserve',
  snapshot: 'hopliteVipSnapshot',
  'feed-since': 'hopliteVipFeedSince',
  'by-address': 'hopliteVipByAddress',
  stats: 'hopliteVipStats',
  quarantine: 'hopliteVipQuarantine',
  export: 'hopliteVipExport',
  import: 'hopliteVipImport',
  dump: 'hopliteVipDump',
  repair: 'hopliteVipRepair',
} as const;

export type ScriptName = keyof typeof SCRIPTS;

const READ_ONLY: ReadonlySet<ScriptName> = new Set(['snapshot', 'feed-since', 'by-address', 'stats', 'quarantine', 'export', 'dump']);

/** packages/vip/lua, from src/redis or dist/redis alike. */
export const LUA_DIR = fileURLToPath(new URL('../../lua/', import.meta.url));

function prelude(): string {
  const fields = KEY_NAMES.map((name, i) => `${name} = KEYS[${i + 1}]`).join(', ');
  return `local K = { ${fields} }\n`;
}

let cache: Map<ScriptName, string> | undefined;

/** The full source of every script (read once per process). */
export function scriptSources(): Map<ScriptName, string> {
  if (cache !== undefined) return cache;
  const lib = readFileSync(join(LUA_DIR, 'lib.lua'), 'utf8');
  const head = prelude() + lib + '\n';
  const out = new Map<ScriptName, string>();
  for (const name of Object.keys(SCRIPTS) as ScriptName[]) {
    out.set(name, head + readFileSync(join(LUA_DIR, `${name}.lua`), 'utf8'));
  }
  cache = out;
  return out;
}

export type RedisClient = Redis | Cluster;

/** Define every script on a client (idempotent per client). */
export function defineScripts(client: RedisClient): void {
  for (const [name, lua] of scriptSources()) {
    client.defineCommand(SCRIPTS[name], { lua, numberOfKeys: KEY_NAMES.length, readOnly: READ_ONLY.has(name) });
  }
}

/** A script reply: nested arrays of strings (integers come back as numbers), or null. */
export type ScriptReply = null | string | number | ScriptReply[];

type ScriptFn = (...args: (string | number)[]) => Promise<ScriptReply>;

/** Run a defined script with every key and the given arguments. */
export function runScript(client: RedisClient, name: ScriptName, keys: readonly string[], args: readonly (string | number)[]): Promise<ScriptReply> {
  const fn = (client as unknown as Record<string, ScriptFn>)[SCRIPTS[name]];
  if (typeof fn !== 'function') throw new Error(`script ${name} not defined on this client`);
  return fn.call(client, ...keys, ...args);
}
