/**
 * The forward stage: queries routed `forward` (a configured forward zone) go to that zone's
 * servers, queries routed `upstream` (everything no zone claimed) to the upstream resolvers.
 *
 * A query asks servers in the policy's order (upstream/policy.ts), `parallelism` at once for
 * `parallel`. The first GOOD answer (NOERROR, NXDOMAIN) wins at once and the other exchanges are
 * abandoned. A bad answer (SERVFAIL, REFUSED, FORMERR, NOTIMP, ...) never beats a server that may
 * still answer: it starts the next server instead. When every server failed, or the deadline
 * passed, the client gets SERVFAIL. With no server configured for the route, the query goes on
 * down the chain (the server answers REFUSED).
 *
 * Health: timeouts, network errors and REFUSED count as failures, good answers as successes;
 * SERVFAIL/FORMERR/NOTIMP say more about the name than the server and count as neither.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { Answer, Next, Query, Stage, StageContext, ZoneRoute } from '../chain/stage.js';
import { ConfigError } from '../errors.js';
import type { ServerAddress } from '../exchange/address.js';
import { DeadlineQueue, type Clock } from '../exchange/deadlines.js';
import { Exchanger, type Exchange, type ExchangeFailure, type ExchangeListener } from '../exchange/exchanger.js';
import { createDropStats, createServerStats } from '../exchange/metrics.js';
import { CryptoRandom, type RandomSource } from '../exchange/random.js';
import { HealthChecker, type HealthTracked } from '../health/checker.js';
import { ServerHealth } from '../health/health.js';
import type { CounterChild, Registry } from '../metrics/registry.js';
import { Rcode, RcodeName } from '../wire/constants.js';
import { checkForwardConfig, type ForwardConfig, type ForwardConfigInput, type ForwardPolicy } from './config.js';
import { concurrency, orderServers } from './policy.js';
import { RelayQuery } from './relay.js';
import { assertNotSelf } from './self.js';

export const FORWARD_STAGE = 'forward';

/** The stage context, plus seams for tests. */
export type ForwardStageContext = StageContext & {
  /** Clock for deadlines and health (ms, monotonic). Default performance.now. */
  readonly clock?: Clock;
  readonly random?: RandomSource;
  /** This host's addresses (for the refuse-ourselves check with 0.0.0.0 / :: listeners). */
  readonly localAddresses?: ReadonlySet<string>;
};

type UpstreamServer = HealthTracked;

type Outcome = 'answered' | 'failed' | 'deadline' | 'all_down' | 'bad_reply';

class Group {
  readonly queries: CounterChild;
  private readonly outcomes = new Map<Outcome, CounterChild>();
  private readonly responses: CounterChild[] = [];
  constructor(
    readonly route: 'upstream' | 'forward',
    readonly zone: string,
    readonly servers: readonly UpstreamServer[],
    private readonly registry: Registry,
  ) {
    this.queries = registry.counter('hoplite_dns_forward_queries_total', 'Queries forwarded, by route and zone').labels({ route, zone });
  }
  outcome(o: Outcome): CounterChild {
    let c = this.outcomes.get(o);
    if (c === undefined) {
      c = this.registry.counter('hoplite_dns_forward_outcomes_total', 'How forwarded queries ended: answered, failed (every server failed), deadline, all_down, bad_reply').labels({ route: this.route, zone: this.zone, outcome: o });
      this.outcomes.set(o, c);
    }
    return c;
  }
  response(rcode: number): CounterChild {
    let c = this.responses[rcode];
    if (c === undefined) {
      c = this.registry.counter('hoplite_dns_forward_responses_total', 'Answers given to clients, by route, zone and rcode').labels({ route: this.route, zone: this.zone, rcode: RcodeName[rcode] ?? String(rcode) });
      this.responses[rcode] = c;
    }
    return c;
  }
}

/** ForwardQuery.order until start(): shared, so that no array is made per query for it. */
const NO_SERVERS: readonly UpstreamServer[] = Object.freeze([]);

class ForwardQuery extends RelayQuery implements ExchangeListener {
  private order: readonly UpstreamServer[] = NO_SERVERS;
  private nextServer = 0;
  /** Every exchange started (abandon() ignores the finished ones), and how many are still running.
   *  A query sent to one server at a time keeps its first exchange in `first` (no array); the
   *  others (the next servers, or all of a parallel send) go to `exchanges`. */
  private first: Exchange | undefined = undefined;
  private exchanges: Exchange[] | undefined = undefined;
  private running = 0;

  constructor(
    private readonly stage: ForwardStage,
    private readonly group: Group,
    query: Query,
  ) {
    super(query, stage.config.upstreams.ednsUdpSize, stage.udpSize);
  }

