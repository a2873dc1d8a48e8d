/**
 * A private redis-server per test file: random free port on 127.0.0.1, no persistence unless asked,
 * its own temp dir, readiness from its log ("Ready to accept connections"), stopped by PID and
 * awaited. Also a 3-master Redis Cluster for cluster smoke tests.
 *
 * Used by @hoplite/vip's Redis tests and by other packages' integration tests:
 *
 *   import { startRedisServer } from '../../packages/vip/test/helpers/redis-server.js';
 *   const redis = await startRedisServer();
 *   t.teardown(() => redis.stop());
 *   // redis.url === 'redis://127.0.0.1:<port>'
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RedisServerOptions {
  /** Extra redis-server arguments, e.g. ['--maxmemory', '10mb']. */
  args?: readonly string[];
  /** Fixed port (default: a random free one). */
  port?: number;
  /** Give up waiting for readiness after this long (default 20 s). */
  startTimeoutMs?: number;
  /** redis-server binary (default `redis-server` from PATH). */
  binary?: string;
  /** Run as a Sentinel monitoring this master (quorum 1). */
  sentinel?: { masterPort: number; masterName?: string; downAfterMs?: number };
}

export interface RedisServer {
  readonly host: '127.0.0.1';
  /** Current port (kept across restart()). */
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** PID of the running process (undefined while stopped). */
  readonly pid: number | undefined;
  /** The server's working directory (dump.rdb lands here on `stop({ save: true })`). */
  readonly dir: string;
  /** True while the process runs. */
  readonly running: boolean;
  /** Stop the process and await its exit. `save`: SHUTDOWN SAVE (data survives a restart);
   *  `kill`: SIGKILL (a crash); default SIGTERM without saving. Keeps the dir for restart(). */
  stop(opts?: { save?: boolean; kill?: boolean }): Promise<void>;
  /** Start again on the same port (after stop()). */
  restart(): Promise<void>;
  /** Stop (if running) and remove the temp dir. */
  destroy(): Promise<void>;
  /** Send one command over a raw RESP connection; resolves with the raw reply text. */
  command(...args: string[]): Promise<string>;
}

const READY = /Ready to accept connections/;
const IN_USE = /Address already in use/i;

/** Pick a free TCP port on 127.0.0.1 by binding port 0 and closing. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') {
        srv.close();
        reject(new Error('no port'));
        return;
      }
      const port = addr.port;
      srv.close(() => resolve(port));
    });
  });
}

/** Encode a command as RESP and read one reply (enough for PING, SHUTDOWN, CLUSTER INFO...). */
export function rawCommand(port: number, args: readonly string[], timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ host: '127.0.0.1', port });
    let buf = '';
    let done = false;
    const finish = (err: Error | undefined, value?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(value ?? '');
    };
    const timer = setTimeout(() => finish(new Error(`redis ${port}: no reply to ${args[0]} in ${timeoutMs} ms`)), timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => {
      let out = `*${args.length}\r\n`;
      for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
      sock.write(out);
    });
    sock.on('data', (chunk: string) => {
      buf += chunk;
      const reply = parseOne(buf);
      if (reply !== undefined) finish(undefined, reply);
    });
    sock.on('error', (err) => finish(err));
    sock.on('close', () => finish(buf.length > 0 ? undefined : new Error(`redis ${port}: connection closed`), buf));
  });
}

/** Returns the reply's text once complete (simple string, error, integer, bulk string), else undefined. */
function parseOne(buf: string): string | undefined {
  const eol = buf.indexOf('\r\n');
  if (eol < 0) return undefined;
  const head = buf.slice(0, eol);
  if (head[0] === '$') {
    const len = Number(head.slice(1));
    if (len < 0) return '';
    const body = buf.slice(eol + 2);
    // Byte length vs char length: fine for the ASCII replies we read here.
    if (body.length < len + 2) return undefined;
    return body.slice(0, len);
  }
  return head;
}

interface Running {
  child: ChildProcess;
  exited: Promise<void>;
}

class PrivateRedis implements RedisServer {
  readonly host = '127.0.0.1' as const;
  #port: number;
  #dir: string;
  #opts: RedisServerOptions;
  #run: Running | undefined;

  constructor(port: number, dir: string, opts: RedisServerOptions) {
    this.#port = port;
    this.#dir = dir;
    this.#opts = opts;
  }

  get port(): number {
    return this.#port;
  }
  get url(): string {
    return `redis://127.0.0.1:${this.#port}`;
  }
  get pid(): number | undefined {
    return this.#run?.child.pid;
  }
  get dir(): string {
    return this.#dir;
  }
  get running(): boolean {
    return this.#run !== undefined;
  }

