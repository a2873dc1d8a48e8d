/**
 * Run allocating child processes (vip-child.ts) and collect what they were told.
 *
 *   const kids = names.map((n) => new AllocatorChild({ store, pools, names: n }));
 *   await Promise.all(kids.map((k) => k.ready));   // every store open
 *   kids.forEach((k) => k.go());                   // start together
 *   await Promise.all(kids.map((k) => k.done));
 *   kids[0].acks                                    // [name, ipv4][] in order
 *
 * Children are spawned with this process's node flags (tap's TypeScript loader and the
 * @hoplite/source condition), stopped by PID and awaited (`stop()`, `kill()`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ChildConfig } from './vip-child.js';

const CHILD = fileURLToPath(new URL('./vip-child.ts', import.meta.url));

export class AllocatorChild {
  readonly child: ChildProcess;
  readonly acks: [string, string][] = [];
  /** Resolves once the store is open. */
  readonly ready: Promise<void>;
  /** Resolves when the child printed "done"; rejects on an error or an exit before that. */
  readonly done: Promise<void>;
  /** Resolves with the exit code and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  #ackWaiters: { n: number; resolve: () => void }[] = [];
  stderr = '';

  constructor(cfg: ChildConfig) {
    this.child = spawn(process.execPath, [...process.execArgv, CHILD, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    let onReady!: () => void;
    let onDone!: () => void;
    let onFail!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      onReady = res;
      this.#failReady = rej;
    });
    this.done = new Promise((res, rej) => {
      onDone = res;
      onFail = rej;
    });
    this.ready.catch(() => undefined);
    this.done.catch(() => undefined);
    const fail = (e: Error): void => {
      this.#failReady(e);
      onFail(e);
    };
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (s: string) => {
      if (this.stderr.length < 20_000) this.stderr += s;
    });
    let buf = '';
    this.child.stdout?.setEncoding('utf8');
    this.child.stdout?.on('data', (chunk: string) => {
      buf += chunk;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let msg: { t: string; n?: string | number; a?: string; m?: string };
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if (msg.t === 'ready') onReady();
        else if (msg.t === 'ack') {
          this.acks.push([String(msg.n), String(msg.a)]);
          this.#ackWaiters = this.#ackWaiters.filter((w) => (this.acks.length >= w.n ? (w.resolve(), false) : true));
        } else if (msg.t === 'done') onDone();
        else if (msg.t === 'error') fail(new Error(`child ${this.child.pid}: ${msg.m}`));
      }
    });
    void this.exited.then(({ code, signal }) => fail(new Error(`child ${this.child.pid} exited (${code ?? signal}) ${this.stderr.slice(-2000)}`)));
  }
  #failReady: (e: Error) => void = () => undefined;

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Start allocating. */
  go(): void {
    this.child.stdin?.write('go\n');
  }

  /** Resolves once at least `n` acks arrived (or rejects when the child ends first). */
  acked(n: number): Promise<void> {
    if (this.acks.length >= n) return Promise.resolve();
    return Promise.race([
      new Promise<void>((resolve) => this.#ackWaiters.push({ n, resolve })),
      this.exited.then(() => {
        if (this.acks.length < n) throw new Error(`child ended after ${this.acks.length} acks, before ${n}`);
      }),
    ]);
  }

  /** kill -9 (or another signal) by PID, and wait for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }

  /** End stdin, then SIGTERM if still running after a grace period; wait for the exit. */
  async stop(graceMs = 10_000): Promise<void> {
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill('SIGTERM'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Deterministic pick of `n` distinct indexes out of `from` (xorshift shuffle), for replayable tests. */
export function pick(seed: number, n: number, from: number): number[] {
  let x = (seed * 2654435761 + 1) >>> 0;
  const all = Array.from({ length: from }, (_, i) => i);
  for (let i = all.length - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = (x >>> 0) % (i + 1);
    [all[i], all[j]] = [all[j] as number, all[i] as number];
  }
  return all.slice(0, n);
}

/**
 * Name -> address over every ack of every child, reporting contradictions: a name seen with two
 * addresses, or an address given to two names.
 */
export function consistency(children: readonly { acks: readonly [string, string][] }[]): {
  byName: Map<string, string>;
  conflicts: string[];
} {
  const byName = new Map<string, string>();
  const byAddress = new Map<string, string>();
  const conflicts: string[] = [];
  children.forEach((c, i) => {
    for (const [name, addr] of c.acks) {
      const had = byName.get(name);
      if (had !== undefined && had !== addr) conflicts.push(`${name}: ${had} elsewhere, ${addr} in child ${i}`);
      byName.set(name, had ?? addr);
      const holder = byAddress.get(addr);
      if (holder !== undefined && holder !== name) conflicts.push(`${addr} given to ${holder} and ${name}`);
      byAddress.set(addr, holder ?? name);
    }
  });
  return { byName, conflicts };
}
