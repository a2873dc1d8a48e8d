/**
 * The exchange mechanics: send one query to one server and hand back its reply, with no policy.
 *
 * UDP: each exchange gets a fresh random ID and goes out of a socket picked at random from a small
 * pool of sockets per server, each bound to port 0 (a kernel-chosen random port) and connected to
 * that server. A socket serves a bounded number of exchanges or a bounded time, then is retired
 * (kept open until its last exchange ends) and replaced by a fresh one on a new random port. A
 * socket per query would give each query its own port, but costs about 24 us of CPU more per query
 * in Node (create, bind, epoll add/remove, close: 34 us against 10 us measured here), more than the
 * whole forwarding budget; the pool keeps the port random per socket lifetime and the ID random per
 * query. Pool slots are opened on first use, so a server asked rarely holds few sockets.
 *
 * Connected sockets: `send()` takes no address (Node skips its lookup and argument checks, the
 * kernel its route lookup per datagram), and the kernel delivers to the socket only datagrams from
 * the server's address and port: a reply from anywhere else never reaches us (it is not counted
 * here; the host's UDP counters see it). An ICMP port-unreachable from the server is reported on
 * the socket as ECONNREFUSED: ignored (the exchange times out, as with an unconnected socket).
 *
 * A reply is accepted only when its ID is one we are waiting for on that socket, it comes from the
 * server's address and port (checked here too: datagrams queued before the connect), and it
 * carries the question we sent (case-insensitive). Anything else is dropped and counted by
 * reason; the exchange keeps waiting for the real reply.
 *
 * A truncated UDP reply is retried over TCP to the same server (a connection per retry: truncation
 * is rare, and a fresh connection keeps the source port random), with a fresh ID and timeout.
 *
 * Timeouts share one DeadlineQueue (one timer). An abandoned exchange (the query was answered by
 * another server, or its deadline passed) stays registered until its reply or its timeout, so that
 * its ID is not reused on that socket meanwhile and its late reply is counted as `late`, not as an
 * attack. It is kept as a tombstone, not as the Exchange: its ID, expiry and a hash of its question
 * in a ring of typed arrays of its socket (TombstoneRing), and its sequence number in the socket's
 * ID table. With one master hung, every query leaves one abandoned exchange for the whole timeout
 * (20,000 at 10k qps and 2 s): as objects they survived every young-generation GC and were
 * promoted, which cost latency and memory. Tombstones expire in the order they were made, swept in
 * batches (one sweep timer per socket, due on a grid shared by every socket, one to two
 * TOMBSTONE_SWEEP_MS after the expiry: a timer per expiry would wake the process about once a
 * millisecond per socket); one made with a shorter timeout than the one before it waits for that
 * one (exchanges of one exchanger share their timeout, but for health probes).
 * Answered tombstones at the head of the ring are dropped as their late replies come, so with every
 * server answering the ring stays near empty and its timer idle.
 *
 * The listener is never called from inside `send()` or `abandon()`: always from an I/O or timer
 * callback, so callers need not be re-entrant.
 */
import { Buffer } from 'node:buffer';
import net from 'node:net';
import type { Logger } from 'pino';
import { pino } from 'pino';
import { Flag, HEADER_SIZE } from '../wire/constants.js';
import { questionHash, questionMatches } from '../wire/response.js';
import { openUdp, type UdpEndpoint, type UdpIo } from '../io/udp.js';
import type { Family, ServerAddress } from './address.js';
import { DeadlineQueue, DUE_SLACK_MS, type Lane, type Timed } from './deadlines.js';
import { IdTable, TombstoneRing } from './id-table.js';
import type { DropStats, ServerStats } from './metrics.js';
import { CryptoRandom, type RandomSource } from './random.js';

export interface Server extends ServerAddress {
  readonly stats: ServerStats;
}

export type ExchangeFailure = 'timeout' | 'error' | 'closed';

export interface ExchangeListener {
  /** Exactly one of `reply` / `failure` is set. `reply` belongs to the listener (may be mutated). */
  onExchangeDone(ex: Exchange, reply: Buffer | undefined, failure: ExchangeFailure | undefined): void;
}

