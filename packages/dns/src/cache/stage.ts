/**
 * The `cache` stage: after the local zones, before masters and forward, so it covers the answers
 * of both. Rules in cache/README.md and docs/dns.md#cache.
 *
 * Hot path (a hit): one key string, one Map lookup, a copy of the stored bytes, then patching
 * the ID, the flags (RD/CD from the client), the question (the client's letter case) and every
 * TTL (precomputed offsets: base - age), and an OPT of ours when the client sent one. No decode.
 *
 * A miss asks the next stages with the client's buffer limit lifted (so that a large answer comes
 * back whole and is cached whole), stores what may be stored, and fits the answer to the client
 * itself. When the next stages fail (SERVFAIL), an expired entry within `staleTtl` answers instead
 * (RFC 8767), with TTL `staleAnswerTtl`.
 */
import type { Logger } from 'pino';
import type { Answer, Next, Query, Stage, StageContext } from '../chain/stage.js';
import { monotonicClock, type Clock } from '../exchange/deadlines.js';
import { Flag, HEADER_SIZE, QType, Rcode, TCP_MAX_SIZE } from '../wire/constants.js';
import { lowerName } from '../wire/name.js';
import { fitResponse, writeOpt } from '../wire/response.js';
import { checkCacheConfig, type CacheConfig, type CacheConfigInput } from './config.js';
import { ConfigError } from '../errors.js';
import { makeEntry, POSITIVE, type Entry } from './entry.js';
import { CacheMetrics } from './metrics.js';
import { CacheStore } from './store.js';

export const CACHE_STAGE = 'cache';

/** The stage context, plus a clock for tests (ms, monotonic; default performance.now). */
export type CacheStageContext = StageContext & { readonly clock?: Clock };

const RD_CD = Flag.RD | Flag.CD;
/** Background refreshes (prefetch) on their way at most. */
export const PREFETCH_MAX_IN_FLIGHT = 64;

/**
 * The cache key: lowercased asked name, then qtype, qclass, DO and CD folded into one number
 * (a space never occurs in a presentation name: it is escaped as \032).
 */
export function cacheKey(q: Query): string {
  const name = q.renamed ? lowerName(q.qname) : q.lookupName;
  const bits = (q.edns !== undefined && q.edns.dnssecOk ? 2 : 0) | ((q.flags & Flag.CD) !== 0 ? 1 : 0);
  return name + ' ' + ((q.qtype * 65536 + q.qclass) * 4 + bits);
}

export class CacheStage implements Stage {
  readonly name = CACHE_STAGE;
  readonly store: CacheStore;
  readonly metrics: CacheMetrics;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly udpSize: number;
  private readonly staleMs: number;
  private readonly staleRefreshMs: number;
  private readonly keepMs: number;
  /** How long past expiry entries are kept, s. */
  private readonly retain: number;
  private readonly prefetchHits: number;
  /** Prefetch once remaining ms <= lifetime s * this. */
  private readonly prefetchMsPerTtl: number;
  /** Background refreshes on their way. */
  private prefetching = 0;
  private closed = false;

  constructor(
    readonly config: CacheConfig,
    ctx: CacheStageContext,
  ) {
    this.clock = ctx.clock ?? monotonicClock;
    this.logger = ctx.logger;
    this.udpSize = ctx.udpMaxResponseSize;
    this.staleRefreshMs = config.staleRefresh * 1000;
    this.staleMs = config.staleTtl * 1000;
    this.keepMs = config.keepOnNxdomain * 1000;
    this.retain = Math.max(config.staleTtl, config.keepOnNxdomain);
    this.prefetchHits = config.prefetch;
    this.prefetchMsPerTtl = config.prefetchPercent * 10;
    this.store = new CacheStore(config, (kind) => this.metrics.evictions[kind].inc());
    this.metrics = new CacheMetrics(ctx.metrics, this.store);
  }

