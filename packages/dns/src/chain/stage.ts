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

export interface Stage {
  /** One word, used as the config key, the log `component` and the metric label. */
  readonly name: string;
  handle(query: Query, next: Next): Answer;
  /** Optional start (open sockets, start probes) and stop (release everything). */
  start?(): Promise<void>;
  close?(): Promise<void>;
}
