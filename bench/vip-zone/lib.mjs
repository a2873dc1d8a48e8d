// Plumbing for the VIP-zone benchmark: a private redis-server, the built `hoplite serve` as a child
// process (ports learned from its "hoplite serving" log line), a persistent UDP DNS client, the
// /ready endpoint, /proc readers. Every process is started through bench/lib/proc.mjs, so it is
// registered and stopped by PID (stopAll) on every exit path.

import dgram from 'node:dgram';
import http from 'node:http';
import { readFileSync, existsSync, statSync, rmSync, writeFileSync, mkdirSync, readdirSync, symlinkSync, cpSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execFileSync } from 'node:child_process';
import dnsPacket from 'dns-packet';
import { start, stop, freePort, timeout, TIMEOUT, sleep, cpuTicks, cpuStat, windowFigures } from '../lib/proc.mjs';
import { runDnsperf, prng } from '../lib/dnsperf.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, '..', '..');
export const BIN = join(ROOT, 'packages', 'cli', 'dist', 'bin.js');

// ------------------------------------------------------------------ the build under test
/**
 * Other sessions edit and rebuild packages/* while a benchmark runs. `freezeBuild(dir)` copies the
 * built packages (package.json, dist/, and @hoplite/vip's lua/) into `dir/node_modules/@hoplite/`,
 * with every other dependency symlinked to the workspace's node_modules, so that every process of
 * one benchmark run (serve, the allocator, the fillers, the DNS adapter) runs the same code.
 * Returns what it froze: paths, and for each package when dist was built vs its newest source.
 */
export function freezeBuild(dir) {
  const nm = join(dir, 'node_modules');
  mkdirSync(join(nm, '@hoplite'), { recursive: true });
  for (const e of readdirSync(join(ROOT, 'node_modules'))) {
    if (e === '@hoplite' || e.startsWith('.')) continue;
    symlinkSync(join(ROOT, 'node_modules', e), join(nm, e));
  }
  const packages = {};
  for (const p of ['vip', 'dns', 'cli']) {
    const src = join(ROOT, 'packages', p);
    const to = join(nm, '@hoplite', p);
    mkdirSync(to, { recursive: true });
    cpSync(join(src, 'package.json'), join(to, 'package.json'));
    cpSync(join(src, 'dist'), join(to, 'dist'), { recursive: true });
    if (existsSync(join(src, 'lua'))) cpSync(join(src, 'lua'), join(to, 'lua'), { recursive: true });
    packages[p] = { distBuilt: newest(join(src, 'dist')), srcNewest: newest(join(src, 'src')) };
  }
  let status = '';
  let commit = '';
  try {
    commit = execFileSync('git', ['-C', ROOT, 'rev-parse', 'HEAD']).toString().trim();
    status = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--', 'packages/vip', 'packages/dns', 'packages/cli']).toString().trim();
  } catch { /* not a checkout */ }
  build = {
    frozenAt: new Date().toISOString(), dir, commit, uncommittedInPackages: status ? status.split('\n') : [], packages,
    bin: join(nm, '@hoplite', 'cli', 'dist', 'bin.js'),
    vipModule: join(nm, '@hoplite', 'vip', 'dist', 'index.js'),
    dnsModule: join(nm, '@hoplite', 'dns', 'dist', 'index.js'),
  };
  return build;
}

function newest(d) {
  let t = 0;
  const walk = (x) => {
    for (const e of readdirSync(x, { withFileTypes: true })) {
      const p = join(x, e.name);
      if (e.isDirectory()) walk(p);
      else t = Math.max(t, statSync(p).mtimeMs);
    }
  };
  try { walk(d); } catch { return 'missing'; }
  return new Date(t).toISOString();
}

/** The workspace's build unless frozen. */
let build = { bin: BIN, vipModule: join(ROOT, 'packages', 'vip', 'dist', 'index.js'), dnsModule: join(ROOT, 'packages', 'dns', 'dist', 'index.js') };
export const currentBuild = () => build;
/** @hoplite/vip of the build under test. */
export const loadVip = () => import(pathToFileURL(build.vipModule).href);
export const VIP_ZONE = 'l4lb.thisdcos.directory';