  start(order: readonly UpstreamServer[], parallel: number, now: number): Answer {
    this.order = order;
    const s = this.stage;
    s.deadlines.add(this, now + s.config.upstreams.deadline);
    const n = parallel < order.length ? parallel : order.length;
    if (n === 1) {
      this.launch(now);
    } else {
      // One datagram for the first `n` (one ID, one copy of the message), as the masters stage.
      this.running = n;
      this.nextServer = n;
      this.exchanges = [];
      s.exchanger.sendAll(order, this.message, this.questionEnd, s.config.upstreams.timeout, this, this.takeMessage(), now, this.exchanges, n);
    }
    return this;
  }

  private launch(now?: number): void {
    const server = this.order[this.nextServer++]!;
    const s = this.stage;
    this.running++;
    const ex = s.exchanger.send(server, this.message, this.questionEnd, s.config.upstreams.timeout, this, 0, this.takeMessage(), now);
    if (this.first === undefined) this.first = ex;
    else if (this.exchanges === undefined) this.exchanges = [ex];
    else this.exchanges.push(ex);
  }

  onExchangeDone(ex: Exchange, reply: Buffer | undefined, failure: ExchangeFailure | undefined): void {
    if (this.finished) return;
    this.running--;
    const server = ex.server as UpstreamServer;
    const s = this.stage;
    if (reply !== undefined) {
      const rcode = reply[3]! & 0xf;
      if (rcode === Rcode.NOERROR || rcode === Rcode.NXDOMAIN) {
        s.health.success(server);
        const answer = this.answerFrom(reply);
        if (answer === undefined) {
          this.finish(this.errorAnswer(), 'bad_reply');
          return;
        }
        this.finish(answer, 'answered');
        return;
      }
      if (rcode === Rcode.REFUSED) s.health.failure(server, 'refused');
    } else if (failure !== 'closed') {
      s.health.failure(server, failure ?? 'error');
    }
    // A bad answer or a failure: the next server, if any; SERVFAIL when nobody is left.
    if (this.nextServer < this.order.length) this.launch();
    else if (this.running === 0) this.finish(this.errorAnswer(), 'failed');
  }

  onDeadline(): void {
    if (this.finished) return;
    this.finish(this.errorAnswer(), 'deadline');
  }

  private finish(answer: Buffer, outcome: Outcome): void {
    const s = this.stage;
    s.deadlines.remove(this);
    // Not emptied: the query is dropped once answered (setting an array's length is a runtime call).
    if (this.first !== undefined) s.exchanger.abandon(this.first);
    const exchanges = this.exchanges;
    if (exchanges !== undefined) for (let i = 0; i < exchanges.length; i++) s.exchanger.abandon(exchanges[i]!);
    const g = this.group;
    g.outcome(outcome).inc();
    g.response(answer[3]! & 0xf).inc();
    if (outcome !== 'answered') {
      s.logger.debug({ route: g.route, zone: g.zone, qname: this.query.qname, qtype: this.query.qtype, outcome }, 'forward failed');
    }
    this.settle(answer);
  }
}

export class ForwardStage implements Stage {
  readonly name = FORWARD_STAGE;
  /** `'health'` (key, 'up' | 'down') on every upstream health transition. */
  readonly events = new EventEmitter();
  readonly routes: readonly ZoneRoute[];
  readonly deadlines: DeadlineQueue;
  readonly exchanger: Exchanger;
  readonly health: HealthChecker;
  readonly logger: Logger;
  readonly udpSize: number;
  private readonly random: RandomSource;
  private readonly upstream: Group;
  private readonly zones = new Map<string, Group>();
  private readonly policy: ForwardPolicy;
  private readonly parallel: number;
  private readonly servers = new Map<string, UpstreamServer>();

