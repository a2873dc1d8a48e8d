/**
 * The `hoplite` command line: `hoplite serve` (the resolver) and `hoplite vip ...` (the
 * allocator's admin commands). `main()` returns the exit code instead of exiting, so tests and
 * the binary share it: 0 success, 2 bad input (usage, config, malformed name or address),
 * 1 runtime failure (store unreachable, pool exhausted, cannot listen).
 */
import yargs, { type Argv } from 'yargs';
import { isVipError } from '@hoplite/vip';
import { HopliteDnsError } from '@hoplite/dns';
import { FIELDS, type Field } from './config/schema.js';
import { HopliteCliError, UsageError } from './errors.js';
import { serveCommand } from './commands/serve.js';
import { vipCommand } from './commands/vip.js';

export interface Io {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Resolves when the process is asked to stop (SIGTERM/SIGINT); `serve` waits on it. Tests pass
   *  their own. Called only by commands that run until stopped. */
  readonly waitForStop?: () => Promise<string>;
  /** Standard input for `-` file arguments (default: the process's). */
  readonly stdin?: AsyncIterable<string | Uint8Array>;
}

/** Options every command shares. */
export interface GlobalArgs {
  config?: string;
  json?: boolean;
  debug?: boolean;
}

/** Errors of the VIP library that mean "bad input" (exit 2); the others are runtime failures. */
const VIP_INPUT_ERRORS = new Set([
  'HOPLITE_VIP_BAD_LABEL',
  'HOPLITE_VIP_BAD_NAME',
  'HOPLITE_VIP_BAD_ADDRESS',
  'HOPLITE_VIP_BAD_PORT',
  'HOPLITE_VIP_BAD_POOL',
  'HOPLITE_VIP_BAD_OPTION',
  'HOPLITE_VIP_BAD_STORE_URL',
  'HOPLITE_VIP_BAD_IMPORT',
  'HOPLITE_VIP_ADDRESS_OUTSIDE_POOL',
]);

const DNS_INPUT_ERRORS = new Set(['HOPLITE_DNS_CONFIG', 'HOPLITE_DNS_FORWARD_TO_SELF']);

export function exitCodeOf(err: unknown): number {
  if (err instanceof HopliteCliError) return err.exitCode;
  if (isVipError(err)) return VIP_INPUT_ERRORS.has(err.code) ? 2 : 1;
  if (err instanceof HopliteDnsError) return DNS_INPUT_ERRORS.has(err.code) ? 2 : 1;
  return 1;
}

export function formatError(err: unknown, debug: boolean): string {
  const code = (err as { code?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  const head = typeof code === 'string' && code.startsWith('HOPLITE_') ? `error [${code}]: ${message}` : `error [HOPLITE_INTERNAL]: ${message}`;
  return debug && err instanceof Error && err.stack ? `${head}\n${err.stack}\n` : `${head}\n`;
}

/** Add the yargs options of these config fields (all as strings; the config loader checks them). */
export function addConfigOptions<T>(y: Argv<T>, fields: readonly Field[]): Argv<T> {
  let out = y;
  for (const f of fields) {
    if (!f.flag) continue;
    // Strings (not yargs arrays, which would swallow the positionals after them): a repeated
    // flag still arrives as a list, and the config loader parses and checks every value.
    const isBool = f.kind.accepts === 'true or false';
    out = out.option(f.flag, {
      type: isBool ? 'boolean' : 'string',
      describe: `${f.describe} [${f.key}]`,
      group: f.key.startsWith('vip.') || f.key === 'store' ? 'Store and pools:' : 'Resolver:',
      ...(isBool ? {} : { requiresArg: true }),
    }) as Argv<T>;
  }
  return out;
}

/** Flags from yargs' parsed argv that belong to config fields (only those actually given). */
export function configFlags(argv: Record<string, unknown>, fields: readonly Field[] = FIELDS): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    if (f.flag && argv[f.flag] !== undefined) out[f.flag] = argv[f.flag];
  }
  return out;
}

/** `hoplite vip allocate --help` for `hoplite vip allocate --bad`: the command words given. */
function helpCommand(args: readonly string[]): string {
  const words: string[] = [];
  for (const a of args) {
    if (a.startsWith('-') || words.length === 2) break;
    words.push(a);
  }
  const known = words[0] === 'vip' ? words : words.slice(0, 1);
  return ['hoplite', ...(['serve', 'vip'].includes(known[0] ?? '') ? known : []), '--help'].join(' ');
}

export async function main(args: readonly string[], io: Io): Promise<number> {
  let debug = args.includes('--debug') || io.env['HOPLITE_DEBUG'] === '1';
  let code = 0;
  const parser = yargs([...args])
    .scriptName('hoplite')
    .usage('$0 <command>\n\nA node-local DNS proxy with name-based virtual IPs.')
    .option('config', { type: 'string', describe: 'JSON config file (also HOPLITE_CONFIG)', global: true, requiresArg: true })
    .option('json', { type: 'boolean', describe: 'Machine-readable output', global: true })
    .option('debug', { type: 'boolean', describe: 'Print stack traces with errors', global: true })
    .command(serveCommand(io, (c) => (code = c)))
    .command(vipCommand(io, (c) => (code = c)))
    .demandCommand(1, 'name a command: serve or vip')
    .recommendCommands()
    .strict()
    .help()
    .alias('help', 'h')
    .version('0.1.0')
    .wrap(Math.min(110, process.stdout.columns ?? 100))
    .exitProcess(false)
    .fail((msg, err) => {
      // yargs' own parse errors (YError) are usage errors; errors thrown by handlers pass through.
      if (err && err.name !== 'YError') throw err;
      throw new UsageError(msg || err?.message || 'bad usage');
    });
  let helpShown = false;
  try {
    const argv = (await parser.parseAsync([...args], {}, (err, _argv, output) => {
      if (output && !err) {
        helpShown = true;
        io.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
      }
    })) as Record<string, unknown>;
    debug = debug || argv['debug'] === true;
    if (helpShown) return 0;
    return code;
  } catch (err) {
    io.stderr.write(formatError(err, debug));
    if (err instanceof UsageError) io.stderr.write(`run \`${helpCommand(args)}\` for usage\n`);
    return exitCodeOf(err);
  }
}
