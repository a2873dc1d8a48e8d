/**
 * Runs the BUILT `hoplite` binary (packages/cli/dist/bin.js; `npm test` builds first) as a child
 * process and collects its exit code and output. HOME and XDG_STATE_HOME point at a temp dir, and
 * no HOPLITE_* variable of the caller's environment leaks in, so nothing touches the real home or
 * a real store.
 *
 *   import { runCli, cliHome } from './helpers/run-cli.js';
 *   const home = cliHome(t);                       // a temp home removed at the end of the test
 *   const r = await runCli(['vip', 'allocate', '/myapp', '--json'], { home });
 *   r.code === 0; JSON.parse(r.stdout).vip.ipv4
 *   await runCli(['vip', 'import', '-'], { home, stdin: text, env: { HOPLITE_STORE: redis.url } });
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));

export interface RunOptions {
  /** HOME for the child (default: one temp dir per test process, see defaultHome()). */
  home?: string;
  /** Extra environment (HOPLITE_STORE, ...); XDG_STATE_HOME defaults to <home>/.local/state. */
  env?: Record<string, string | undefined>;
  /** Written to the child's stdin, then closed (default: stdin closed at once). */
  stdin?: string;
  /** Kill the child (SIGKILL, by PID) after this long; the result then has `timedOut`. Default 60 s. */
  timeoutMs?: number;
}

export interface RunResult {
  /** Exit code (null when killed by a signal). */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  durationMs: number;
  timedOut: boolean;
}

let sharedHome: string | undefined;

/** One temp home per test process, removed when the process exits. */
export function defaultHome(): string {
  if (sharedHome === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'hoplite-cli-home-'));
    sharedHome = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  return sharedHome;
}

/** A fresh temp home, removed in the test's teardown. */
export function cliHome(t: { teardown(fn: () => void | Promise<void>): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'hoplite-cli-home-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The embedded store's default file under a home (what `hoplite` uses without --store). */
export function embeddedPathIn(home: string): string {
  return join(home, '.local', 'state', 'hoplite', 'vip.db');
}

/** The child's environment: PATH and the like, never the caller's HOPLITE_*; HOME in a temp dir. */
export function cliEnv(home: string, extra: Record<string, string | undefined> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'LANG', 'TZ', 'NODE_OPTIONS', 'SYSTEMROOT']) {
    const v = process.env[k];
    if (v !== undefined) env[k] = v;
  }
  env['HOME'] = home;
  env['XDG_STATE_HOME'] = join(home, '.local', 'state');
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

export function runCli(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  if (!existsSync(BIN)) {
    return Promise.reject(new Error(`${BIN} is missing: build first (npx tsc -b packages/cli, or npm test)`));
  }
  const home = opts.home ?? defaultHome();
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: cliEnv(home, opts.env), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, durationMs: Date.now() - started, timedOut });
    });
    // The child may exit without reading stdin (EPIPE): that is not the test's failure.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.stdin ?? '');
  });
}

/** Parse a result's stdout as JSON, with the whole result in the error when it is not. */
export function stdoutJson<T = unknown>(r: RunResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${r.code}):\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  }
}
