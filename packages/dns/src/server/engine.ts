/**
 * The query path shared by UDP and TCP: parse once, rename and route once, run the chain, fit
 * the answer to the client, count. Never throws: a malformed query gets FORMERR/NOTIMP/BADVERS
 * (or is dropped when its header cannot be read), a stage exception gets SERVFAIL, too many
 * queries in flight get REFUSED.
 */
import { hrtime } from 'node:process';
import type { Logger } from 'pino';
import type { Answer, Next, Query, RouteKind, Transport } from '../chain/stage.js';
import { Deferred, type DeferredSink, type DeferredTarget } from '../chain/deferred.js';
import type { CounterChild, HistogramChild, Registry } from '../metrics/registry.js';
import type { Router } from '../router/router.js';
import { Rcode, RcodeName, TCP_MAX_SIZE, UDP_MIN_SIZE } from '../wire/constants.js';
import { QueryParser, Verdict } from '../wire/query.js';
import { errorResponse, fitResponse } from '../wire/response.js';

export interface EngineOptions {
  readonly logger: Logger;
  readonly metrics: Registry;
  readonly udpMaxResponseSize: number;
  readonly maxInFlight: number;
}

const ROUTES: readonly (RouteKind | 'none')[] = ['local', 'masters', 'forward', 'upstream', 'none'];
/** Index of a route kind in ROUTES (a switch: a keyed load with varying keys goes megamorphic). */
function routeIndex(kind: string): number {
  switch (kind) {
    case 'local':
      return 0;
    case 'masters':
      return 1;
    case 'forward':
      return 2;
    case 'upstream':
      return 3;
    default:
      return 4;
  }
}
const TRANSPORTS: readonly Transport[] = ['udp', 'tcp'];

/**
 * The result of processing one message: the answer now (a Buffer), `PENDING` (the answer goes to
 * the sink later), or `undefined` (dropped, nothing to answer).
 */
export type Outcome = Buffer | typeof PENDING | undefined;
export const PENDING = null;

/** Where answers that complete later are delivered (the UDP socket, the TCP connection). */
export type ReplySink = DeferredSink;

export class Engine implements DeferredTarget {
  /** The composed chain; until createServer sets it, every query is answered SERVFAIL. */
  chain: Next;
  router: Router | undefined;
  inFlight = 0;
  closing = false;
  private readonly udpSize: number;
  private readonly maxInFlight: number;
  private readonly logger: Logger;
  private readonly metrics: Registry;
  private readonly counts: Array<CounterChild | undefined> = [];
  private readonly durations: Array<HistogramChild | undefined> = [];
  private readonly dropped = new Map<string, CounterChild>();
  private readonly rejected = new Map<string, CounterChild>();
  private readonly refusedInFlight: CounterChild[];
  private readonly stageErrors: CounterChild[];
  private idleWaiters: Array<() => void> = [];
  private readonly parser = new QueryParser();

  constructor(options: EngineOptions) {
    this.logger = options.logger;
    this.metrics = options.metrics;
    this.udpSize = options.udpMaxResponseSize;
    this.maxInFlight = options.maxInFlight;
    this.chain = (q) => errorResponse(q, Rcode.SERVFAIL, this.udpSize);
    const m = options.metrics;
    // Register the families up front so that they render (with HELP) before the first query.
    m.counter('hoplite_dns_server_queries_total', 'Queries answered, by transport, route and rcode');
    m.histogram('hoplite_dns_server_query_duration_seconds', 'Time from reading a query to its answer, by transport and route');
    m.counter('hoplite_dns_server_dropped_total', 'Messages dropped unanswered (header unreadable, or not a query), by transport and reason');
    m.counter('hoplite_dns_server_rejected_total', 'Malformed or unsupported queries answered FORMERR/NOTIMP/BADVERS, by transport, rcode and reason');
    const refused = m.counter('hoplite_dns_server_refused_inflight_total', 'Queries answered REFUSED because maxInFlight queries were in flight');
    this.refusedInFlight = TRANSPORTS.map((t) => refused.labels({ transport: t }));
    const errors = m.counter('hoplite_dns_server_stage_errors_total', 'Stage exceptions (answered SERVFAIL)');
    this.stageErrors = TRANSPORTS.map((t) => errors.labels({ transport: t }));
    const g = m.gauge('hoplite_dns_server_in_flight', 'Queries waiting on another server');
    g.collect(() => g.set(this.inFlight));
  }

