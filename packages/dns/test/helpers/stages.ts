/**
 * Test stages standing in for the masters / forward stages: they answer what the router sends
 * them, synchronously or when the test releases them, so that ordering and caps can be observed
 * without sleeps.
 */
import * as dnsPacket from 'dns-packet';
import type { Answer, Next, Query, Stage, StageContext, StageFactory, ZoneRoute } from '../../src/index.js';
import { askedResponse, lookupQuery } from '../../src/index.js';

/** A response to `q` with A records (built with dns-packet, as an upstream would). */
export function answerA(q: Query, addresses: readonly string[], extra: Partial<dnsPacket.Packet> = {}): Buffer {
  const asked = lookupQuery(q);
  const decoded = dnsPacket.decode(asked);
  const question = decoded.questions![0]!;
  const reply = dnsPacket.encode({
    type: 'response',
    id: q.id,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
    questions: [question],
    answers: addresses.map((a) => ({ type: 'A' as const, name: question.name, ttl: 30, data: a })),
    ...extra,
  });
  return askedResponse(reply, q)!;
}

interface Held {
  readonly query: Query;
  resolve(b: Buffer): void;
  reject(e: unknown): void;
}

/**
 * A stage serving `routes` (kind forward/masters/upstream as given): names in `hold` wait until
 * released; `throwOn` throws synchronously; everything else is answered at once with `addresses`.
 */
export class ControlledStage implements Stage {
  readonly routes: readonly ZoneRoute[];
  readonly seen: Query[] = [];
  readonly held: Held[] = [];
  ctx: StageContext | undefined;
  closed = false;
  private waiters: Array<() => void> = [];

  constructor(
    readonly name: string,
    readonly kinds: ReadonlyArray<Query['route']['kind']>,
    routes: readonly ZoneRoute[] = [],
    readonly options: {
      hold?: (q: Query) => boolean;
      throwOn?: (q: Query) => boolean;
      respond?: (q: Query) => Answer;
      addresses?: readonly string[];
    } = {},
  ) {
    this.routes = routes;
  }

  handle(q: Query, next: Next): Answer {
    if (!this.kinds.includes(q.route.kind)) return next(q);
    this.seen.push(q);
    this.wake();
    if (this.options.throwOn?.(q)) throw new Error('stage exploded');
    if (this.options.hold?.(q)) {
      return new Promise<Buffer>((resolve, reject) => {
        this.held.push({ query: q, resolve, reject });
        this.wake();
      });
    }
    if (this.options.respond) return this.options.respond(q);
    return answerA(q, this.options.addresses ?? ['192.0.2.1']);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves once `n` queries are held. */
  async heldCount(n: number, timeoutMs = 10000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.held.length < n) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected ${n} held queries, have ${this.held.length}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Answer the held query for `name` (first match) with A `address`. */
  release(name: string, address = '192.0.2.1'): void {
    const i = this.held.findIndex((h) => h.query.qname.toLowerCase() === name.toLowerCase());
    if (i < 0) throw new Error(`no held query for ${name}`);
    const [h] = this.held.splice(i, 1);
    h!.resolve(answerA(h!.query, [address]));
  }

  releaseAll(): void {
    for (const h of this.held.splice(0)) h.resolve(answerA(h.query, ['192.0.2.1']));
  }

  factory(): StageFactory {
    return {
      name: this.name,
      create: (ctx) => {
        this.ctx = ctx;
        return this;
      },
    };
  }
}
