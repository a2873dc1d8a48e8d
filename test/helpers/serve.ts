/**
 * Runs the BUILT `hoplite serve` as a child process (npm test builds first), learns its bound
 * DNS and HTTP addresses from its "hoplite serving" log line, and stops it by PID with SIGTERM.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { decode, encodeQuery, udpRaw, type Decoded, type QueryOptions } from '../../packages/dns/test/helpers/dns-client.js';

export const BIN = fileURLToPath(new URL('../../packages/cli/dist/bin.js', import.meta.url));

export interface ServeProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly dnsPort: number;
  readonly httpAddress: string | undefined;
  /** Every log line (parsed JSON) so far. */
  readonly logs: Record<string, unknown>[];
  /** Resolves with the first log line matching `msg` (already seen or future). */
  waitForLog(msg: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** SIGTERM, then the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  query(name: string, opts?: QueryOptions): Promise<Decoded>;
}

export async function startServe(args: readonly string[], env: Record<string, string>, timeoutMs = 30_000): Promise<ServeProcess> {
  const child = spawn(process.execPath, [BIN, 'serve', '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0', ...args], {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const waiters: Array<{ msg: string; resolve: (l: Record<string, unknown>) => void }> = [];
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      parsed = { msg: line };
    }
    logs.push(parsed);
    for (const w of waiters.splice(0)) {
      if (parsed['msg'] === w.msg) w.resolve(parsed);
      else waiters.push(w);
    }
  });
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  const waitForLog = (msg: string, ms = timeoutMs): Promise<Record<string, unknown>> => {
    const seen = logs.find((l) => l['msg'] === msg);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no "${msg}" log within ${ms} ms; stderr: ${stderr}`)), ms);
      waiters.push({
        msg,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
      void exited.then(([code]) => {
        clearTimeout(timer);
        reject(new Error(`hoplite serve exited (${code}) before "${msg}"; stderr: ${stderr}`));
      });
    });
  };
  const serving = await waitForLog('hoplite serving');
  const dns = (serving['dns'] as string[]).find((a) => a.startsWith('udp://'))!;
  const dnsPort = Number(dns.slice(dns.lastIndexOf(':') + 1));
  return {
    child,
    pid: child.pid!,
    dnsPort,
    httpAddress: serving['http'] as string | undefined,
    logs,
    waitForLog,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      const [code] = await exited;
      return code;
    },
    async query(name, opts = {}) {
      const reply = await udpRaw(dnsPort, encodeQuery(name, { id: Math.floor(Math.random() * 65535), ...opts }), 5000);
      if (!reply) throw new Error(`no answer for ${name} from hoplite serve`);
      return decode(reply);
    },
  };
}

/**
 * Query until `accept` says yes (the zone follows the store asynchronously), up to `timeoutMs`.
 * Each try is a real DNS exchange; between tries it waits 20 ms. Returns the last answer.
 */
export async function queryUntil(
  serve: ServeProcess,
  name: string,
  accept: (d: Decoded) => boolean,
  opts: QueryOptions = {},
  timeoutMs = 20_000,
): Promise<Decoded> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const d = await serve.query(name, opts);
    if (accept(d) || Date.now() > end) return d;
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function addressesOf(d: Decoded, type = 'A'): string[] {
  return (d.answers ?? []).filter((a) => a.type === type).map((a) => String((a as { data: unknown }).data));
}
