/**
 * createServer: validate the config, bind every listen address (UDP + TCP), create the stages
 * (local zones first, then masters and forward), compose the router and the chain once, start.
 */
import { pino, type Logger } from 'pino';
import type { BoundAddress, Query, Stage, StageContext } from './chain/stage.js';
import { collectRoutes, composeChain, refusedTerminal } from './chain/chain.js';
import { validateServerConfig, type ServerConfig, type ServerConfigInput } from './config.js';
import { ConfigError, HopliteDnsError, StageError } from './errors.js';
import { LocalStage } from './local/stage.js';
import { readyZones } from './local/sources.js';
import { resolveUdpIo, type UdpEndpoint } from './io/udp.js';
import { Registry, type CounterChild } from './metrics/registry.js';
import { Router } from './router/router.js';
import { Engine, PENDING, type ReplySink } from './server/engine.js';
import { bindAll, closeTcp, type Listener, type UdpWiring } from './server/listen.js';
import { TcpConnections } from './server/tcp.js';
import { mastersStageFactory } from './masters/stage.js';
import { forwardStageFactory } from './upstream/forward.js';
import { cacheStageFactory } from './cache/stage.js';

/** Creates a stage once the listeners are bound. */
export interface StageFactory {
  /** The stage name (config key, log `component`, metric label). */
  readonly name: string;
  create(ctx: StageContext): Stage | Promise<Stage>;
}

export interface ServerOptions {
  /** A pino logger (silent by default); stages get children with `component` set. */
  readonly logger?: Logger;
  /**
   * The stages after the local zones, in order. Default: the masters stage (config `masters`)
   * then the forward stage (config `upstreams`, `forwardZones`); each is inert without its config.
   * Queries no stage answers get REFUSED.
   */
  readonly stages?: readonly StageFactory[];
  /** A registry to add the metrics to (default: a new one, exposed as `server.metrics`). */
  readonly metrics?: Registry;
}

