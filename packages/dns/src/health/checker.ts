/**
 * Health bookkeeping and probes for a set of servers. The stage reports outcomes of real traffic
 * (`success`, `failure`); when a server goes down the checker probes it with a cheap query
 * (default `. NS`) over UDP through the stage's exchanger, on the backoff that ServerHealth
 * computes, until a probe succeeds. Probe timers live in the exchanger's deadline queue (its clock
 * is the one health uses, injectable in tests).
 */
import type { Logger } from 'pino';
import type { Counter, Gauge } from '../metrics/registry.js';
import type { Lane, Timed } from '../exchange/deadlines.js';
import type { Exchange, ExchangeFailure, ExchangeListener, Exchanger, Server } from '../exchange/exchanger.js';
import { HEADER_SIZE, QClass, QType, Rcode } from '../wire/constants.js';
import { encodeName } from '../wire/name.js';
import type { HealthOptions, ServerHealth } from './health.js';

export interface HealthTracked extends Server {
  readonly health: ServerHealth;
}

/** A query type given as a name (A, AAAA, NS, SOA, TXT, ...) or a number; undefined if unknown. */
export function qtypeNumber(type: string | number): number | undefined {
  if (typeof type === 'number') return Number.isInteger(type) && type > 0 && type < 65536 ? type : undefined;
  const t = type.toUpperCase();
  if (/^\d+$/.test(t)) return qtypeNumber(Number(t));
  if (/^TYPE\d+$/.test(t)) return qtypeNumber(Number(t.slice(4)));
  return (QType as Record<string, number>)[t];
}

/** The probe query: RD set, ID 0 (the exchanger puts a random one). */
export function probeMessage(name: string, type: string): { message: Buffer; questionEnd: number } {
  const qname = encodeName(name);
  const message = Buffer.alloc(HEADER_SIZE + qname.length + 4);
  message.writeUInt16BE(0x0100, 2);
  message.writeUInt16BE(1, 4);
  qname.copy(message, HEADER_SIZE);
  message.writeUInt16BE(qtypeNumber(type) ?? QType.NS, HEADER_SIZE + qname.length);
  message.writeUInt16BE(QClass.IN, HEADER_SIZE + qname.length + 2);
  return { message, questionEnd: message.length };
}

export interface HealthCheckerOptions {
  readonly exchanger: Exchanger;
  readonly health: HealthOptions;
  /** Timeout of one probe, ms. */
  readonly timeout: number;
  readonly logger: Logger;
  /** The word for a server in logs and metric labels: `upstream`. */
  readonly label: string;
  /** 1 when up, 0 when down, per server. */
  readonly healthyGauge: Gauge;
  /** Times each server was marked down. */
  readonly downCounter: Counter;
  readonly probesCounter: Counter;
  /** Called on every transition (after logs and metrics). */
  readonly onChange?: (key: string, state: 'up' | 'down') => void;
}

class ProbeEntry implements Timed, ExchangeListener {
  deadline = 0;
  heapIndex = -1;
  lane: Lane | undefined = undefined;
  lanePrev: Timed | undefined = undefined;
  laneNext: Timed | undefined = undefined;
  inFlight: Exchange | undefined;
  constructor(
    readonly checker: HealthChecker,
    readonly server: HealthTracked,
  ) {}
  onDeadline(): void {
    this.checker.probe(this);
  }
  onExchangeDone(_ex: Exchange, reply: Buffer | undefined, _failure: ExchangeFailure | undefined): void {
    this.inFlight = undefined;
    const rcode = reply ? reply[3]! & 0xf : -1;
    this.checker.probeDone(this, rcode === Rcode.NOERROR || rcode === Rcode.NXDOMAIN);
  }
}

export class HealthChecker {
  private readonly entries = new Map<string, ProbeEntry>();
  private readonly probe_: { message: Buffer; questionEnd: number };
  private closed = false;

  constructor(private readonly o: HealthCheckerOptions) {
    this.probe_ = probeMessage(o.health.probeName, o.health.probeType);
  }

  /** Track `server` (idempotent per server key). */
  add(server: HealthTracked): void {
    if (this.entries.has(server.key)) return;
    this.entries.set(server.key, new ProbeEntry(this, server));
    this.o.healthyGauge.set(server.health.up ? 1 : 0, { [this.o.label]: server.key });
  }

  /** Stop tracking servers not in `keep` (a reloaded list). */
  retain(keep: ReadonlySet<string>): void {
    for (const [key, e] of this.entries) {
      if (keep.has(key)) continue;
      this.o.exchanger.deadlines.remove(e);
      if (e.inFlight) this.o.exchanger.abandon(e.inFlight);
      this.entries.delete(key);
    }
  }

  private now(): number {
    return this.o.exchanger.deadlines.clock();
  }

  success(server: HealthTracked): void {
    if (server.health.consecutiveFailures === 0 && server.health.up) return;
    if (server.health.success(this.now())) this.cameUp(server);
  }

  failure(server: HealthTracked, reason: string): void {
    const now = this.now();
    if (!server.health.failure(now)) return;
    const label = this.o.label;
    this.o.logger.warn({ [label]: server.key, reason, failures: server.health.consecutiveFailures }, `${label} down`);
    this.o.healthyGauge.set(0, { [label]: server.key });
    this.o.downCounter.inc({ [label]: server.key });
    const e = this.entries.get(server.key);
    if (e && !this.closed) this.o.exchanger.deadlines.add(e, server.health.nextProbeAt);
    this.o.onChange?.(server.key, 'down');
  }

  /** Called when a probe is due. */
  probe(e: ProbeEntry): void {
    if (this.closed || e.server.health.up || e.inFlight) return;
    this.o.probesCounter.inc({ [this.o.label]: e.server.key });
    e.inFlight = this.o.exchanger.send(e.server, this.probe_.message, this.probe_.questionEnd, this.o.timeout, e);
  }

  probeDone(e: ProbeEntry, ok: boolean): void {
    if (this.closed || this.entries.get(e.server.key) !== e) return;
    const h = e.server.health;
    if (h.probeResult(ok, this.now())) {
      this.cameUp(e.server);
      return;
    }
    if (!h.up) {
      this.o.logger.debug({ [this.o.label]: e.server.key, nextProbeInMs: Math.round(h.nextProbeAt - this.now()) }, 'probe failed');
      this.o.exchanger.deadlines.add(e, h.nextProbeAt);
    }
  }

  private cameUp(server: HealthTracked): void {
    const label = this.o.label;
    this.o.logger.info({ [label]: server.key }, `${label} up`);
    this.o.healthyGauge.set(1, { [label]: server.key });
    const e = this.entries.get(server.key);
    if (e) this.o.exchanger.deadlines.remove(e);
    this.o.onChange?.(server.key, 'up');
  }

  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) {
      this.o.exchanger.deadlines.remove(e);
      if (e.inFlight) this.o.exchanger.abandon(e.inFlight);
    }
  }
}
