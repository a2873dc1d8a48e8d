/**
 * The masters stage: a query for a master zone (default `mesos`) goes to ALL masters at once.
 *
 * - The first NOERROR wins at once; the other exchanges are abandoned.
 * - SERVFAIL, REFUSED, FORMERR (any other rcode) never beat a master that may still answer.
 * - An NXDOMAIN is returned once a second master agrees, or when `nxdomainGrace` (default 50 ms)
 *   has passed, or when no other master may still answer (one master, or all others failed): one
 *   lagging master cannot make a fresh name vanish, one dead master cannot slow negative answers
 *   down by more than the grace.
 * - Every master failed, or the deadline passed with nothing good: SERVFAIL. The client always
 *   gets an answer within the deadline (one timer per query covers deadline and grace).
 *
 * Masters come from `servers` or from the master-list file (masters/list.ts), re-read when it
 * changes; queries in flight keep the list they started with.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Answer, Next, Query, Stage, StageContext, ZoneRoute } from '../chain/stage.js';
import { ConfigError, type MasterListError } from '../errors.js';
import type { ServerAddress } from '../exchange/address.js';
import { DeadlineQueue, type Clock } from '../exchange/deadlines.js';
import { Exchanger, type Exchange, type ExchangeFailure, type ExchangeListener, type Server } from '../exchange/exchanger.js';
import { createDropStats, createServerStats } from '../exchange/metrics.js';
import type { RandomSource } from '../exchange/random.js';
import type { Counter, CounterChild, Registry } from '../metrics/registry.js';
import { Rcode, RcodeName } from '../wire/constants.js';
import { RelayQuery } from '../upstream/relay.js';
import { assertNotSelf, findSelfServers } from '../upstream/self.js';
import { checkMastersConfig, type MastersConfig, type MastersConfigInput } from './config.js';
import { MasterListWatcher } from './list.js';

export const MASTERS_STAGE = 'masters';

export type MastersStageContext = StageContext & {
  readonly clock?: Clock;
  readonly random?: RandomSource;
  readonly localAddresses?: ReadonlySet<string>;
};

type Outcome = 'answered' | 'nxdomain_agreed' | 'nxdomain_grace' | 'nxdomain_last' | 'failed' | 'deadline' | 'no_masters' | 'bad_reply';

class MastersQuery extends RelayQuery implements ExchangeListener {
  private exchanges: Exchange[] = [];
  private pending = 0;
  private held: Buffer | undefined;
  private hardDeadline = 0;

  constructor(
    private readonly stage: MastersStage,
    query: Query,
  ) {
    super(query, stage.config.ednsUdpSize, stage.udpSize);
  }

  start(masters: readonly Server[]): Answer {
    const s = this.stage;
    const c = s.config;
    const now = s.deadlines.clock();
    this.hardDeadline = now + c.deadline;
    s.deadlines.add(this, this.hardDeadline);
    this.pending = masters.length;
    // One datagram for all: one ID, one copy of the message (none when it is already ours).
    s.exchanger.sendAll(masters, this.message, this.questionEnd, c.timeout, this, this.takeMessage(), now, this.exchanges);
    return this;
  }

  onExchangeDone(_ex: Exchange, reply: Buffer | undefined, _failure: ExchangeFailure | undefined): void {
    if (this.finished) return;
    this.pending--;
    const rcode = reply === undefined ? -1 : reply[3]! & 0xf;
    if (rcode === Rcode.NOERROR) {
      this.answer(reply!, 'answered');
      return;
    }
    if (rcode === Rcode.NXDOMAIN) {
      if (this.held !== undefined) {
        this.answer(this.held, 'nxdomain_agreed');
        return;
      }
      this.held = reply;
      if (this.pending === 0) {
        this.answer(reply!, 'nxdomain_last');
        return;
      }
      // Wait for a second opinion, at most the grace period (and never past the deadline).
      const s = this.stage;
      const graceEnd = s.deadlines.clock() + s.config.nxdomainGrace;
      if (graceEnd < this.hardDeadline) s.deadlines.add(this, graceEnd);
      return;
    }
    // A bad rcode or a failure: only decisive when nobody else may still answer.
    if (this.pending === 0) {
      if (this.held !== undefined) this.answer(this.held, 'nxdomain_last');
      else this.finish(this.errorAnswer(), 'failed');
    }
  }

  onDeadline(now: number): void {
    if (this.finished) return;
    if (this.held !== undefined) this.answer(this.held, now < this.hardDeadline - 0.5 ? 'nxdomain_grace' : 'deadline');
    else this.finish(this.errorAnswer(), 'deadline');
  }

  private answer(reply: Buffer, outcome: Outcome): void {
    const out = this.answerFrom(reply);
    if (out === undefined) this.finish(this.errorAnswer(), 'bad_reply');
    else this.finish(out, outcome);
  }

  private finish(answer: Buffer, outcome: Outcome): void {
    const s = this.stage;
    s.deadlines.remove(this);
    // Not emptied: the query is dropped once answered (setting an array's length is a runtime call).
    for (const ex of this.exchanges) s.exchanger.abandon(ex);
    s.count(outcome, answer[3]! & 0xf);
    if (outcome === 'failed' || outcome === 'deadline' || outcome === 'bad_reply') {
      s.logger.debug({ zone: this.query.route.zone, qname: this.query.qname, qtype: this.query.qtype, outcome }, 'masters failed');
    }
    this.settle(answer);
  }
}

export class MastersStage implements Stage {
  readonly name = MASTERS_STAGE;
  readonly routes: readonly ZoneRoute[];
  readonly deadlines: DeadlineQueue;
  readonly exchanger: Exchanger;
  readonly logger: Logger;
  readonly udpSize: number;
  /** `'masters'` (keys) when the list changes; `'masters-error'` (MasterListError) on a bad file. */
  readonly events = new EventEmitter();
  private masters: readonly Server[] = [];
  private readonly known = new Map<string, Server>();
  private readonly watcher: MasterListWatcher | undefined;
  private readonly metrics: Registry;
  private readonly queries: CounterChild;
  private readonly outcomes = new Map<Outcome, CounterChild>();
  private readonly responses: CounterChild[] = [];
  private readonly listErrors: Counter;

  constructor(
    readonly config: MastersConfig,
    ctx: MastersStageContext,
  ) {
    this.logger = ctx.logger;
    this.udpSize = ctx.udpMaxResponseSize;
    this.metrics = ctx.metrics;
    const m = ctx.metrics;
    this.deadlines = new DeadlineQueue(ctx.clock);
    this.exchanger = new Exchanger({
      sockets: config.sockets.count,
      socketMaxUses: config.sockets.maxUses,
      socketMaxAge: config.sockets.maxAge,
      tcpFallback: config.tcpFallback,
      ...(ctx.udpIo !== undefined ? { io: ctx.udpIo } : {}),
      drops: createDropStats(m, MASTERS_STAGE),
      logger: ctx.logger,
      ...(ctx.random ? { random: ctx.random } : {}),
      deadlines: this.deadlines,
    });
    this.queries = m.counter('hoplite_dns_masters_queries_total', 'Queries sent to the masters').labels({});
    this.listErrors = m.counter('hoplite_dns_masters_list_errors_total', 'Master-list file reads that failed (the last good list stays)');
    const count = m.gauge('hoplite_dns_masters_count', 'Masters in use');
    count.collect(() => count.set(this.masters.length));
    const active = config.servers.length > 0 || config.file !== '';
    this.routes = active ? Object.freeze(config.zones.map((zone) => Object.freeze({ zone, kind: 'masters' as const }))) : [];
    if (config.servers.length > 0) this.setMasters(config.servers);
    if (config.file !== '') {
      this.watcher = new MasterListWatcher({
        file: config.file,
        defaultPort: config.port,
        pollInterval: config.pollInterval,
        logger: ctx.logger,
        check: (list) => {
          const hits = findSelfServers(list.map((server, i) => ({ key: `${config.file}[${i}]`, server })), ctx.listenAddresses, ctx.localAddresses);
          return hits.length > 0 ? `lists our own listen address ${hits.map((h) => h.server).join(', ')}` : undefined;
        },
        onList: (list) => {
          this.setMasters(list);
          this.logger.info({ masters: list.map((s) => s.key), file: config.file }, 'masters loaded');
        },
        onError: (err) => this.listFailed(err),
      });
    }
  }

  /** The masters in use (keys). */
  get masterKeys(): string[] {
    return this.masters.map((s) => s.key);
  }

  async start(): Promise<void> {
    await this.watcher?.start();
  }

  private setMasters(list: readonly ServerAddress[]): void {
    this.masters = Object.freeze(
      list.map((a) => {
        let s = this.known.get(a.key);
        if (s === undefined) {
          s = { ...a, stats: createServerStats(this.metrics, MASTERS_STAGE, 'master', a.key) };
          this.known.set(a.key, s);
        }
        return s;
      }),
    );
    this.events.emit('masters', this.masterKeys);
  }

  private listFailed(err: MasterListError): void {
    this.listErrors.inc();
    this.logger.error({ err, file: this.config.file, masters: this.masterKeys }, 'master list not usable; keeping the last good list');
    this.events.emit('masters-error', err);
  }

  handle(query: Query, next: Next): Answer {
    if (query.route.kind !== 'masters') return next(query);
    this.queries.inc();
    const mq = new MastersQuery(this, query);
    if (this.masters.length === 0) {
      this.count('no_masters', Rcode.SERVFAIL);
      return mq.errorAnswer();
    }
    return mq.start(this.masters);
  }

  count(outcome: Outcome, rcode: number): void {
    let c = this.outcomes.get(outcome);
    if (c === undefined) {
      c = this.metrics
        .counter('hoplite_dns_masters_outcomes_total', 'How master queries ended: answered, nxdomain_agreed, nxdomain_grace, nxdomain_last, failed, deadline, no_masters, bad_reply')
        .labels({ outcome });
      this.outcomes.set(outcome, c);
    }
    c.inc();
    let r = this.responses[rcode];
    if (r === undefined) {
      r = this.metrics.counter('hoplite_dns_masters_responses_total', 'Answers given to clients, by rcode').labels({ rcode: RcodeName[rcode] ?? String(rcode) });
      this.responses[rcode] = r;
    }
    r.inc();
  }

  async close(): Promise<void> {
    this.watcher?.close();
    await this.exchanger.close();
    this.deadlines.close();
  }
}

/**
 * The masters stage for `route.kind` `masters`. `config` is the server config (its `masters` key
 * is read: a list of `ip[:port]`, or { servers | file, zones, timeout, deadline, nxdomainGrace,
 * ... }). Throws ConfigError (every problem) or SelfForwardError. Call `start()` to read the
 * master-list file (createServer does).
 */
export function createMastersStage(config: { readonly masters?: MastersConfigInput | readonly string[] } | Record<string, unknown>, ctx: MastersStageContext): MastersStage {
  const { config: cfg, problems } = checkMastersConfig(config);
  if (problems.length > 0) throw new ConfigError(problems);
  assertNotSelf(
    cfg.servers.map((server, i) => ({ key: `masters.servers[${i}]`, server })),
    ctx.listenAddresses,
    ctx.localAddresses,
  );
  return new MastersStage(cfg, ctx);
}

/** A StageFactory for createServer's `stages` option. */
export function mastersStageFactory(config: { readonly masters?: MastersConfigInput | readonly string[] } | Record<string, unknown>): { readonly name: string; create(ctx: StageContext): Stage } {
  return { name: MASTERS_STAGE, create: (ctx) => createMastersStage(config, ctx) };
}
