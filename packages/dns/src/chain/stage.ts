/**
 * The stage contract. A query flows socket -> parse -> one chain of stages -> answer.
 * The chain is composed once at start-up from an ordered list (see chain/chain.ts).
 *
 * A stage either answers (returns a complete wire-format response whose ID is the client's) or
 * hands the query on by calling `next(query)`. A stage never throws on the query path: a query it
 * cannot serve gets SERVFAIL / REFUSED built with `respond.*` helpers; an unexpected exception is
 * caught by the server, counted, and answered with SERVFAIL.
 *
 * A stage may answer synchronously (a Buffer) or asynchronously (a Promise<Buffer>); the server
 * avoids a Promise on the synchronous path.
 */
import type { UdpIo } from '../io/udp.js';
import type { Logger } from 'pino';
import type { Registry } from '../metrics/registry.js';

export type Transport = 'udp' | 'tcp';

/** What the router decided for a query, computed once before the chain runs. */
export type RouteKind = 'local' | 'masters' | 'forward' | 'upstream';

export interface Route {
  readonly kind: RouteKind;
  /** The zone that matched (lowercase, no trailing dot; '' for the root / default upstreams). */
  readonly zone: string;
}

export interface EdnsInfo {
  /** Advertised UDP payload size (clamped to at least 512). */
  readonly udpSize: number;
  /** The DO bit. */
  readonly dnssecOk: boolean;
  readonly version: number;
}

export interface Query {
  /** The client's message, exactly as received. Never mutate it. */
  readonly raw: Buffer;
  readonly id: number;
  /** Header flags word (bytes 2-3). */
  readonly flags: number;
  readonly opcode: number;
  readonly recursionDesired: boolean;
  readonly checkingDisabled: boolean;
  /** The name as asked (original case), no trailing dot; '' for the root. */
  readonly qname: string;
  /** Lowercased `qname`, after renames (dclb.thisdcos.* -> l4lb.thisdcos.directory, ...). Routing
   *  and lookups use this. */
  readonly lookupName: string;
  /** True when a rename changed the name: an answer must carry `qname`, the name the client asked. */
  readonly renamed: boolean;
  readonly qtype: number;
  readonly qclass: number;
  /** Byte offset just past the question section in `raw`. */
  readonly questionEnd: number;
  /** Present when the query carried an OPT record. */
  readonly edns: EdnsInfo | undefined;
  readonly transport: Transport;
  /** Largest response the client accepts: TCP 65535; UDP max(512, EDNS size) capped by config. */
  readonly maxResponseSize: number;
  readonly clientAddress: string;
  readonly clientPort: number;
  /** process.hrtime.bigint() when the query was read off the socket. */
  readonly receivedAt: bigint;
  /** Set by the router. */
  route: Route;
}

export type Answer = Buffer | Promise<Buffer>;

export type Next = (query: Query) => Answer;

/**
 * A zone a stage serves: the router's table is built from the `routes` every stage declares.
 * Matching is by longest label suffix, case-insensitive; names that match no route get
 * `{ kind: 'upstream', zone: '' }`.
 */
export interface ZoneRoute {
  /** Lowercase, no trailing dot, e.g. `mesos`, `l4lb.thisdcos.directory`, `10.in-addr.arpa`. */
  readonly zone: string;
  readonly kind: RouteKind;
  /**
   * Optional filter for names under `zone` (lowercase lookup name). When it returns false the
   * router keeps looking at shorter suffixes (e.g. a reverse zone that owns only a VIP pool's
   * addresses: other reverse names go upstream as usual).
   */
  owns?(name: string): boolean;
}

export interface Stage {
  /** One word, used as the config key, the log `component` and the metric label. */
  readonly name: string;
  /** The zones this stage serves (see ZoneRoute). Read once when the chain is composed. */
  readonly routes?: readonly ZoneRoute[];
  handle(query: Query, next: Next): Answer;
  /** Optional start (open sockets, start probes) and stop (release everything). */
  start?(): Promise<void>;
  close?(): Promise<void>;
}

/** An address the server is bound to (after binding: port 0 resolved). */
export interface BoundAddress {
  readonly transport: Transport;
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

/**
 * What createServer hands to each stage factory (`createForwardStage(config, ctx)`, ...).
 * Created after the listeners are bound, so `listenAddresses` holds real ports.
 */
export interface StageContext {
  /** A pino child logger that already carries `component` = the stage name. */
  readonly logger: Logger;
  /** The server's registry; name stage metrics `hoplite_dns_<stage>_...`. */
  readonly metrics: Registry;
  /** Every bound UDP and TCP address of this server (e.g. to refuse an upstream that is us). */
  readonly listenAddresses: readonly BoundAddress[];
  /** The EDNS UDP payload size this server advertises in its OPT records (config udp.maxResponseSize). */
  readonly udpMaxResponseSize: number;
  /** The UDP socket implementation for the stage's exchanges (config udp.io, resolved). Default: auto. */
  readonly udpIo?: UdpIo;
}