  handle(q: Query, next: Next): Answer {
    const qtype = q.qtype;
    if (qtype === QType.AXFR || qtype === QType.IXFR || qtype === QType.OPT || q.route.kind === 'local' || !this.config.enabled) {
      return next(q);
    }
    const key = cacheKey(q);
    const now = this.clock();
    const e = this.store.get(key);
    if (e !== undefined && e.questionEnd === q.questionEnd) {
      if (now < e.expiresAt) {
        e.ref = true;
        this.metrics.hits[e.kind].inc();
        if (this.prefetchHits > 0 && ++e.hits >= this.prefetchHits && e.expiresAt - now <= e.ttl * this.prefetchMsPerTtl) {
          this.prefetch(e, q, key, next);
        }
        return this.answer(e, q, now, false);
      }
      if (now >= e.retainUntil) this.store.delete(e);
      else if (now < e.staleRetryUntil && now < e.expiresAt + this.staleMs) {
        // The next stages failed for this entry a moment ago: answer stale without waiting on them.
        e.ref = true;
        this.metrics.stale[e.kind].inc();
        return this.answer(e, q, now, true);
      }
    }
    this.metrics.misses.inc();
    // Ask for the whole answer (cached whole); the client's limit is applied on the way back.
    const asked = q.maxResponseSize < TCP_MAX_SIZE ? { ...q, maxResponseSize: TCP_MAX_SIZE } : q;
    const ans = next(asked);
    if (ans instanceof Uint8Array) return this.complete(q, key, ans, now);
    if (ans === null || typeof ans !== 'object' || typeof ans.then !== 'function') return ans; // the server reports it
    return ans.then((b) => this.complete(q, key, b, this.clock()));
  }

  /** The next stages answered `resp` for `q`: store it, or answer stale instead of a failure. */
  private complete(q: Query, key: string, resp: Buffer, now: number): Buffer {
    if (!(resp instanceof Uint8Array) || resp.length < HEADER_SIZE) return resp; // the server reports it
    const rcode = resp[3]! & 0xf;
    if (rcode === Rcode.SERVFAIL) {
      const e = this.store.get(key);
      if (e !== undefined && e.questionEnd === q.questionEnd && now < e.expiresAt + this.staleMs) {
        e.ref = true;
        if (now < e.expiresAt) {
          // Refreshed by another query meanwhile.
          this.metrics.hits[e.kind].inc();
          return this.answer(e, q, now, false);
        }
        e.staleRetryUntil = now + this.staleRefreshMs;
        this.metrics.stale[e.kind].inc();
        this.logger.debug({ qname: q.qname, qtype: q.qtype }, 'stale answer');
        return this.answer(e, q, now, true);
      }
      this.metrics.notCached('rcode');
      return this.fit(resp, q);
    }
    if (rcode === Rcode.NXDOMAIN && this.keepMs > 0) {
      const e = this.store.get(key);
      if (e !== undefined && e.kind === POSITIVE && e.questionEnd === q.questionEnd && now < e.expiresAt + this.keepMs) {
        e.ref = true;
        this.metrics.kept.inc();
        this.logger.debug({ qname: q.qname, qtype: q.qtype }, 'answer kept over nxdomain');
        return this.answer(e, q, now, now >= e.expiresAt);
      }
    }
    const made = this.insert(q, key, resp, now);
    if (made === undefined) return this.fit(resp, q);
    return resp.length > q.maxResponseSize ? this.answer(made, q, now, false) : resp;
  }

  /** Store an answer (NOERROR / NXDOMAIN) when it may be stored; undefined when not. */
  private insert(q: Query, key: string, resp: Buffer, now: number): Entry | undefined {
    const made = makeEntry(resp, q, key, this.config, now, this.retain);
    if (typeof made === 'string') {
      this.metrics.notCached(made);
      // A definitive answer we do not keep still replaces what we had (no stale answer from before it).
      if (made === 'ttl_zero' || made === 'no_soa') this.dropKey(key);
      return undefined;
    }
    if (!this.store.set(made, now)) {
      this.metrics.notCached('too_large');
      this.dropKey(key);
      return undefined;
    }
    this.metrics.inserts[made.kind].inc();
    return made;
  }

  /**
   * Ask the next stages again for a popular entry close to its expiry, in the background (the
   * client was answered from the entry). At most PREFETCH_MAX_IN_FLIGHT at once, one per entry.
   * A failure or an NXDOMAIN leaves the entry as it is (it expires, then the usual rules apply).
   */
  private prefetch(e: Entry, q: Query, key: string, next: Next): void {
    if (e.prefetching || this.prefetching >= PREFETCH_MAX_IN_FLIGHT || this.closed) return;
    e.prefetching = true;
    this.prefetching++;
    this.metrics.prefetches.inc();
    const done = (resp: unknown): void => {
      this.prefetching--;
      e.prefetching = false;
      if (this.closed || !(resp instanceof Uint8Array) || resp.length < HEADER_SIZE) return;
      const rcode = resp[3]! & 0xf;
      if (rcode === Rcode.NOERROR || (rcode === Rcode.NXDOMAIN && e.kind !== POSITIVE)) this.insert(q, key, resp as Buffer, this.clock());
    };
    let ans: Answer;
    try {
      ans = next({ ...q, maxResponseSize: TCP_MAX_SIZE });
    } catch {
      done(undefined);
      return;
    }
    if (ans instanceof Uint8Array) done(ans);
    else if (ans !== null && typeof ans === 'object' && typeof ans.then === 'function') ans.then(done, () => done(undefined));
    else done(undefined);
  }