/** `vip<i>.marathon.l4lb.thisdcos.directory`: the names knotd's local zone holds (bench/lib/knot.mjs). */
export const vipDnsName = (label, framework = 'marathon') => `${label}.${framework}.${VIP_ZONE}`;

// ------------------------------------------------------------------ redis-server
/** A private redis-server on a free loopback port, no persistence, its dir under `dir`. */
export async function startRedis(dir, { cpus, name = 'redis-server' } = {}) {
  mkdirSync(dir, { recursive: true });
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    let out = '';
    let readyResolve;
    const ready = new Promise((r) => { readyResolve = r; });
    const child = start(name, 'redis-server', [
      '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--logfile', '',
    ], {
      cpus,
      onStdout: (s) => {
        out += s;
        if (/Ready to accept connections/.test(out)) readyResolve(true);
      },
    });
    const t = timeout(20000);
    const r = await Promise.race([ready, child.exited.then(() => 'exited'), t.promise]);
    t.cancel();
    if (r === true) {
      return { port, url: `redis://127.0.0.1:${port}`, child, pid: child.pid, stop: () => stop(child) };
    }
    await stop(child);
    if (!/Address already in use/i.test(child.output())) {
      throw new Error(`redis-server did not start (${r === TIMEOUT ? 'timeout' : 'exited'}):\n${child.output()}`);
    }
  }
  throw new Error('redis-server: no free port after 5 attempts');
}

// ------------------------------------------------------------------ hoplite serve
/**
 * Start the built `hoplite serve` (log level info: the lines it logs are per event, not per query).
 * HOME points into `dir` (so nothing of the user's state is touched); the local snapshot copy goes to
 * `snapshotFile` ('' for none). `nodeArgs` go before the script (e.g. --cpu-prof).
 * Resolves once "hoplite serving" is logged, with the DNS port and the HTTP address.
 */
export async function startServe({
  store, pools, dir, cpus, snapshotFile = join(dir, 'vip-snapshot.json'), nodeArgs = [], extraArgs = [],
  logFile, name = 'hoplite-serve', untilMs = 60000, onSpawn,
}) {
  if (!existsSync(build.bin)) throw new Error(`${build.bin} missing: build it first (npx tsc -b packages/cli)`);
  const args = [...nodeArgs, build.bin, 'serve', '--listen', '127.0.0.1:0', '--http-listen', '127.0.0.1:0',
    '--store', store, ...pools.flatMap((p) => ['--pool', p]), '--upstream', '127.0.0.1:9', '--log-level', 'info', ...extraArgs];
  const logs = [];
  const waiters = [];
  let partial = '';
  const startedAt = Date.now();
  const onLine = (line) => {
    let parsed;
    try { parsed = JSON.parse(line); } catch { parsed = { msg: line }; }
    parsed.receivedAt = Date.now();
    logs.push(parsed);
    for (const w of waiters.splice(0)) {
      if (parsed.msg === w.msg) w.resolve(parsed);
      else waiters.push(w);
    }
  };
  const child = start(name, process.execPath, args, {
    cpus,
    logFile,
    cwd: dir,
    env: { PATH: process.env.PATH ?? '', HOME: dir, XDG_STATE_HOME: join(dir, 'state'), HOPLITE_VIP_SNAPSHOT_FILE: snapshotFile },
    onStdout: (s) => {
      partial += s;
      const lines = partial.split('\n');
      partial = lines.pop();
      for (const l of lines) if (l.trim()) onLine(l);
    },
  });
  onSpawn?.(child);
  const waitForLog = (msg, ms = untilMs) => {
    const seen = logs.find((l) => l.msg === msg);
    if (seen) return Promise.resolve(seen);
    return new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error(`no "${msg}" log from ${name} within ${ms} ms\n${child.output()}`)), ms);
      waiters.push({ msg, resolve: (l) => { clearTimeout(t); res(l); } });
      child.exited.then((ex) => { clearTimeout(t); rej(new Error(`${name} exited (${ex.code ?? ex.signal}) before "${msg}"\n${child.output()}`)); });
    });
  };
  const serving = await waitForLog('hoplite serving');
  const udp = serving.dns.find((a) => a.startsWith('udp://'));
  const dnsPort = Number(udp.slice(udp.lastIndexOf(':') + 1));
  return {
    child, pid: child.pid, dnsPort, httpAddress: serving.http, logs, waitForLog, startedAt, command: child.command,
    ready: () => httpJson(serving.http, '/ready'),
    metrics: () => httpText(serving.http, '/metrics'),
    stop: () => stop(child, 10000),
  };
}