export interface ExchangerOptions {
  /** UDP sockets per server. Default 8. */
  readonly sockets?: number;
  /** Exchanges a UDP socket serves before it is replaced. Default 1000. */
  readonly socketMaxUses?: number;
  /** Milliseconds a UDP socket serves before it is replaced. Default 5000. */
  readonly socketMaxAge?: number;
  /** Retry truncated UDP replies over TCP. Default true. */
  readonly tcpFallback?: boolean;
  /** The UDP socket implementation (config udp.io). Default auto. */
  readonly io?: UdpIo;
  readonly drops: DropStats;
  readonly logger?: Logger;
  readonly random?: RandomSource;
  /** Shared deadline queue (and its clock); one is created when omitted. */
  readonly deadlines?: DeadlineQueue;
  /**
   * What became of an abandoned UDP exchange to `server`: its (late) reply, or undefined when it
   * timed out. Lets health learn from servers that lost the race (a dead server asked in parallel
   * with a live one is otherwise never seen to fail). One hook per exchanger, no closure per exchange.
   */
  readonly onAbandonedOutcome?: (server: Server, reply: Buffer | undefined) => void;
}

export const EXCHANGER_DEFAULTS = {
  sockets: 8,
  socketMaxUses: 1000,
  socketMaxAge: 5000,
  tcpFallback: true,
} as const;

export enum ExchangeState {
  Udp,
  Tcp,
  Done,
}

export class Exchange implements Timed {
  deadline = 0;
  heapIndex = -1;
  lane: Lane | undefined = undefined;
  lanePrev: Timed | undefined = undefined;
  laneNext: Timed | undefined = undefined;
  /** The ID on the wire (random per exchange, fresh again for a TCP retry). */
  id = 0;
  state: ExchangeState = ExchangeState.Udp;
  /** When send() was called, on the exchanger's clock (ms). */
  startedAt = 0;
  /** Set when the UDP send threw: the deadline fires at once as an error. */
  sendFailed = false;
  socket: PooledSocket | undefined;
  tcp: net.Socket | undefined;

  constructor(
    readonly exchanger: Exchanger,
    readonly server: Server,
    /** Our copy of the message, with our ID at bytes 0-1 (shared by the exchanges of one
     *  sendAll(); a TCP retry takes its own copy). */
    public message: Buffer,
    readonly questionEnd: number,
    readonly timeout: number,
    public listener: ExchangeListener | undefined,
    /** Free for the listener (e.g. the index of the server in its order). */
    readonly tag: number,
  ) {}

  get done(): boolean {
    return this.state === ExchangeState.Done;
  }

  onDeadline(now: number): void {
    this.exchanger.onExchangeDeadline(this, now);
  }
}

class PooledSocket {
  /** By ID: the exchange waiting for its reply, or (a number) the sequence number of the
   *  tombstone of an abandoned one in `tombs`. */
  pending: IdTable<Exchange | number>;
  tombs: TombstoneRing;
  readonly sweeper: TombstoneSweeper;
  uses = 0;
  retired = false;
  /** Unusable (errored or closing). */
  closed = false;
  closing: Promise<void> | undefined;
  socket!: UdpEndpoint;
  constructor(
    readonly server: Server,
    readonly createdAt: number,
    exchanger: Exchanger,
    pending: IdTable<Exchange | number> | undefined,
    tombs: TombstoneRing | undefined,
  ) {
    this.sweeper = new TombstoneSweeper(exchanger, this);
    this.pending = pending ?? new IdTable();
    this.tombs = tombs ?? new TombstoneRing();
  }
}

/** Spare tables and rings kept for new sockets, at most. */
const MAX_SPARES = 64;

/** Stands in for a socket that could not be opened: sends throw (the exchange fails at once). */
const CLOSED_ENDPOINT: UdpEndpoint = Object.freeze({
  io: 'dgram' as const,
  family: 'IPv4' as const,
  send(): void {
    const err = new Error('socket could not be opened') as NodeJS.ErrnoException;
    err.code = 'ERR_SOCKET_DGRAM_NOT_RUNNING';
    throw err;
  },
  localPort: () => 0,
  queued: () => 0,
  close: () => Promise.resolve(),
});

