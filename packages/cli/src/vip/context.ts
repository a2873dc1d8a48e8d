/**
 * What every `hoplite vip ...` command shares: its config fields (store and pools only), the
 * allocator opened from the merged config (defaults < file < HOPLITE_* < flags, like `serve`),
 * short store timeouts for interactive use, and a logger that shows warnings as plain lines.
 */
import { pino, type Logger } from 'pino';
import { createAllocator, type Allocator } from '@hoplite/vip';
import { allocatorOptions } from '../config/allocator.js';
import { loadConfig } from '../config/load.js';
import { FIELDS, type Field, type HopliteConfig } from '../config/schema.js';
import { addConfigOptions, configFlags, type Io } from '../main.js';
import type { Argv } from 'yargs';

/** Config keys the vip commands read: where the table lives and how addresses are drawn. */
export const VIP_CONFIG_KEYS = ['store', 'vip.pools', 'vip.ipv6Pool', 'vip.exclude', 'vip.allowNonPrivate', 'vip.updatePools', 'vip.quarantine'] as const;

export const VIP_FIELDS: readonly Field[] = FIELDS.filter((f) => (VIP_CONFIG_KEYS as readonly string[]).includes(f.key));

/** A stopped Redis must fail a command within a few seconds, not hang. */
export const CLI_REDIS_CONNECT_TIMEOUT_MS = 3_000;
export const CLI_REDIS_COMMAND_TIMEOUT_MS = 5_000;

/** Options of yargs' argv that every vip command reads. */
export interface VipArgs {
  config?: string;
  json?: boolean;
  debug?: boolean;
  [flag: string]: unknown;
}

/** Add the store and pool flags (all of them, or all but those listed in `without`). */
export function addVipConfigOptions<T>(y: Argv<T>, without: readonly string[] = []): Argv<T> {
  return addConfigOptions(
    y,
    VIP_FIELDS.filter((f) => !without.includes(f.key)),
  );
}

/** The merged config for a vip command. `without`: config keys whose flag the command uses otherwise. */
export function vipConfig(argv: VipArgs, io: Io, without: readonly string[] = []): HopliteConfig {
  const fields = VIP_FIELDS.filter((f) => !without.includes(f.key));
  const file = argv.config ?? io.env['HOPLITE_CONFIG'];
  const { config } = loadConfig({
    flags: configFlags(argv, fields),
    env: io.env,
    ...(file !== undefined && file !== '' ? { file } : {}),
  });
  return config;
}

/** Messages a command line has no use for (the error that follows says it all). */
const QUIET = new Set(['redis connection error']);
const SKIP_FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'component']);
const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warning', 50: 'error', 60: 'fatal' };

/** A pino logger printing `warning: <message> key=value ...` lines on stderr (everything from debug with --debug). */
export function cliLogger(io: Io, debug: boolean): Logger {
  return pino(
    { level: debug ? 'debug' : 'warn', base: undefined, timestamp: false },
    {
      write(line: string): void {
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          io.stderr.write(line.endsWith('\n') ? line : `${line}\n`);
          return;
        }
        const msg = String(entry['msg'] ?? '');
        if (!debug && QUIET.has(msg)) return;
        const fields = Object.entries(entry)
          .filter(([k]) => !SKIP_FIELDS.has(k))
          .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
        const level = LEVELS[Number(entry['level'])] ?? 'log';
        io.stderr.write(`${level}: ${msg}${fields.length ? ` ${fields.join(' ')}` : ''}\n`);
      },
    },
  );
}

export interface VipContext {
  readonly allocator: Allocator;
  readonly config: HopliteConfig;
  readonly json: boolean;
  readonly io: Io;
}

/** Open the allocator, run `fn`, close the allocator (also when `fn` throws). */
export async function withAllocator<R>(argv: VipArgs, io: Io, fn: (ctx: VipContext) => Promise<R>, without: readonly string[] = []): Promise<R> {
  const config = vipConfig(argv, io, without);
  const debug = argv.debug === true || io.env['HOPLITE_DEBUG'] === '1';
  const allocator = await createAllocator(
    allocatorOptions(config, io.env, cliLogger(io, debug), { connectTimeoutMs: CLI_REDIS_CONNECT_TIMEOUT_MS, commandTimeoutMs: CLI_REDIS_COMMAND_TIMEOUT_MS }),
  );
  try {
    return await fn({ allocator, config, json: argv.json === true, io });
  } finally {
    await allocator.close();
  }
}