export function httpText(address, path, timeoutMs = 10000) {
  const i = address.lastIndexOf(':');
  return new Promise((res, rej) => {
    const req = http.get({ host: address.slice(0, i), port: Number(address.slice(i + 1)), path, timeout: timeoutMs }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (c) => { body += c; });
      r.on('end', () => res(body));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timeout`)));
    req.on('error', rej);
  });
}
export const httpJson = async (address, path) => JSON.parse(await httpText(address, path));

/** A metric's value (sum over label sets) from Prometheus text. */
export function metricValue(text, name) {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (line.startsWith(name) && (line[name.length] === ' ' || line[name.length] === '{')) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      found = true;
    }
  }
  return found ? sum : NaN;
}

// ------------------------------------------------------------------ DNS client
/**
 * One UDP socket, one query at a time (each waits for its reply or `timeoutMs`). The reply time is
 * taken in the 'message' handler (performance.now()), before decoding.
 */
export class DnsClient {
  constructor(port) {
    this.port = port;
    this.sock = dgram.createSocket('udp4');
    this.pending = undefined;
    this.nextId = 1;
    this.sock.on('message', (buf) => {
      const t = performance.now();
      const p = this.pending;
      if (!p || buf.length < 2 || buf.readUInt16BE(0) !== p.id) return; // late reply of a timed-out query
      this.pending = undefined;
      clearTimeout(p.timer);
      let res;
      try { res = dnsPacket.decode(buf); } catch { res = undefined; }
      p.resolve({ t, res });
    });
    this.sock.on('error', () => {});
  }

  /** Resolves { t, res } (res undefined on timeout or garbage). */
  query(name, type = 'A', timeoutMs = 1000) {
    const id = this.nextId;
    this.nextId = (this.nextId % 0xffff) + 1;
    const msg = dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.pending = undefined; resolve({ t: performance.now(), res: undefined }); }, timeoutMs);
      this.pending = { id, resolve, timer };
      this.sock.send(msg, this.port, '127.0.0.1');
    });
  }

  close() { this.sock.close(); }
}

// ------------------------------------------------------------------ /proc

export const loadavg = () => readFileSync('/proc/loadavg', 'utf8').trim().split(' ').slice(0, 3).join(' ');

export function machine() {
  return {
    date: new Date().toISOString(),
    nproc: (readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm) || []).length,
    cpuModel: (readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.*)$/m) || [])[1],
    memTotal: (readFileSync('/proc/meminfo', 'utf8').match(/^MemTotal:\s+(.*)$/m) || [])[1],
    node: process.version,
    loadavg: loadavg(),
  };
}

/** Percentiles of an array of numbers (nearest rank). */
export function percentiles(values, ps = [50, 90, 99, 100]) {
  const a = Float64Array.from(values).sort();
  const out = {};
  for (const p of ps) out[`p${p}`] = a.length ? a[Math.min(a.length - 1, Math.max(0, Math.ceil((p / 100) * a.length) - 1))] : NaN;
  return out;
}

export const fileSize = (p) => (existsSync(p) ? statSync(p).size : 0);
export { sleep };

// ------------------------------------------------------------------ filling a store
/**
 * Allocate `vip<from>` .. `vip<to-1>` (framework marathon, port 80/tcp) with `workers` processes
 * (bench/vip-zone/fill-worker.mjs), each keeping `inflight` allocations in flight. Bounded: every
 * worker is killed by PID if the fill takes longer than `limitS`. Resolves with the wall time.
 */
export async function fillStore({ store, pools, from = 0, to, workers = 4, inflight = 8, limitS = 900, cpus }) {
  const t0 = performance.now();
  const per = Math.ceil((to - from) / workers);
  const children = [];
  for (let w = 0; w < workers; w++) {
    const a = from + w * per;
    const b = Math.min(to, a + per);
    if (a >= b) break;
    children.push(start(`fill-${w}`, process.execPath, [join(here, 'fill-worker.mjs'), build.vipModule, store, pools.join(','), String(a), String(b), String(inflight)], { cpus }));
  }
  const t = timeout(limitS * 1000);
  const all = Promise.all(children.map((c) => c.exited));
  const r = await Promise.race([all, t.promise]);
  t.cancel();
  if (r === TIMEOUT) {
    for (const c of children) await stop(c, 1000);
    throw new Error(`filling ${to - from} VIPs took longer than ${limitS} s; workers stopped`);
  }
  const bad = children.find((c, i) => r[i].code !== 0);
  if (bad) throw new Error(`${bad.name} failed:\n${bad.output()}`);
  return { wallS: (performance.now() - t0) / 1000, workers: children.length, inflight };
}

// ------------------------------------------------------------------ one dnsperf load window
/**
 * dnsperf against `port` for `seconds` (pinned to `loadCpu`), with the server's CPU time (all its
 * threads, /proc/<pid>/stat) read just before and after: qps, loss, CPU us per completed query,
 * server busy %, and the share of the server's CPU (`serverCpu`) taken by anything else.
 */
export async function loadWindow({ pid, port, queryFile, seconds, rate, verbose = false, outFile, serverCpu, loadCpu, clients = 4, outstanding = 100 }) {
  const ticks0 = cpuTicks(pid);
  const c0 = serverCpu !== undefined ? cpuStat(serverCpu) : undefined;
  const w0 = performance.now();
  const r = await runDnsperf({ port, queryFile, seconds, rate, verbose, outFile, cpus: loadCpu, clients, outstanding });
  const wallS = (performance.now() - w0) / 1000;
  const ticks = cpuTicks(pid) - ticks0;
  const c1 = serverCpu !== undefined ? cpuStat(serverCpu) : undefined;
  rmSync(outFile, { force: true });
  return windowFigures(r, { ticks, wallS, c0, c1 });
}

/** Wait (up to `maxWaitS`) until CPU `cpu` has been less than `maxPct` busy for a second. */
export async function waitForQuiet(cpu, { maxPct = 25, maxWaitS = 60, log } = {}) {
  const until = Date.now() + maxWaitS * 1000;
  let warned = false;
  for (;;) {
    const a = cpuStat(cpu);
    await sleep(1000);
    const b = cpuStat(cpu);
    const pct = (100 * (b.busy - a.busy)) / Math.max(1, b.total - a.total);
    if (pct <= maxPct || Date.now() >= until) return pct;
    if (!warned && log) log(`  cpu ${cpu} busy ${pct.toFixed(0)}% with other work; waiting up to ${maxWaitS} s`);
    warned = true;
  }
}

/** Random query lines among vip0..vip<count-1>: A, and SRV (_vip<i>._tcp.marathon...) for `srvShare`. */
export function writeVipQueries(path, { count, lines, srvShare = 0.1, seed = 7 }) {
  const rnd = prng(seed);
  const out = new Array(lines);
  for (let i = 0; i < lines; i++) {
    const k = Math.floor(rnd() * count);
    out[i] = rnd() < srvShare ? `_vip${k}._tcp.marathon.${VIP_ZONE} SRV` : `vip${k}.marathon.${VIP_ZONE} A`;
  }
  writeFileSync(path, out.join('\n') + '\n');
  return path;
}