  private dropKey(key: string): void {
    const old = this.store.get(key);
    if (old !== undefined) this.store.delete(old);
  }

  private fit(resp: Buffer, q: Query): Buffer {
    return resp.length > q.maxResponseSize ? fitResponse(resp, q.maxResponseSize) : resp;
  }

  /**
   * The client's answer from an entry: its bytes with the client's ID, RD/CD and question, TTLs
   * aged (or `staleAnswerTtl` when stale), our OPT when the client sent one. Too large for the
   * client: without the additional section (RFC 2181 9), else header + question (+ OPT) with TC.
   */
  answer(e: Entry, q: Query, now: number, stale: boolean): Buffer {
    const w = e.wire;
    const edns = q.edns;
    const optLen = edns === undefined ? 0 : 11;
    const max = q.maxResponseSize;
    let len = w.length;
    let arcount = e.arcount;
    if (len + optLen > max) {
      if (e.additionalStart >= len || e.additionalStart + optLen > max) return this.truncated(e, q);
      len = e.additionalStart;
      arcount = 0;
    }
    const out = Buffer.allocUnsafe(len + optLen);
    w.copy(out, 0, 0, len);
    const id = q.id;
    out[0] = id >>> 8;
    out[1] = id & 0xff;
    const flags = e.flags | (q.flags & RD_CD);
    out[2] = flags >>> 8;
    out[3] = flags & 0xff;
    q.raw.copy(out, HEADER_SIZE, HEADER_SIZE, e.questionEnd);
    const t = e.ttls;
    const n = t.length;
    if (stale) {
      const s = this.config.staleAnswerTtl;
      for (let i = 0; i < n; i += 2) {
        const o = t[i]!;
        if (o >= len) break;
        out.writeUInt32BE(s, o);
      }
    } else {
      const age = Math.floor((now - e.storedAt) / 1000);
      for (let i = 0; i < n; i += 2) {
        const o = t[i]!;
        if (o >= len) break;
        out.writeUInt32BE(t[i + 1]! - age, o);
      }
    }
    if (optLen > 0) {
      writeOpt(out, len, this.udpSize, edns!.dnssecOk);
      arcount++;
    }
    out[10] = arcount >>> 8;
    out[11] = arcount & 0xff;
    return out;
  }

  /** Header (TC set) + the client's question (+ our OPT). */
  private truncated(e: Entry, q: Query): Buffer {
    const qe = e.questionEnd;
    const edns = q.edns;
    const out = Buffer.allocUnsafe(qe + (edns === undefined ? 0 : 11));
    out.writeUInt16BE(q.id, 0);
    out.writeUInt16BE(e.flags | (q.flags & RD_CD) | Flag.TC, 2);
    out.writeUInt16BE(1, 4);
    out.writeUInt32BE(0, 6);
    out.writeUInt16BE(edns === undefined ? 0 : 1, 10);
    q.raw.copy(out, HEADER_SIZE, HEADER_SIZE, qe);
    if (edns !== undefined) writeOpt(out, qe, this.udpSize, edns.dnssecOk);
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.store.clear();
  }
}

/**
 * The cache stage. `config` is the `cache` key as given (true / false / an object) or a validated
 * CacheConfig. Throws ConfigError with every problem.
 */
export function createCacheStage(config: CacheConfigInput | CacheConfig | boolean | undefined, ctx: CacheStageContext): CacheStage {
  const { config: cfg, problems } = checkCacheConfig(config);
  if (problems.length > 0) throw new ConfigError(problems);
  return new CacheStage(cfg, ctx);
}

/** A StageFactory for createServer's `stages` option (createServer adds the cache by itself from config `cache`). */
export function cacheStageFactory(config: CacheConfigInput | CacheConfig | boolean | undefined, extra: { readonly clock?: Clock } = {}): { readonly name: string; create(ctx: StageContext): Stage } {
  return { name: CACHE_STAGE, create: (ctx) => createCacheStage(config, { ...ctx, ...extra }) };
}
