/**
 * DNS over TCP (RFC 1035 4.2.2, RFC 7766): 2-byte length framing, pipelined queries answered as
 * they complete (out of order), partial reads, an idle timeout, a cap on queries in flight per
 * connection (the connection is not read further until one completes) and on connections.
 *
 * Connection cap: when a new connection would exceed `maxConnections`, the oldest connection with
 * no query in flight is closed to make room; when every connection has queries in flight, the new
 * connection is closed at once. A frame shorter than a DNS header, longer than MAX_TCP_QUERY, or
 * a message that is not a query closes that connection only.
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { CounterChild, Registry } from '../metrics/registry.js';
import type { TcpConfig } from '../config.js';
import { PENDING, type Engine, type ReplySink } from './engine.js';
import type { Query } from '../chain/stage.js';
import { HEADER_SIZE } from '../wire/constants.js';

/** Largest query accepted over TCP (queries are small; this bounds what one frame can hold). */
export const MAX_TCP_QUERY = 16384;

export class TcpConnections {
  private readonly open = new Set<TcpConnection>();
  private readonly events: Record<'accepted' | 'evicted' | 'rejected' | 'idle' | 'garbage', CounterChild>;
  closing = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    readonly engine: Engine,
    readonly cfg: TcpConfig,
    readonly logger: Logger,
    metrics: Registry,
  ) {
    const c = metrics.counter('hoplite_dns_server_tcp_connections_total', 'TCP connections, by event (accepted, evicted, rejected, idle, garbage)');
    this.events = {
      accepted: c.labels({ event: 'accepted' }),
      evicted: c.labels({ event: 'evicted' }),
      rejected: c.labels({ event: 'rejected' }),
      idle: c.labels({ event: 'idle' }),
      garbage: c.labels({ event: 'garbage' }),
    };
    const g = metrics.gauge('hoplite_dns_server_tcp_connections', 'Open TCP connections');
    g.collect(() => g.set(this.open.size));
  }

  get size(): number {
    return this.open.size;
  }

  accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    if (this.open.size >= this.cfg.maxConnections) {
      let victim: TcpConnection | undefined;
      for (const c of this.open) {
        if (c.inflight === 0) {
          victim = c;
          break;
        }
      }
      if (victim === undefined) {
        this.events.rejected.inc();
        socket.on('error', () => {});
        socket.destroy();
        return;
      }
      this.events.evicted.inc();
      victim.destroy();
    }
    this.events.accepted.inc();
    const conn = new TcpConnection(socket, this);
    this.open.add(conn);
  }

  /** Called by a connection when its socket is gone. */
  removed(conn: TcpConnection): void {
    this.open.delete(conn);
    if (this.open.size === 0 && this.idleWaiters.length > 0) {
      const w = this.idleWaiters;
      this.idleWaiters = [];
      for (const f of w) f();
    }
  }

  count(event: 'idle' | 'garbage'): void {
    this.events[event].inc();
  }

  /** Stop reading: idle connections close now, busy ones once their queries are answered. */
  startClosing(): void {
    this.closing = true;
    for (const c of this.open) c.drainAndClose();
  }

  /** Resolves when every connection is gone. */
  whenEmpty(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  destroyAll(): void {
    for (const c of [...this.open]) c.destroy();
  }
}

export class TcpConnection implements ReplySink {
  inflight = 0;
  private buffered: Buffer | undefined;
  private ended = false;
  private closing = false;
  private gone = false;
  private readingPaused = false;
  private readonly address: string;
  private readonly port: number;

  constructor(
    private readonly socket: Socket,
    private readonly group: TcpConnections,
  ) {
    this.address = socket.remoteAddress ?? '';
    this.port = socket.remotePort ?? 0;
    socket.setNoDelay(true);
    socket.setTimeout(group.cfg.idleTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('timeout', () => this.onTimeout());
    socket.on('drain', () => this.pump());
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.onClose());
  }

  destroy(): void {
    if (this.gone) return;
    this.socket.destroy();
  }

  drainAndClose(): void {
    this.closing = true;
    this.buffered = undefined;
    this.maybeFinish();
  }

  private onClose(): void {
    if (this.gone) return;
    this.gone = true;
    this.buffered = undefined;
    this.group.removed(this);
  }

  private onData(chunk: Buffer): void {
    if (this.closing) return;
    this.buffered = this.buffered === undefined ? chunk : Buffer.concat([this.buffered, chunk]);
    this.pump();
  }

  private onEnd(): void {
    this.ended = true;
    this.maybeFinish();
  }

  private onTimeout(): void {
    if (this.inflight > 0) return;
    this.group.count('idle');
    this.destroy();
  }

  /** Handle every complete frame while below the per-connection cap; pause reading otherwise. */
  private pump(): void {
    const max = this.group.cfg.maxQueriesPerConnection;
    while (!this.gone && !this.closing && this.inflight < max && !this.socket.writableNeedDrain) {
      const buf = this.buffered;
      if (buf === undefined || buf.length < 2) break;
      const len = buf.readUInt16BE(0);
      if (len < HEADER_SIZE || len > MAX_TCP_QUERY) {
        this.garbage();
        return;
      }
      if (buf.length < 2 + len) break;
      const msg = buf.subarray(2, 2 + len);
      this.buffered = buf.length === 2 + len ? undefined : buf.subarray(2 + len);
      this.handle(msg);
    }
    const blocked = this.inflight >= max || this.socket.writableNeedDrain;
    if (blocked && !this.readingPaused) {
      this.readingPaused = true;
      this.socket.pause();
    } else if (!blocked && this.readingPaused) {
      this.readingPaused = false;
      this.socket.resume();
    }
    this.maybeFinish();
  }

  private garbage(): void {
    this.group.count('garbage');
    this.destroy();
  }

  private handle(msg: Buffer): void {
    const out = this.group.engine.process(msg, 'tcp', this.address, this.port, this);
    if (out === undefined) {
      // Not a query (a response, or no header): this peer is not speaking DNS to us.
      this.garbage();
      return;
    }
    if (out === PENDING) {
      this.inflight++;
      return;
    }
    this.write(out);
  }

  /** ReplySink: an answer that completed later. */
  reply(_q: Query, resp: Buffer): void {
    this.inflight--;
    this.write(resp);
    this.pump();
  }

  private write(resp: Buffer): void {
    if (this.gone || this.socket.destroyed) return;
    const framed = Buffer.allocUnsafe(resp.length + 2);
    framed.writeUInt16BE(resp.length, 0);
    resp.copy(framed, 2);
    this.socket.write(framed);
  }

  /** After a half-close by the client or during shutdown: close once nothing is left to answer. */
  private maybeFinish(): void {
    if (this.gone || this.inflight > 0) return;
    if (this.closing) {
      this.socket.end(() => this.socket.destroy());
      return;
    }
    if (this.ended) {
      const buf = this.buffered;
      const complete = buf !== undefined && buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0);
      if (!complete) this.socket.end();
    }
  }
}