/** The deadline-queue entry of a socket's tombstones: fires at the oldest one's expiry. */
class TombstoneSweeper implements Timed {
  deadline = 0;
  heapIndex = -1;
  lane: Lane | undefined = undefined;
  lanePrev: Timed | undefined = undefined;
  laneNext: Timed | undefined = undefined;
  constructor(
    readonly exchanger: Exchanger,
    readonly ps: PooledSocket,
  ) {}
  onDeadline(now: number): void {
    this.exchanger.sweepTombstones(this.ps, now);
  }
}

/** Tombstones are swept in batches, on a grid of this many milliseconds (see sweepTime()). */
export const TOMBSTONE_SWEEP_MS = 20;

/**
 * When the tombstones expiring at `expiry` are swept: the next multiple of TOMBSTONE_SWEEP_MS at
 * least that far after it, so that the sweepers of every socket (eight per server by default)
 * come due together and one timer wake-up sweeps them all.
 */
export function sweepTime(expiry: number): number {
  return Math.ceil((expiry + TOMBSTONE_SWEEP_MS) / TOMBSTONE_SWEEP_MS) * TOMBSTONE_SWEEP_MS;
}

/** The sockets of one server (slots opened on first use). */
type Pool = Array<PooledSocket | undefined>;

export class Exchanger {
  readonly deadlines: DeadlineQueue;
  private readonly random: RandomSource;
  private readonly logger: Logger;
  private readonly drops: DropStats;
  private readonly poolSize: number;
  private readonly maxUses: number;
  private readonly maxAge: number;
  private readonly tcpFallback: boolean;
  private readonly io: UdpIo;
  /** Socket pools by server key (`ip:port`). */
  private readonly pools = new Map<string, Pool>();
  private readonly retiring = new Set<PooledSocket>();
  private readonly tcpExchanges = new Set<Exchange>();
  private readonly spares: Array<IdTable<Exchange | number>> = [];
  private readonly spareRings: TombstoneRing[] = [];
  private readonly ownsDeadlines: boolean;
  private readonly onAbandonedOutcome: ((server: Server, reply: Buffer | undefined) => void) | undefined;
  private closed = false;

  constructor(options: ExchangerOptions) {
    this.poolSize = Math.max(1, options.sockets ?? EXCHANGER_DEFAULTS.sockets);
    this.maxUses = Math.max(1, options.socketMaxUses ?? EXCHANGER_DEFAULTS.socketMaxUses);
    this.maxAge = Math.max(1, options.socketMaxAge ?? EXCHANGER_DEFAULTS.socketMaxAge);
    this.tcpFallback = options.tcpFallback ?? EXCHANGER_DEFAULTS.tcpFallback;
    this.io = options.io ?? 'auto';
    this.drops = options.drops;
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.random = options.random ?? new CryptoRandom();
    this.ownsDeadlines = options.deadlines === undefined;
    this.deadlines = options.deadlines ?? new DeadlineQueue();
    this.onAbandonedOutcome = options.onAbandonedOutcome;
  }

  /** UDP sockets open (pooled and retiring), for tests and metrics. */
  get openSockets(): number {
    let n = this.retiring.size;
    for (const pool of this.pools.values()) for (const ps of pool) if (ps !== undefined) n++;
    return n;
  }

  /** ID tables kept for the next sockets (tests). */
  get spareTables(): number {
    return this.spares.length;
  }

  /** Local ports of the pooled sockets (tests). */
  localPorts(family: Family = 'IPv4'): number[] {
    const out: number[] = [];
    for (const pool of this.pools.values()) {
      for (const ps of pool) if (ps !== undefined && !ps.closed && ps.server.family === family) out.push(ps.socket.localPort());
    }
    return out;
  }

