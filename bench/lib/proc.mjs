// Process plumbing for the benchmarks: start children (optionally pinned with taskset), stop them
// by PID and wait for their exit, read CPU time and memory from /proc, find free loopback ports.
// Every child started here is registered, so that `stopAll()` (called on exit, on signals and on
// errors) stops exactly the processes this harness started, and nothing else.

import { spawn, execFileSync } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import dgram from 'node:dgram';
import net from 'node:net';

export const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** @type {Map<number, Child>} */
const running = new Map();

/**
 * @typedef {object} Child
 * @property {string} name
 * @property {number} pid
 * @property {import('node:child_process').ChildProcess} proc
 * @property {Promise<{code: number|null, signal: string|null}>} exited
 * @property {() => boolean} alive
 * @property {() => string} output   the tail of stdout+stderr (for error messages)
 */

/**
 * Start a process. `cpus` (e.g. "1") pins it with `taskset -c`, which execs the command, so the
 * PID we hold is the program's own PID (the one /proc figures are read from).
 * stdout/stderr go to `logFile` when given, and the last 8 KiB are kept for error messages.
 * The command line is kept in `child.command` (for reports).
 */
export function start(name, cmd, args, { cpus, logFile, env, cwd, onStdout, stdoutFd } = {}) {
  const file = cpus ? 'taskset' : cmd;
  const argv = cpus ? ['-c', String(cpus), cmd, ...args] : args;
  const proc = spawn(file, argv, {
    // stdoutFd: the child writes straight to that file (no pipe through this process).
    stdio: ['ignore', stdoutFd ?? 'pipe', 'pipe'],
    env: env ?? process.env,
    cwd,
  });
  let tail = '';
  const log = logFile ? createWriteStream(logFile) : undefined;
  const keep = (chunk) => {
    tail = (tail + chunk.toString()).slice(-8192);
    log?.write(chunk);
  };
  proc.stdout?.on('data', (c) => { keep(c); onStdout?.(c.toString()); });
  proc.stderr.on('data', keep);
  const exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      running.delete(proc.pid);
      log?.end();
      resolve({ code, signal });
    });
    proc.on('error', (err) => {
      tail += `\nspawn error: ${err.message}`;
      running.delete(proc.pid);
      resolve({ code: -1, signal: null });
    });
  });
  let done = false;
  exited.then(() => { done = true; });
  const child = {
    name,
    pid: proc.pid,
    command: [file, ...argv].join(' '),
    proc,
    exited,
    alive: () => !done,
    output: () => tail,
  };
  if (proc.pid !== undefined) running.set(proc.pid, child);
  return child;
}

/** SIGTERM, wait up to `graceMs`, then SIGKILL and wait again. Resolves once the process is gone. */
export async function stop(child, graceMs = 5000) {
  if (!child || !child.alive()) return child?.exited;
  try { process.kill(child.pid, 'SIGTERM'); } catch { /* already gone */ }
  const timer = timeout(graceMs);
  const first = await Promise.race([child.exited, timer.promise]);
  timer.cancel();
  if (first === TIMEOUT) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* already gone */ }
    return child.exited;
  }
  return first;
}

/** Stop every process this harness started (reverse order of start). */
export async function stopAll() {
  const all = [...running.values()].reverse();
  for (const c of all) await stop(c, 3000);
}

/** Synchronous last resort for process 'exit': SIGKILL what is still registered. */
export function killAllSync() {
  for (const c of running.values()) {
    try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

export const TIMEOUT = Symbol('timeout');
export function timeout(ms) {
  let t;
  const promise = new Promise((resolve) => { t = setTimeout(() => resolve(TIMEOUT), ms); });
  return { promise, cancel: () => clearTimeout(t) };
}
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** utime + stime of the whole process (all threads), in clock ticks. */
export function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may contain spaces: parse after the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); utime is field 14, stime field 15.
  return Number(rest[11]) + Number(rest[12]);
}

/** Busy and total clock ticks of one CPU (`cpu` = its number) or of all ('') from /proc/stat. */
export function cpuStat(cpu = '') {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `));
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = f[3] + f[4];
  return { busy: total - idle, total };
}

/**
 * The figures of one dnsperf window common to the harnesses: loss, the server's CPU per completed
 * query and busy share (`ticks` of its CPU time over `wallS`), the share of the server's core that
 * went to anything else (`c0`/`c1`: cpuStat of that core before/after; NaN without), NOERROR share.
 */
export function windowFigures(r, { ticks, wallS, c0, c1 }) {
  const cpuS = ticks / CLK_TCK;
  return {
    ...r,
    lostPct: r.sent ? (100 * r.lost) / r.sent : NaN,
    cpuS,
    cpuUsPerQuery: r.completed ? (cpuS * 1e6) / r.completed : NaN,
    busyPct: (100 * cpuS) / wallS,
    otherOnServerCpuPct: c1 ? (100 * Math.max(0, c1.busy - c0.busy - ticks)) / (c1.total - c0.total) : NaN,
    noerrorPct: r.completed ? (100 * (r.rcodes.NOERROR ?? 0)) / r.completed : NaN,
  };
}

/** VmRSS / VmHWM in KiB. */
export function memKb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (k) => {
    const m = status.match(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : NaN;
  };
  return { rssKb: get('VmRSS'), hwmKb: get('VmHWM') };
}

/**
 * A loopback port free for both UDP and TCP at the time of the call (bind port 0 on UDP, then
 * check TCP on the same number). Small race with other programs; callers probe the server anyway.
 */
export async function freePort() {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise((resolve, reject) => {
      const s = dgram.createSocket('udp4');
      s.on('error', reject);
      s.bind(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
    const tcpOk = await new Promise((resolve) => {
      const srv = net.createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
    if (tcpOk) return port;
  }
  throw new Error('no free loopback port found after 50 attempts');
}

/** A private temp dir; `cleanup()` removes it. */
export function tempDir(prefix = 'hoplite-bench-') {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function which(cmd) {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`]).toString().trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The usage text of a script: its leading `//` comment block (after the shebang), unprefixed. */
export function usage(scriptUrl) {
  const lines = readFileSync(fileURLToPath(scriptUrl), 'utf8').split('\n');
  const out = [];
  for (let i = lines[0].startsWith('#!') ? 1 : 0; i < lines.length && lines[i].startsWith('//'); i++) out.push(lines[i].replace(/^\/\/ ?/, ''));
  return out.join('\n');
}