  /** Resolves when no query is in flight. */
  whenIdle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Process one message from a client. `transport` sets the response size limit: TCP 65535,
   * UDP max(512, the client's EDNS size) capped by udp.maxResponseSize.
   */
  process(raw: Buffer, transport: Transport, address: string, port: number, sink: ReplySink): Outcome {
    const receivedAt = hrtime.bigint();
    const t = transport === 'udp' ? 0 : 1;
    const p = this.parser;
    const verdict = p.parse(raw);
    if (verdict !== Verdict.OK) {
      if (verdict === Verdict.DROP) {
        this.countDropped(transport, p.reason);
        return undefined;
      }
      this.countRejected(transport, p.rcode, p.reason);
      const resp = errorResponse({ id: p.id, flags: p.flags, raw, questionEnd: p.questionEnd, edns: p.edns }, p.rcode, this.udpSize);
      this.count(t, 4, resp, receivedAt);
      return resp;
    }
    const lower = p.lower;
    const router = this.router;
    const lookupName = router === undefined ? lower : router.rename(lower);
    const edns = p.edns;
    const flags = p.flags;
    let maxResponseSize = TCP_MAX_SIZE;
    if (t === 0) {
      maxResponseSize = edns === undefined ? UDP_MIN_SIZE : edns.udpSize < this.udpSize ? edns.udpSize : this.udpSize;
    }
    const q: Query = {
      raw,
      id: p.id,
      flags,
      opcode: p.opcode,
      recursionDesired: (flags & 0x0100) !== 0,
      checkingDisabled: (flags & 0x0010) !== 0,
      qname: p.qname,
      lookupName,
      renamed: lookupName !== lower,
      qtype: p.qtype,
      qclass: p.qclass,
      questionEnd: p.questionEnd,
      edns,
      transport,
      maxResponseSize,
      clientAddress: address,
      clientPort: port,
      receivedAt,
      route: router === undefined ? NO_ROUTE : router.route(lookupName),
    };
    if (this.closing || (this.inFlight >= this.maxInFlight && q.route.kind !== 'local')) {
      if (!this.closing) this.refusedInFlight[t]!.inc();
      return this.finish(q, errorResponse(q, Rcode.REFUSED, this.udpSize));
    }
    let ans: Answer;
    try {
      ans = this.chain(q);
    } catch (err) {
      return this.finish(q, this.stageFailed(q, err));
    }
    if (ans instanceof Uint8Array) return this.finish(q, ans);
    if (ans instanceof Deferred) {
      // The built-in relay stages: delivered to deferredDone, no Promise.
      const value = ans.value;
      if (value !== undefined) return this.finish(q, value);
      this.inFlight++;
      ans.deliverTo(this, q, sink);
      return PENDING;
    }
    if (ans === null || typeof ans !== 'object' || typeof (ans as Promise<Buffer>).then !== 'function') {
      return this.finish(q, this.stageFailed(q, new TypeError('stage returned neither a Buffer nor a Promise')));
    }
    this.inFlight++;
    ans.then(
      (b) => {
        sink.reply(q, this.finish(q, b instanceof Uint8Array ? b : this.stageFailed(q, new TypeError('stage resolved to a non-Buffer'))));
        this.settled();
      },
      (err: unknown) => {
        sink.reply(q, this.finish(q, this.stageFailed(q, err)));
        this.settled();
      },
    );
    return PENDING;
  }

  /** A Deferred answer settled (see process). */
  deferredDone(q: Query, sink: ReplySink, answer: Buffer): void {
    sink.reply(q, this.finish(q, answer instanceof Uint8Array ? answer : this.stageFailed(q, new TypeError('stage resolved to a non-Buffer'))));
    this.settled();
  }

  private settled(): void {
    if (--this.inFlight === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private stageFailed(q: Query, err: unknown): Buffer {
    this.stageErrors[q.transport === 'udp' ? 0 : 1]!.inc();
    this.logger.error({ err, route: q.route.kind, zone: q.route.zone, qtype: q.qtype }, 'stage failed');
    return errorResponse(q, Rcode.SERVFAIL, this.udpSize);
  }

  private finish(q: Query, resp: Buffer): Buffer {
    let out = resp;
    if (out.length < 12) out = this.stageFailed(q, new TypeError('stage answered fewer than 12 bytes'));
    if (out.length > q.maxResponseSize) out = fitResponse(out, q.maxResponseSize);
    this.count(q.transport === 'udp' ? 0 : 1, routeIndex(q.route.kind), out, q.receivedAt);
    return out;
  }

  private count(t: number, route: number, resp: Buffer, receivedAt: bigint): void {
    const rcode = resp[3]! & 0xf;
    const i = (t * 5 + route) * 16 + rcode;
    let c = this.counts[i];
    if (c === undefined) {
      c = this.metrics
        .counter('hoplite_dns_server_queries_total', '')
        .labels({ transport: TRANSPORTS[t]!, route: ROUTES[route]!, rcode: RcodeName[rcode] ?? String(rcode) });
      this.counts[i] = c;
    }
    c.inc();
    const j = t * 5 + route;
    let h = this.durations[j];
    if (h === undefined) {
      h = this.metrics.histogram('hoplite_dns_server_query_duration_seconds', '').labels({ transport: TRANSPORTS[t]!, route: ROUTES[route]! });
      this.durations[j] = h;
    }
    h.observe(Number(hrtime.bigint() - receivedAt) / 1e9);
  }

  countDropped(transport: Transport, reason: string): void {
    const k = `${transport}\0${reason}`;
    let c = this.dropped.get(k);
    if (c === undefined) {
      c = this.metrics.counter('hoplite_dns_server_dropped_total', '').labels({ transport, reason });
      this.dropped.set(k, c);
    }
    c.inc();
  }

  private countRejected(transport: Transport, rcode: number, reason: string): void {
    const k = `${transport}\0${rcode}\0${reason}`;
    let c = this.rejected.get(k);
    if (c === undefined) {
      c = this.metrics.counter('hoplite_dns_server_rejected_total', '').labels({ transport, rcode: RcodeName[rcode] ?? String(rcode), reason });
      this.rejected.set(k, c);
    }
    c.inc();
  }
}

const NO_ROUTE = Object.freeze({ kind: 'upstream' as RouteKind, zone: '' });