  /**
   * Send `template` (a DNS query; bytes 0-1 are replaced by a fresh ID in a private copy) to
   * `server` over UDP. `questionEnd` is the offset just past its question. With `owned` true the
   * caller hands `template` over (no copy): it must not write to it afterwards (reading, e.g. to
   * copy it for another exchange, is fine).
   */
  send(
    server: Server,
    template: Buffer,
    questionEnd: number,
    timeout: number,
    listener: ExchangeListener,
    tag = 0,
    owned = false,
    /** The deadline queue's clock now, when the caller just read it (saves a clock call). */
    now = this.deadlines.clock(),
  ): Exchange {
    let message = template;
    if (!owned) {
      message = Buffer.allocUnsafe(template.length);
      message.set(template);
    }
    const ex = new Exchange(this, server, message, questionEnd, timeout, listener, tag);
    ex.startedAt = now;
    server.stats.requests.inc();
    if (this.closed) {
      ex.sendFailed = true;
      setImmediate(() => this.fail(ex, 'closed', false));
      return ex;
    }
    const ps = this.pick(server, now);
    let id = this.random.uint16();
    while (ps.pending.has(id)) id = this.random.uint16();
    message[0] = id >> 8;
    message[1] = id & 0xff;
    this.transmit(ex, ps, id, now + timeout, now);
    return ex;
  }

  /** Register `ex` under `id` on `ps` until `deadline` and send its message (ID already written). */
  private transmit(ex: Exchange, ps: PooledSocket, id: number, deadline: number, now: number): void {
    const server = ex.server;
    ex.id = id;
    ex.socket = ps;
    ps.pending.set(id, ex);
    ps.uses++;
    this.deadlines.add(ex, deadline);
    try {
      ps.socket.send(ex.message);
    } catch (err) {
      this.logger.warn({ err, upstream: server.key }, 'udp send failed');
      ex.sendFailed = true;
      this.deadlines.add(ex, now);
    }
  }

  /**
   * Send the same query to the first `count` servers of `servers` (default all) at once (a
   * fan-out, or a parallel forward). The datagrams are
   * identical: one ID, drawn free on every socket picked (each server has its own sockets), written
   * once into one copy of `template` that the exchanges share. Exchange `i` (tag `i`) goes to
   * `servers[i]` and is appended to `out`. Otherwise as send(), `owned` included.
   */
  sendAll(
    servers: readonly Server[],
    template: Buffer,
    questionEnd: number,
    timeout: number,
    listener: ExchangeListener,
    owned: boolean,
    now: number,
    out: Exchange[],
    count = servers.length,
  ): void {
    const n = count < servers.length ? count : servers.length;
    if (n === 1 || this.closed) {
      for (let i = 0; i < n; i++) out.push(this.send(servers[i]!, template, questionEnd, timeout, listener, i, owned && i === 0, now));
      return;
    }
    let message = template;
    if (!owned) {
      message = Buffer.allocUnsafe(template.length);
      message.set(template);
    }
    const first = out.length;
    for (let i = 0; i < n; i++) {
      const server = servers[i]!;
      const ps = this.pick(server, now);
      // The same socket twice (a server listed twice): that one gets its own ID and copy.
      let shared = true;
      for (let j = first; j < out.length; j++) if (out[j]!.socket === ps) shared = false;
      if (!shared) {
        out.push(this.send(server, message, questionEnd, timeout, listener, i, false, now));
        continue;
      }
      const ex = new Exchange(this, server, message, questionEnd, timeout, listener, i);
      ex.startedAt = now;
      ex.socket = ps;
      out.push(ex);
    }
    let id = 0;
    for (let free = false; !free; ) {
      id = this.random.uint16();
      free = true;
      for (let j = first; j < out.length; j++) {
        const ex = out[j]!;
        if (ex.message === message && ex.socket!.pending.has(id)) free = false;
      }
    }
    message[0] = id >> 8;
    message[1] = id & 0xff;
    const deadline = now + timeout;
    for (let j = first; j < out.length; j++) {
      const ex = out[j]!;
      if (ex.message !== message) continue;
      ex.server.stats.requests.inc();
      this.transmit(ex, ex.socket!, id, deadline, now);
    }
  }

  /**
   * Stop caring about `ex`: its listener is not called any more. A UDP exchange stays registered
   * until its reply or timeout (its late reply is counted as `late`); a TCP one is closed now.
   */
  abandon(ex: Exchange): void {
    if (ex.done) return;
    ex.listener = undefined;
    if (ex.state === ExchangeState.Tcp) {
      ex.state = ExchangeState.Done;
      this.deadlines.remove(ex);
      this.closeTcp(ex);
      return;
    }
    ex.state = ExchangeState.Done;
    this.deadlines.remove(ex);
    const ps = ex.socket;
    if (ps === undefined) return;
    ex.socket = undefined;
    if (ex.sendFailed || ps.closed) {
      this.release(ps, ex.id);
      return;
    }
    // The tombstone (see the top of the file).
    ps.pending.set(ex.id, ps.tombs.push(ex.id, ex.deadline, questionHash(ex.message, ex.questionEnd), ex.questionEnd));
    const sweeper = ps.sweeper;
    if (sweeper.heapIndex < 0 && sweeper.lane === undefined) this.deadlines.add(sweeper, sweepTime(ex.deadline));
  }