  constructor(
    readonly config: ForwardConfig,
    ctx: ForwardStageContext,
  ) {
    const u = config.upstreams;
    this.logger = ctx.logger;
    this.udpSize = ctx.udpMaxResponseSize;
    this.random = ctx.random ?? new CryptoRandom();
    this.policy = u.policy;
    this.parallel = concurrency(u.policy, u.parallelism);
    this.deadlines = new DeadlineQueue(ctx.clock);
    const m = ctx.metrics;
    this.exchanger = new Exchanger({
      sockets: u.sockets.count,
      socketMaxUses: u.sockets.maxUses,
      socketMaxAge: u.sockets.maxAge,
      tcpFallback: u.tcpFallback,
      ...(ctx.udpIo !== undefined ? { io: ctx.udpIo } : {}),
      drops: createDropStats(m, FORWARD_STAGE),
      logger: ctx.logger,
      random: this.random,
      deadlines: this.deadlines,
      onAbandonedOutcome: (server, reply) => this.lateOutcome(server as UpstreamServer, reply),
    });
    this.health = new HealthChecker({
      exchanger: this.exchanger,
      health: u.health,
      timeout: u.timeout,
      logger: ctx.logger,
      label: 'upstream',
      healthyGauge: m.gauge('hoplite_dns_forward_upstream_healthy', 'Upstream health: 1 up, 0 down (probed until back)'),
      downCounter: m.counter('hoplite_dns_forward_upstream_down_total', 'Times each upstream was marked down'),
      probesCounter: m.counter('hoplite_dns_forward_upstream_probes_total', 'Health probes sent to each upstream'),
      onChange: (key, state) => this.events.emit('health', key, state),
    });
    const server = (a: ServerAddress): UpstreamServer => {
      let s = this.servers.get(a.key);
      if (s === undefined) {
        s = { ...a, stats: createServerStats(m, FORWARD_STAGE, 'upstream', a.key), health: new ServerHealth(u.health) };
        this.servers.set(a.key, s);
        this.health.add(s);
      }
      return s;
    };
    this.upstream = new Group('upstream', '', u.servers.map(server), m);
    for (const z of config.forwardZones) this.zones.set(z.zone, new Group('forward', z.zone, z.servers.map(server), m));
    this.routes = Object.freeze(config.forwardZones.map((z) => Object.freeze({ zone: z.zone, kind: 'forward' as const })));
  }

  handle(query: Query, next: Next): Answer {
    const route = query.route;
    let group: Group | undefined;
    if (route.kind === 'upstream') group = this.upstream;
    else if (route.kind === 'forward') group = this.zones.get(route.zone);
    if (group === undefined || group.servers.length === 0) return next(query);
    group.queries.inc();
    const now = this.deadlines.clock();
    const order = orderServers(this.policy, group.servers, this.random, now);
    const fq = new ForwardQuery(this, group, query);
    if (order.length === 0) {
      // Every server is down: fail fast; probes bring them back.
      group.outcome('all_down').inc();
      group.response(Rcode.SERVFAIL).inc();
      return fq.errorAnswer();
    }
    return fq.start(order, this.parallel, now);
  }

  /** Health from exchanges that lost the race: a late good reply is a success, a timeout a failure. */
  private lateOutcome(server: UpstreamServer, reply: Buffer | undefined): void {
    if (reply === undefined) {
      this.health.failure(server, 'timeout');
      return;
    }
    const rcode = reply[3]! & 0xf;
    if (rcode === Rcode.NOERROR || rcode === Rcode.NXDOMAIN) this.health.success(server);
    else if (rcode === Rcode.REFUSED) this.health.failure(server, 'refused');
  }

  /** Every distinct server (upstreams and forward-zone servers), for tests and status pages. */
  serverStates(): Array<{ key: string; state: 'up' | 'down'; consecutiveFailures: number }> {
    return [...this.servers.values()].map((s) => ({ key: s.key, state: s.health.state, consecutiveFailures: s.health.consecutiveFailures }));
  }

  async close(): Promise<void> {
    this.health.close();
    await this.exchanger.close();
    this.deadlines.close();
  }
}

/**
 * The forward stage for `route.kind` `upstream` and `forward`. `config` is the server config's
 * `{ upstreams, forwardZones }` (other keys are ignored). Throws ConfigError (every problem) or
 * SelfForwardError (a server is one of ctx.listenAddresses).
 */
export function createForwardStage(config: ForwardConfigInput | Record<string, unknown>, ctx: ForwardStageContext): ForwardStage {
  const { config: cfg, problems } = checkForwardConfig(config);
  if (problems.length > 0) throw new ConfigError(problems);
  const servers = [
    ...cfg.upstreams.servers.map((server, i) => ({ key: `upstreams.servers[${i}]`, server })),
    ...cfg.forwardZones.flatMap((z) => z.servers.map((server, i) => ({ key: `forwardZones.${z.zone}[${i}]`, server }))),
  ];
  assertNotSelf(servers, ctx.listenAddresses, ctx.localAddresses);
  return new ForwardStage(cfg, ctx);
}

/** A StageFactory for createServer's `stages` option. */
export function forwardStageFactory(config: ForwardConfigInput | Record<string, unknown>): { readonly name: string; create(ctx: StageContext): Stage } {
  return { name: FORWARD_STAGE, create: (ctx) => createForwardStage(config, ctx) };
}