  /** Launch on this.#port; resolves when ready, rejects with `inUse` when the port was taken. */
  async launch(): Promise<void> {
    const sentinel = this.#opts.sentinel;
    let args: string[];
    let ready = READY;
    if (sentinel !== undefined) {
      // A Sentinel rewrites its config file: keep it in the temp dir (kept across restart()).
      const conf = join(this.#dir, 'sentinel.conf');
      if (!existsSync(conf)) {
        const name = sentinel.masterName ?? 'mymaster';
        writeFileSync(
          conf,
          `sentinel monitor ${name} 127.0.0.1 ${sentinel.masterPort} 1\n` +
            `sentinel down-after-milliseconds ${name} ${sentinel.downAfterMs ?? 1000}\n` +
            `sentinel failover-timeout ${name} 10000\n`,
        );
      }
      args = [conf, '--sentinel', '--port', String(this.#port), '--bind', '127.0.0.1', '--dir', this.#dir, '--logfile', '', ...(this.#opts.args ?? [])];
      ready = /\+monitor master/;
    } else {
      args = [
        '--port', String(this.#port),
        '--bind', '127.0.0.1',
        '--save', '',
        '--appendonly', 'no',
        '--dir', this.#dir,
        '--logfile', '',
        ...(this.#opts.args ?? []),
      ];
    }
    const child = spawn(this.#opts.binary ?? 'redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const timeoutMs = this.#opts.startTimeoutMs ?? 20_000;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`redis-server on port ${this.#port} not ready after ${timeoutMs} ms:\n${log}`));
      }, timeoutMs);
      const onData = (chunk: Buffer): void => {
        log += chunk.toString('utf8');
        if (ready.test(log)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        const err = new Error(`redis-server on port ${this.#port} exited (${code ?? signal}) before ready:\n${log}`);
        (err as Error & { inUse?: boolean }).inUse = IN_USE.test(log);
        reject(err);
      });
    });
    // Keep draining output so the pipe never fills.
    child.stdout?.resume();
    child.stderr?.resume();
    this.#run = { child, exited };
  }

  async stop(opts: { save?: boolean; kill?: boolean } = {}): Promise<void> {
    const run = this.#run;
    if (run === undefined) return;
    if (opts.save) {
      // The server closes the connection as it exits; that is the expected outcome.
      await rawCommand(this.#port, ['SHUTDOWN', 'SAVE']).catch(() => '');
    } else {
      run.child.kill(opts.kill ? 'SIGKILL' : 'SIGTERM');
    }
    await run.exited;
    this.#run = undefined;
  }

  async restart(): Promise<void> {
    if (this.#run !== undefined) throw new Error('redis-server is running; stop() it first');
    // The same port: another process may have taken it meanwhile; retry a few times, then give up.
    let lastErr: unknown;
    for (let attempt = 0; attempt < 20; attempt++) {
      try {
        await this.launch();
        return;
      } catch (err) {
        lastErr = err;
        if (!(err as { inUse?: boolean }).inUse) throw err;
        await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
      }
    }
    throw lastErr;
  }

  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.#dir, { recursive: true, force: true });
  }

  command(...args: string[]): Promise<string> {
    return rawCommand(this.#port, args);
  }

  setPort(port: number): void {
    this.#port = port;
  }
}

/** Start a private redis-server; retries with another port if the chosen one was taken meanwhile. */
export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'hoplite-redis-'));
  const server = new PrivateRedis(opts.port ?? 0, dir, opts);
  let lastErr: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    server.setPort(opts.port ?? (await freePort()));
    try {
      await server.launch();
      return server;
    } catch (err) {
      lastErr = err;
      if (!(err as { inUse?: boolean }).inUse || opts.port !== undefined) break;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastErr;
}

/** A Sentinel (quorum 1, master down after `downAfterMs`) watching `master`; `url` is the redis+sentinel:// URL of the master group. */
export async function startRedisSentinel(master: RedisServer, masterName = 'mymaster', downAfterMs = 1000): Promise<RedisServer & { sentinelUrl: string }> {
  const server = await startRedisServer({ sentinel: { masterPort: master.port, masterName, downAfterMs } });
  return Object.assign(server, { sentinelUrl: `redis+sentinel://127.0.0.1:${server.port}/${masterName}` });
}

export interface RedisClusterServer {
  readonly nodes: readonly RedisServer[];
  /** `redis+cluster://127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3` */
  readonly url: string;
  destroy(): Promise<void>;
}

/** A Redis Cluster of `masters` nodes (no replicas), ready when every node reports cluster_state:ok. */
export async function startRedisCluster(opts: { masters?: number; startTimeoutMs?: number } = {}): Promise<RedisClusterServer> {
  const masters = opts.masters ?? 3;
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  const nodes: RedisServer[] = [];
  try {
    for (let i = 0; i < masters; i++) {
      const busPort = await freePort();
      nodes.push(
        await startRedisServer({
          args: ['--cluster-enabled', 'yes', '--cluster-port', String(busPort), '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000'],
        }),
      );
    }
    await new Promise<void>((resolve, reject) => {
      const cli = spawn('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      cli.stdout.on('data', (c: Buffer) => (out += c.toString()));
      cli.stderr.on('data', (c: Buffer) => (out += c.toString()));
      cli.once('error', reject);
      cli.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`redis-cli --cluster create exited ${code}:\n${out}`))));
    });
    const deadline = Date.now() + timeoutMs;
    for (const node of nodes) {
      let delay = 20;
      for (;;) {
        const info = await node.command('CLUSTER', 'INFO').catch(() => '');
        if (/cluster_state:ok/.test(info)) break;
        if (Date.now() > deadline) throw new Error(`cluster node ${node.port} not ok after ${timeoutMs} ms: ${info}`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 500);
      }
    }
  } catch (err) {
    await Promise.all(nodes.map((n) => n.destroy()));
    throw err;
  }
  return {
    nodes,
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    destroy: async () => {
      await Promise.all(nodes.map((n) => n.destroy()));
    },
  };
}