  /**
   * Drop the tombstones at the head of `ps` that are gone already (their late reply came, or their
   * ID was reused), so that a socket whose abandoned exchanges are all answered holds none and its
   * sweeper stays idle (with every master up, the losers' replies come within a millisecond).
   */
  private dropAnsweredTombstones(ps: PooledSocket): void {
    const tombs = ps.tombs;
    let seq = tombs.head;
    while (seq < tombs.tail && ps.pending.get(tombs.id(seq)) !== seq) seq++;
    tombs.head = seq;
    if (seq === tombs.tail) this.deadlines.remove(ps.sweeper);
  }

  /** Expire the tombstones of `ps` that are due: each is a timeout of its server. */
  sweepTombstones(ps: PooledSocket, now: number): void {
    const tombs = ps.tombs;
    // Due as the deadline queue counts it: re-queued for a deadline it counts as past, the sweeper
    // would fire again at once, for ever.
    const due = now + DUE_SLACK_MS;
    for (let seq = tombs.head; seq < tombs.tail && tombs.expiry(seq) <= due; seq = tombs.head) {
      tombs.head = seq + 1;
      const id = tombs.id(seq);
      // Still this tombstone (not answered late, its ID not reused since)?
      if (ps.pending.get(id) !== seq) continue;
      this.release(ps, id);
      ps.server.stats.timeouts.inc();
      this.onAbandonedOutcome?.(ps.server, undefined);
    }
    this.dropAnsweredTombstones(ps);
    if (tombs.length > 0) this.deadlines.add(ps.sweeper, sweepTime(tombs.expiry(tombs.head)));
  }

  /** Close every socket; exchanges still waiting fail with 'closed'. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const failing: Exchange[] = [];
    const sockets = [...this.retiring];
    for (const pool of this.pools.values()) for (const ps of pool) if (ps !== undefined) sockets.push(ps);
    this.pools.clear();
    this.retiring.clear();
    for (const ps of sockets) {
      for (const ex of ps.pending.values()) if (typeof ex !== 'number') failing.push(ex);
      ps.pending.clear();
      this.deadlines.remove(ps.sweeper);
    }
    for (const ex of this.tcpExchanges) failing.push(ex);
    for (const ex of failing) {
      this.deadlines.remove(ex);
      if (ex.state === ExchangeState.Tcp) this.closeTcp(ex);
      this.fail(ex, 'closed', false);
    }
    if (this.ownsDeadlines) this.deadlines.close();
    await Promise.all(sockets.map((ps) => this.closeSocket(ps)));
  }

  // ---- UDP socket pool -------------------------------------------------------------------------

  private pick(server: Server, now: number): PooledSocket {
    let pool = this.pools.get(server.key);
    if (pool === undefined) {
      this.prune(now);
      pool = new Array<PooledSocket | undefined>(this.poolSize).fill(undefined);
      this.pools.set(server.key, pool);
    }
    const i = this.random.below(pool.length);
    let ps = pool[i];
    if (ps === undefined) {
      ps = this.openSocket(server, now);
      pool[i] = ps;
    } else if (ps.uses >= this.maxUses || now - ps.createdAt >= this.maxAge || ps.closed) {
      this.retire(ps);
      ps = this.openSocket(server, now);
      pool[i] = ps;
    }
    return ps;
  }

  /**
   * Retire the pools of servers not asked for a while (every socket past twice its age: a server
   * no longer listed, or asked rarely). Run when a new server's pool is made, so that a changing
   * master list does not accumulate sockets.
   */
  private prune(now: number): void {
    for (const [key, pool] of this.pools) {
      let idle = true;
      for (const ps of pool) if (ps !== undefined && now - ps.createdAt < 2 * this.maxAge) idle = false;
      if (!idle) continue;
      this.pools.delete(key);
      for (const ps of pool) if (ps !== undefined) this.retire(ps);
    }
  }