export interface DnsServer {
  /** The validated, frozen config. */
  readonly config: ServerConfig;
  /** Every bound address: one UDP and one TCP entry per listen address, with the real port. */
  addresses(): readonly BoundAddress[];
  readonly metrics: Registry;
  /** The stages in chain order (local first). */
  readonly stages: readonly Stage[];
  /** Queries waiting on another server right now. */
  readonly inFlight: number;
  /** Open TCP connections right now. */
  readonly tcpConnections: number;
  /**
   * Graceful stop: stop accepting TCP connections, answer new queries REFUSED, wait for queries in
   * flight (up to `timeoutMs`, default config.shutdownTimeoutMs), then close every socket and stage.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
}

const SILENT = pino({ level: 'silent' });

export async function createServer(config: ServerConfigInput = {}, options: ServerOptions = {}): Promise<DnsServer> {
  const cfg = validateServerConfig(config);
  const logger = options.logger ?? SILENT;
  const metrics = options.metrics ?? new Registry();
  const log = logger.child({ component: 'server' });
  const engine = new Engine({
    logger: log,
    metrics,
    udpMaxResponseSize: cfg.udp.maxResponseSize,
    maxInFlight: cfg.maxInFlight,
  });
  const tcp = new TcpConnections(engine, cfg.tcp, log, metrics);
  let udpIo: 'native' | 'dgram';
  try {
    udpIo = resolveUdpIo(cfg.udp.io);
  } catch (err) {
    throw new ConfigError([{ key: 'udp.io', value: cfg.udp.io, expected: `"auto" or "dgram" (${(err as Error).message})` }]);
  }
  const listeners = await bindAll(cfg.listen, (s) => tcp.accept(s), udpWiring(udpIo, engine, log, metrics));
  const bound: BoundAddress[] = [];
  for (const l of listeners) {
    bound.push(Object.freeze({ transport: 'udp', address: l.address, port: l.port, family: l.family }));
    bound.push(Object.freeze({ transport: 'tcp', address: l.address, port: l.port, family: l.family }));
  }
  Object.freeze(bound);

  const ctxFor = (name: string): StageContext =>
    Object.freeze({
      logger: logger.child({ component: name }),
      metrics,
      listenAddresses: bound,
      udpMaxResponseSize: cfg.udp.maxResponseSize,
      udpIo,
    });

  const stages: Stage[] = [];
  const server = new Server(cfg, listeners, bound, metrics, stages, engine, tcp, log);
  try {
    const zones = cfg.ready ? [...readyZones(), ...cfg.localZones] : [...cfg.localZones];
    const localCtx = ctxFor('local');
    stages.push(
      new LocalStage(zones, {
        logger: localCtx.logger,
        metrics,
        udpMaxResponseSize: cfg.udp.maxResponseSize,
        maxCacheEntries: cfg.localCacheEntries,
      }),
    );
    const factories = options.stages ?? [
      mastersStageFactory({ masters: cfg.masters }),
      forwardStageFactory({ upstreams: cfg.upstreams, forwardZones: cfg.forwardZones }),
    ];
    // The cache (config `cache`) goes right after the local zones, before every other stage (also
    // with custom `stages`); `cache: false` leaves it out of the chain entirely.
    const chained = cfg.cache.enabled ? [cacheStageFactory(cfg.cache), ...factories] : factories;
    for (const f of chained) {
      try {
        stages.push(await f.create(ctxFor(f.name)));
      } catch (err) {
        // Our own coded errors (ConfigError, SelfForwardError, ...) keep their code.
        throw err instanceof HopliteDnsError ? err : new StageError(f.name, err);
      }
    }
    for (const s of stages) {
      try {
        await s.start?.();
      } catch (err) {
        throw err instanceof HopliteDnsError ? err : new StageError(s.name, err);
      }
    }
  } catch (err) {
    await server.close({ timeoutMs: 0 });
    throw err;
  }
  engine.router = new Router(collectRoutes(stages), { renames: cfg.renames });
  engine.chain = composeChain(stages, refusedTerminal(cfg.udp.maxResponseSize));
  log.info(
    {
      listen: bound.filter((b) => b.transport === 'udp').map((b) => `${b.address}:${b.port}`),
      stages: stages.map((s) => s.name),
      udpIo,
      zones: engine.router.zones(),
    },
    'dns server started',
  );
  return server;
}

/**
 * Resolves when no UDP answer waits in a listener's send queue (native: sends queued for the
 * current tick; dgram: only when the socket buffer was full). Polled, so that answers need no send
 * callback.
 */
async function udpSendQueuesEmpty(listeners: readonly Listener[]): Promise<void> {
  while (listeners.some((l) => l.udp.queued() > 0)) await new Promise((resolve) => setTimeout(resolve, 1));
}

function udpWiring(io: 'native' | 'dgram', engine: Engine, log: Logger, metrics: Registry): UdpWiring {
  const failed = metrics.counter('hoplite_dns_server_udp_send_failed_total', 'UDP answers the kernel did not take (e.g. EAGAIN: socket buffer full), by error code');
  const byCode = new Map<string, CounterChild>();
  return {
    io,
    handler(endpoint: () => UdpEndpoint) {
      // Answers that complete later go back through this sink, to the client's address and port.
      const sink: ReplySink = {
        reply(q: Query, resp: Buffer): void {
          try {
            endpoint().send(resp, q.clientPort, q.clientAddress);
          } catch {
            // The socket is closed: nothing to answer with.
          }
        },
      };
      return (msg: Buffer, address: string, port: number): void => {
        const out = engine.process(msg, 'udp', address, port, sink);
        if (out === undefined || out === PENDING) return;
        try {
          endpoint().send(out, port, address);
        } catch {
          // The socket is closed: nothing to answer with.
        }
      };
    },
    onError(err: NodeJS.ErrnoException): void {
      log.warn({ err }, 'udp socket error');
    },
    onSendFailed(code: string, count: number): void {
      let c = byCode.get(code);
      if (c === undefined) {
        c = failed.labels({ code });
        byCode.set(code, c);
      }
      c.inc(count);
    },
  };
}

class Server implements DnsServer {
  private closed: Promise<void> | undefined;

  constructor(
    readonly config: ServerConfig,
    private readonly listeners: readonly Listener[],
    private readonly bound: readonly BoundAddress[],
    readonly metrics: Registry,
    readonly stages: readonly Stage[],
    private readonly engine: Engine,
    private readonly tcp: TcpConnections,
    private readonly log: Logger,
  ) {}

  addresses(): readonly BoundAddress[] {
    return this.closed ? [] : this.bound;
  }

  get inFlight(): number {
    return this.engine.inFlight;
  }

  get tcpConnections(): number {
    return this.tcp.size;
  }

  close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closed ??= this.doClose(options.timeoutMs ?? this.config.shutdownTimeoutMs);
    return this.closed;
  }

  private async doClose(timeoutMs: number): Promise<void> {
    this.engine.closing = true;
    const stopAccepting = Promise.all(this.listeners.map((l) => closeTcp(l.tcp)));
    this.tcp.startClosing();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
    });
    const drained = (async () => {
      await Promise.all([this.engine.whenIdle(), this.tcp.whenEmpty()]);
      await udpSendQueuesEmpty(this.listeners);
    })();
    await Promise.race([drained, deadline]);
    clearTimeout(timer);
    if (this.engine.inFlight > 0) this.log.warn({ inFlight: this.engine.inFlight }, 'closing with queries in flight');
    this.tcp.destroyAll();
    await Promise.all(this.listeners.map((l) => l.udp.close()));
    await stopAccepting;
    for (const s of [...this.stages].reverse()) {
      try {
        await s.close?.();
      } catch (err) {
        this.log.warn({ err, stage: s.name }, 'stage close failed');
      }
    }
    this.log.info({}, 'dns server closed');
  }
}