  private openSocket(server: Server, now: number): PooledSocket {
    const ps = new PooledSocket(server, now, this, this.spares.pop(), this.spareRings.pop());
    try {
      ps.socket = openUdp(this.io, {
        family: server.family,
        connect: { address: server.address, port: server.port },
        onMessage: (msg, address, port) => this.onMessage(ps, msg, address, port),
        onError: (err) => {
          // ICMP port unreachable from the server (connected socket): its exchanges time out as usual.
          if (err.code === 'ECONNREFUSED') return;
          // Any other error on a pooled socket (e.g. bind or connect failure): stop using it; its
          // exchanges time out.
          this.logger.warn({ err, upstream: server.key }, 'udp socket error');
          ps.closed = true;
        },
        onSendFailed: (code, count) => this.logger.debug({ code, count, upstream: server.key }, 'udp send failed'),
      });
    } catch (err) {
      // A native socket that cannot be opened (e.g. EMFILE, no route): an unusable slot, replaced
      // on its next pick; the exchanges sent through it fail at once.
      this.logger.warn({ err, upstream: server.key }, 'udp socket error');
      ps.socket = CLOSED_ENDPOINT;
      ps.closed = true;
    }
    return ps;
  }

  private retire(ps: PooledSocket): void {
    ps.retired = true;
    if (ps.pending.size === 0) void this.closeSocket(ps);
    else this.retiring.add(ps);
  }

  private closeSocket(ps: PooledSocket): Promise<void> {
    this.retiring.delete(ps);
    ps.closed = true;
    if (ps.closing === undefined && ps.pending.size === 0 && !this.closed) this.recycle(ps);
    ps.closing ??= ps.socket.close();
    return ps.closing;
  }

  /**
   * Hand the ID table and tombstone ring of a socket that is done with them (nothing pending) to
   * the next socket opened. A socket serves `socketMaxUses` exchanges, and with a server that does
   * not answer it holds a tombstone for each until they expire: its table and ring grow to that
   * size, and as garbage made every second or so they outlived young-generation GCs and filled the
   * old generation (a mark-compact every few seconds, each a pause of several milliseconds).
   * Reused, they are allocated once. The closed socket keeps small empty ones of its own.
   */
  private recycle(ps: PooledSocket): void {
    this.deadlines.remove(ps.sweeper);
    ps.tombs.head = ps.tombs.tail;
    if (this.spares.length < MAX_SPARES) this.spares.push(ps.pending);
    if (this.spareRings.length < MAX_SPARES) this.spareRings.push(ps.tombs);
    ps.pending = new IdTable();
    ps.tombs = new TombstoneRing();
  }

  private release(ps: PooledSocket, id: number): void {
    ps.pending.delete(id);
    if (ps.retired && ps.pending.size === 0) void this.closeSocket(ps);
  }

  private onMessage(ps: PooledSocket, msg: Buffer, address: string, port: number): void {
    if (msg.length < HEADER_SIZE || (msg[2]! & 0x80) === 0) {
      this.drops.malformed.inc();
      return;
    }
    const id = (msg[0]! << 8) | msg[1]!;
    const ex = ps.pending.get(id);
    if (ex === undefined) {
      this.drops.id.inc();
      return;
    }
    if (port !== ps.server.port || address !== ps.server.address) {
      this.drops.source.inc();
      return;
    }
    if (typeof ex === 'number') {
      // A tombstone: the late reply of an abandoned exchange.
      if (questionHash(msg, ps.tombs.questionEnd(ex)) !== ps.tombs.hash(ex)) {
        this.drops.question.inc();
        return;
      }
      this.release(ps, id);
      if (ex === ps.tombs.head) this.dropAnsweredTombstones(ps);
      this.drops.late.inc();
      ps.server.stats.rcode(msg[3]! & 0xf).inc();
      this.onAbandonedOutcome?.(ps.server, msg);
      return;
    }
    if (!questionMatches(msg, ex.message, ex.questionEnd)) {
      this.drops.question.inc();
      return;
    }
    this.release(ps, id);
    this.deadlines.remove(ex);
    if ((msg[2]! & (Flag.TC >> 8)) !== 0 && this.tcpFallback) {
      this.startTcp(ex);
      return;
    }
    this.finish(ex, msg);
  }

  // ---- completion ------------------------------------------------------------------------------

  private finish(ex: Exchange, reply: Buffer): void {
    ex.state = ExchangeState.Done;
    const stats = ex.server.stats;
    stats.duration.observe((this.deadlines.clock() - ex.startedAt) / 1000);
    stats.rcode(reply[3]! & 0xf).inc();
    const listener = ex.listener;
    ex.listener = undefined;
    listener?.onExchangeDone(ex, reply, undefined);
  }

  private fail(ex: Exchange, failure: ExchangeFailure, count = true): void {
    ex.state = ExchangeState.Done;
    if (count) {
      if (failure === 'timeout') ex.server.stats.timeouts.inc();
      else if (failure === 'error') ex.server.stats.errors.inc();
    }
    const listener = ex.listener;
    ex.listener = undefined;
    listener?.onExchangeDone(ex, undefined, failure);
  }

  /** Called by the deadline queue. */
  onExchangeDeadline(ex: Exchange, _now: number): void {
    if (ex.state === ExchangeState.Done) return;
    if (ex.sendFailed) {
      if (ex.socket) this.release(ex.socket, ex.id);
      this.fail(ex, this.closed ? 'closed' : 'error');
      return;
    }
    if (ex.state === ExchangeState.Tcp) {
      this.closeTcp(ex);
      this.fail(ex, 'timeout');
      return;
    }
    if (ex.socket) this.release(ex.socket, ex.id);
    this.fail(ex, 'timeout');
  }

  // ---- TCP retry -------------------------------------------------------------------------------

  private startTcp(ex: Exchange): void {
    ex.state = ExchangeState.Tcp;
    ex.server.stats.tcpRetries.inc();
    const id = this.random.uint16();
    ex.id = id;
    // Our own copy: the UDP message may be shared with the other exchanges of a sendAll().
    ex.message = Buffer.from(ex.message);
    ex.message[0] = id >> 8;
    ex.message[1] = id & 0xff;
    const frame = Buffer.allocUnsafe(2 + ex.message.length);
    frame.writeUInt16BE(ex.message.length, 0);
    frame.set(ex.message, 2);
    this.tcpExchanges.add(ex);
    this.deadlines.add(ex, this.deadlines.clock() + ex.timeout);
    const sock = net.connect({ host: ex.server.address, port: ex.server.port, noDelay: true });
    ex.tcp = sock;
    let buffered: Buffer = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      if (ex.state !== ExchangeState.Tcp) return;
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2) {
        const len = buffered.readUInt16BE(0);
        if (buffered.length < 2 + len) break;
        const msg = buffered.subarray(2, 2 + len);
        buffered = buffered.subarray(2 + len);
        if (len < HEADER_SIZE || (msg[2]! & 0x80) === 0) {
          this.drops.malformed.inc();
          continue;
        }
        if (msg.readUInt16BE(0) !== ex.id) {
          this.drops.id.inc();
          continue;
        }
        if (!questionMatches(msg, ex.message, ex.questionEnd)) {
          this.drops.question.inc();
          continue;
        }
        this.deadlines.remove(ex);
        this.closeTcp(ex);
        // A copy: the reply must not pin the connection's read buffer.
        this.finish(ex, Buffer.from(msg));
        return;
      }
    });
    sock.on('error', (err: Error) => {
      if (ex.state !== ExchangeState.Tcp) return;
      this.logger.debug({ err, upstream: ex.server.key }, 'tcp exchange failed');
      this.deadlines.remove(ex);
      this.closeTcp(ex);
      this.fail(ex, 'error');
    });
    sock.on('close', () => {
      if (ex.state !== ExchangeState.Tcp) return;
      this.deadlines.remove(ex);
      this.closeTcp(ex);
      this.fail(ex, 'error');
    });
    sock.write(frame);
  }

  private closeTcp(ex: Exchange): void {
    this.tcpExchanges.delete(ex);
    const sock = ex.tcp;
    ex.tcp = undefined;
    sock?.destroy();
  }
}
