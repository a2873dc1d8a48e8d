/**
 * The `local` stage: authoritative answers for local zones (the VIP zone, `spartan`/`hoplite`
 * liveness zones), from RecordSources.
 *
 * Hot path: answers are encoded once (by wire/builder, with the question name compressed so that
 * owner names point at it) and cached per (asked name, qtype, EDNS/DO state) with up to 16 record
 * rotations precomputed; a query costs three Map lookups, a copy, and patching the ID, the RD/CD
 * flags and the question bytes (which carry the client's letter case into every owner name that
 * points at it). The cache is dropped whenever any source's `version` moves; when it holds
 * `maxCacheEntries` answers the oldest name is evicted for each new one.
 *
 * Direct answers: the most common questions (A / AAAA / SRV / PTR of a name with one such record,
 * NXDOMAIN, NODATA) are written straight from the source's records behind a copy of the
 * client's question, without the cache: their cost does not depend on how many names the zone
 * has nor on how often it changes (a 100k-name VIP table queried at random would otherwise miss
 * the cache on nearly every query). Everything else (the apex, CNAME, TXT, ANY, rotated RRsets,
 * renamed names, answers too large for the client) takes the cached path.
 */
import { Buffer } from 'node:buffer';
import type { Logger } from 'pino';
import type { Answer, Next, Query, Stage, ZoneRoute } from '../chain/stage.js';
import type { CounterChild, Counter, Registry } from '../metrics/registry.js';
import { Flag, QClass, QType, Rcode, RcodeName } from '../wire/constants.js';
import { encodeMessage, type WireRecord } from '../wire/builder.js';
import { ipv4Bytes, ipv6Bytes } from '../wire/ip.js';
import { encodeName, lowerName } from '../wire/name.js';
import { errorResponse, fitResponse, writeOpt } from '../wire/response.js';
import { Router, renameSuffixes } from '../router/router.js';
import type { ResolvedLocalZone, ZoneRecord } from './types.js';

export interface LocalStageOptions {
  readonly logger: Logger;
  readonly metrics: Registry;
  /** UDP payload size advertised in our OPT records. */
  readonly udpMaxResponseSize: number;
  /** Cached answers kept at most (the oldest name is evicted beyond). Default 10000. */
  readonly maxCacheEntries?: number;
  /** Write one-record A / AAAA / SRV / PTR, NXDOMAIN and NODATA answers directly, without the cache. Default true
   *  (false: every answer goes through the cache; tests compare both paths). */
  readonly directAnswers?: boolean;
}

/** Precomputed rotations of an answer at most (larger RRsets rotate in steps). */
const MAX_ROTATIONS = 16;
const MAX_CNAME_HOPS = 8;

interface ZoneRuntime {
  readonly cfg: ResolvedLocalZone;
  seen: number;
}

/** What a negative answer needs per apex: its label count and its SOA record past the owner. */
interface ApexInfo {
  readonly labels: number;
  /** type, class, TTL, RDLENGTH and RDATA of the negative-answer SOA (the owner is a pointer). */
  readonly soaTail: Buffer;
}

/** ZoneRecord type -> RR type code (anything else is never equal to a qtype). */
const RECORD_TYPE: Readonly<Record<string, number>> = { A: QType.A, AAAA: QType.AAAA, SRV: QType.SRV, PTR: QType.PTR, CNAME: QType.CNAME, TXT: QType.TXT };

type NamedRecord = Extract<ZoneRecord, { type: 'SRV' } | { type: 'PTR' }>;

const DIRECT_FLAGS = Flag.QR | Flag.AA | Flag.RA;
const RD_CD = Flag.RD | Flag.CD;

interface Resolution {
  rcode: number;
  readonly rrsets: WireRecord[][];
  authority: WireRecord[];
  readonly additional: WireRecord[];
}

class CachedAnswer {
  private readonly full: Array<Buffer | undefined>;
  private readonly trimmed: Array<Buffer | undefined>;
  private truncated: Buffer | undefined;
  private next = 0;
  readonly rotations: number;

  constructor(
    private readonly make: (rotation: number, withAdditional: boolean) => Buffer,
    rotations: number,
    private readonly hasAdditional: boolean,
    readonly counter: CounterChild,
  ) {
    this.rotations = rotations;
    this.full = new Array<Buffer | undefined>(rotations);
    this.trimmed = new Array<Buffer | undefined>(rotations);
  }

  answer(q: Query): Buffer {
    let r = 0;
    if (this.rotations > 1) {
      r = this.next;
      this.next = r + 1 === this.rotations ? 0 : r + 1;
    }
    let msg = this.full[r] ?? (this.full[r] = this.make(r, true));
    if (msg.length > q.maxResponseSize) {
      // RFC 2181 9: drop the additional section first (no TC needed), then truncate with TC.
      if (this.hasAdditional) msg = this.trimmed[r] ?? (this.trimmed[r] = this.make(r, false));
      if (msg.length > q.maxResponseSize) msg = this.truncated ?? (this.truncated = fitResponse(msg, 0));
    }
    this.counter.inc();
    const out = Buffer.allocUnsafe(msg.length);
    out.set(msg);
    const id = q.id;
    out[0] = id >> 8;
    out[1] = id & 0xff;
    out[2] = msg[2]! | ((q.flags >> 8) & (Flag.RD >> 8));
    out[3] = msg[3]! | (q.flags & Flag.CD);
    // The client's question bytes (its letter case; owner names point here).
    const raw = q.raw;
    const end = q.questionEnd;
    for (let i = 12; i < end; i++) out[i] = raw[i]!;
    return out;
  }
}

export class LocalStage implements Stage {
  readonly name = 'local';
  readonly routes: readonly ZoneRoute[];
  private readonly byZone = new Map<string, ZoneRuntime>();
  private readonly zones: ZoneRuntime[] = [];
  private readonly finder: Router;
  private cache = new Map<string, Map<number, CachedAnswer>>();
  private entries = 0;
  private readonly maxEntries: number;
  private readonly logger: Logger;
  private readonly udpSize: number;
  private readonly answers: Counter;
  /** Answer counters by zone, then by rcode (no key string built per answer). */
  private readonly answerChildren = new Map<string, CounterChild[]>();
  private readonly misses: CounterChild;
  private readonly directs: CounterChild;
  private readonly direct: boolean;
  private readonly apexes = new Map<string, ApexInfo>();
  private readonly flushVersion: CounterChild;
  private readonly evictions: CounterChild;
  private readonly sourceErrors: CounterChild;
  private readonly badRecords: CounterChild;

  constructor(zones: readonly ResolvedLocalZone[], options: LocalStageOptions) {
    this.logger = options.logger;
    this.udpSize = options.udpMaxResponseSize;
    this.maxEntries = options.maxCacheEntries ?? 10000;
    this.direct = options.directAnswers ?? true;
    const routes: ZoneRoute[] = [];
    for (const cfg of zones) {
      const rt: ZoneRuntime = { cfg, seen: cfg.source.version };
      this.zones.push(rt);
      this.byZone.set(cfg.zone, rt);
      routes.push({ zone: cfg.zone, kind: 'local' });
      for (const rz of cfg.reverseZones) {
        this.byZone.set(rz, rt);
        routes.push(cfg.owns ? { zone: rz, kind: 'local', owns: cfg.owns } : { zone: rz, kind: 'local' });
      }
    }
    this.routes = Object.freeze(routes);
    this.finder = new Router(routes, { renames: false });
    const m = options.metrics;
    this.answers = m.counter('hoplite_dns_local_answers_total', 'Answers from local zones, by zone and rcode');
    this.misses = m.counter('hoplite_dns_local_cache_misses_total', 'Local answers encoded (not found in the answer cache)').labels();
    this.directs = m.counter('hoplite_dns_local_direct_answers_total', 'Local answers written directly (one A/AAAA/SRV/PTR, NXDOMAIN, NODATA), without the answer cache').labels();
    const flushes = m.counter('hoplite_dns_local_cache_flushes_total', 'Local answer cache emptied, by reason');
    this.flushVersion = flushes.labels({ reason: 'version' });
    this.sourceErrors = m.counter('hoplite_dns_local_source_errors_total', 'RecordSource lookups that threw (answered SERVFAIL)').labels();
    this.badRecords = m.counter('hoplite_dns_local_bad_records_total', 'Records skipped because they could not be encoded').labels();
    const evictions = m.counter('hoplite_dns_local_cache_evictions_total', 'Names evicted from the full local answer cache (oldest first)');
    this.evictions = evictions.labels();
    const entries = m.gauge('hoplite_dns_local_cache_entries', 'Encoded local answers cached');
    entries.collect(() => entries.set(this.entries));
  }

  handle(q: Query, next: Next): Answer {
    if (q.route.kind !== 'local') return next(q);
    const zr = this.byZone.get(q.route.zone);
    if (zr === undefined) return next(q);
    if (q.qclass !== QClass.IN || q.qtype === QType.AXFR || q.qtype === QType.IXFR) {
      return errorResponse(q, Rcode.REFUSED, this.udpSize);
    }
    if (this.direct && !q.renamed) {
      const out = this.directAnswer(q, zr);
      if (out !== undefined) return out;
    }
    this.checkVersions();
    const asked = q.renamed ? lowerName(q.qname) : q.lookupName;
    const key = q.qtype * 4 + (q.edns === undefined ? 0 : q.edns.dnssecOk ? 2 : 1);
    const byType = this.cache.get(asked);
    let entry = byType?.get(key);
    if (entry === undefined) {
      const made = this.miss(q, zr, asked, key);
      if (Buffer.isBuffer(made)) return made;
      entry = made;
    }
    return entry.answer(q);
  }

  /** Drop every cached answer (e.g. after a bulk change a source did not signal). */
  flush(): void {
    this.cache = new Map();
    this.entries = 0;
  }

  private checkVersions(): void {
    const zones = this.zones;
    let changed = false;
    for (let i = 0; i < zones.length; i++) {
      const z = zones[i]!;
      const v = z.cfg.source.version;
      if (v !== z.seen) {
        z.seen = v;
        changed = true;
      }
    }
    if (changed && this.entries > 0) {
      this.flush();
      this.flushVersion.inc();
    }
  }

  private miss(q: Query, zr: ZoneRuntime, asked: string, key: number): CachedAnswer | Buffer {
    this.misses.inc();
    let res: Resolution;
    try {
      res = { rcode: Rcode.NOERROR, rrsets: [], authority: [], additional: [] };
      this.resolve(q.lookupName, q.qtype, zr, q.route.zone, res, 0);
    } catch (err) {
      this.sourceErrors.inc();
      this.logger.warn({ zone: zr.cfg.zone, err }, 'record source failed');
      return errorResponse(q, Rcode.SERVFAIL, this.udpSize);
    }
    const rename = q.renamed ? renamer(asked) : undefined;
    const rrsets = rename ? res.rrsets.map((s) => s.map(rename)) : res.rrsets;
    const authority = rename ? res.authority.map(rename) : res.authority;
    const additional = rename ? res.additional.map(rename) : res.additional;
    let rotations = 1;
    for (const s of rrsets) rotations = Math.max(rotations, s.length);
    rotations = Math.min(rotations, MAX_ROTATIONS);
    const ednsState = key & 3;
    const flags = Flag.QR | Flag.AA | Flag.RA | res.rcode;
    const qtype = q.qtype;
    const udpSize = this.udpSize;
    const make = (r: number, withAdditional: boolean): Buffer => {
      const answers: WireRecord[] = [];
      for (const set of rrsets) {
        const n = set.length;
        const shift = n <= 1 ? 0 : n <= rotations ? r % n : Math.floor((r * n) / rotations);
        for (let i = 0; i < n; i++) answers.push(set[(i + shift) % n]!);
      }
      return encodeMessage({
        id: 0,
        flags,
        question: { name: asked, type: qtype, class: QClass.IN },
        answers,
        authority,
        additional: withAdditional ? additional : [],
        opt: ednsState === 0 ? undefined : { udpSize, dnssecOk: ednsState === 2 },
      });
    };
    // Encode rotation 0 now: a name that cannot be encoded is answered SERVFAIL, not cached.
    let first: Buffer;
    try {
      first = make(0, true);
    } catch (err) {
      this.badRecords.inc();
      this.logger.warn({ zone: zr.cfg.zone, err }, 'local answer not encodable');
      return errorResponse(q, Rcode.SERVFAIL, this.udpSize);
    }
    const entry = new CachedAnswer(
      (r, withAdditional) => (r === 0 && withAdditional ? first : make(r, withAdditional)),
      rotations,
      additional.length > 0,
      this.answerCounter(q.route.zone, res.rcode),
    );
    let byType = this.cache.get(asked);
    if (byType === undefined) {
      byType = new Map();
      this.cache.set(asked, byType);
    }
    byType.set(key, entry);
    this.entries++;
    // Full: evict the oldest names (a Map iterates in insertion order), never the one just added.
    while (this.entries > this.maxEntries) {
      const oldest = this.cache.keys().next().value as string;
      if (oldest === asked) break;
      this.entries -= this.cache.get(oldest)!.size;
      this.cache.delete(oldest);
      this.evictions.inc();
    }
    return entry;
  }

  /**
   * One A / AAAA / SRV / PTR record, NXDOMAIN, or NODATA (no record of the type asked, no CNAME), written from the source's records
   * without the cache; undefined when the query needs the full path (which also handles a source
   * that throws and records that do not encode).
   */
  private directAnswer(q: Query, zr: ZoneRuntime): Buffer | undefined {
    const name = q.lookupName;
    const apex = q.route.zone;
    if (name === apex) return undefined;
    const qtype = q.qtype;
    let found: readonly ZoneRecord[] | undefined;
    try {
      found = zr.cfg.source.lookup(name);
    } catch {
      return undefined;
    }
    if (found === undefined) return this.negative(q, zr, apex, Rcode.NXDOMAIN);
    if (qtype === QType.ANY) return undefined;
    let rec: ZoneRecord | undefined;
    for (let i = 0; i < found.length; i++) {
      const r = found[i]!;
      const code = RECORD_TYPE[r.type];
      if (code === qtype) {
        if (rec !== undefined) return undefined; // several: rotated by the cached path
        rec = r;
      } else if (code === QType.CNAME) {
        return undefined; // followed by the cached path
      }
    }
    if (rec === undefined) return this.negative(q, zr, apex, Rcode.NOERROR);
    if (qtype === QType.SRV || qtype === QType.PTR) return this.directNamed(q, zr, apex, rec as NamedRecord);
    if (qtype !== QType.A && qtype !== QType.AAAA) return undefined;
    const want = rec.type;
    const ttl = validTtl(rec.ttl, zr.cfg.ttl);
    if (ttl === undefined) return undefined;
    const address = (rec as { readonly address: string }).address;
    const rdlen = want === 'A' ? 4 : 16;
    const qEnd = q.questionEnd;
    const edns = q.edns;
    const size = qEnd + 12 + rdlen + (edns === undefined ? 0 : 11);
    if (size > q.maxResponseSize) return undefined;
    const out = Buffer.allocUnsafe(size);
    let p = qEnd + 12;
    if (want === 'A') {
      if (!writeIpv4(address, out, p)) return undefined;
    } else {
      const b = ipv6Bytes(address);
      if (b === undefined) return undefined;
      out.set(b, p);
    }
    this.header(q, out, Rcode.NOERROR, 1, 0);
    p = qEnd;
    out[p++] = 0xc0; // owner: the question name
    out[p++] = 12;
    out[p++] = 0;
    out[p++] = qtype;
    out[p++] = 0;
    out[p++] = QClass.IN;
    out.writeUInt32BE(ttl, p);
    p += 4;
    out[p++] = 0;
    out[p++] = rdlen;
    if (edns !== undefined) writeOpt(out, p + rdlen, this.udpSize, edns.dnssecOk);
    this.directs.inc();
    this.answerCounter(apex, Rcode.NOERROR).inc();
    return out;
  }

  /**
   * One SRV (with its target's local addresses in the additional section, their owner pointing at
   * the target in the SRV) or one PTR; undefined when anything is out of the ordinary.
   */
  private directNamed(q: Query, zr: ZoneRuntime, apex: string, rec: NamedRecord): Buffer | undefined {
    const ttl = validTtl(rec.ttl, zr.cfg.ttl);
    if (ttl === undefined || typeof rec.target !== 'string') return undefined;
    const target = lowerName(rec.target);
    const tlen = plainNameLength(target);
    if (tlen < 0) return undefined;
    const srv = rec.type === 'SRV' ? rec : undefined;
    let extra: readonly ZoneRecord[] | undefined;
    let extraTtl = 0;
    let extraSize = 0;
    let extraCount = 0;
    if (srv !== undefined) {
      if (!u16(srv.priority) || !u16(srv.weight) || !u16(srv.port)) return undefined;
      const where = this.zoneOf(target);
      if (where !== undefined) {
        try {
          extra = where.zr.cfg.source.lookup(target);
        } catch {
          return undefined;
        }
        extraTtl = where.zr.cfg.ttl;
        if (extra !== undefined) {
          for (let i = 0; i < extra.length; i++) {
            const t = extra[i]!.type;
            if (t === 'A') extraSize += 16;
            else if (t === 'AAAA') extraSize += 28;
            else continue;
            extraCount++;
          }
        }
      }
    }
    const qEnd = q.questionEnd;
    const edns = q.edns;
    const fixed = srv === undefined ? 0 : 6;
    const rdlen = fixed + tlen;
    const size = qEnd + 12 + rdlen + extraSize + (edns === undefined ? 0 : 11);
    if (size > q.maxResponseSize) return undefined;
    const out = Buffer.allocUnsafe(size);
    let p = qEnd;
    out[p++] = 0xc0; // owner: the question name
    out[p++] = 12;
    out.writeUInt16BE(q.qtype, p);
    out.writeUInt16BE(QClass.IN, p + 2);
    out.writeUInt32BE(ttl, p + 4);
    out.writeUInt16BE(rdlen, p + 8);
    p += 10;
    if (srv !== undefined) {
      out.writeUInt16BE(srv.priority, p);
      out.writeUInt16BE(srv.weight, p + 2);
      out.writeUInt16BE(srv.port, p + 4);
      p += 6;
    }
    const targetAt = p;
    writePlainName(target, out, p);
    p += tlen;
    if (extra !== undefined && extraCount > 0) {
      for (let i = 0; i < extra.length; i++) {
        const a = extra[i]!;
        if (a.type !== 'A' && a.type !== 'AAAA') continue;
        const attl = validTtl(a.ttl, extraTtl);
        if (attl === undefined || targetAt > 0x3fff) return undefined;
        out[p] = 0xc0 | (targetAt >> 8);
        out[p + 1] = targetAt & 0xff;
        out.writeUInt16BE(a.type === 'A' ? QType.A : QType.AAAA, p + 2);
        out.writeUInt16BE(QClass.IN, p + 4);
        out.writeUInt32BE(attl, p + 6);
        if (a.type === 'A') {
          out.writeUInt16BE(4, p + 10);
          if (!writeIpv4(a.address, out, p + 12)) return undefined;
          p += 16;
        } else {
          const b = ipv6Bytes(a.address);
          if (b === undefined) return undefined;
          out.writeUInt16BE(16, p + 10);
          out.set(b, p + 12);
          p += 28;
        }
      }
    }
    this.header(q, out, Rcode.NOERROR, 1, 0, extraCount);
    if (edns !== undefined) writeOpt(out, p, this.udpSize, edns.dnssecOk);
    this.directs.inc();
    this.answerCounter(apex, Rcode.NOERROR).inc();
    return out;
  }

  /** NXDOMAIN or NODATA: the question, and the zone's SOA (owner: the apex inside the question). */
  private negative(q: Query, zr: ZoneRuntime, apex: string, rcode: number): Buffer | undefined {
    let info = this.apexes.get(apex);
    if (info === undefined) {
      info = apexInfo(apex, zr.cfg);
      this.apexes.set(apex, info);
    }
    const raw = q.raw;
    const qEnd = q.questionEnd;
    // The apex's offset in the question: skip (labels of the name - labels of the apex) labels.
    let total = 0;
    for (let i = 12; raw[i] !== 0; i += raw[i]! + 1) total++;
    let at = 12;
    for (let k = total - info.labels; k > 0; k--) at += raw[at]! + 1;
    const tail = info.soaTail;
    const edns = q.edns;
    const size = qEnd + 2 + tail.length + (edns === undefined ? 0 : 11);
    if (size > q.maxResponseSize || total < info.labels) return undefined;
    const out = Buffer.allocUnsafe(size);
    this.header(q, out, rcode, 0, 1);
    out[qEnd] = 0xc0 | (at >> 8);
    out[qEnd + 1] = at & 0xff;
    out.set(tail, qEnd + 2);
    if (edns !== undefined) writeOpt(out, qEnd + 2 + tail.length, this.udpSize, edns.dnssecOk);
    this.directs.inc();
    this.answerCounter(apex, rcode).inc();
    return out;
  }

  /** Header and question of a direct answer: the client's ID, RD and CD, its question bytes. */
  private header(q: Query, out: Buffer, rcode: number, an: number, ns: number, ar = 0): void {
    const raw = q.raw;
    const end = q.questionEnd;
    for (let i = 12; i < end; i++) out[i] = raw[i]!;
    const flags = DIRECT_FLAGS | (q.flags & RD_CD) | rcode;
    out[0] = q.id >> 8;
    out[1] = q.id & 0xff;
    out[2] = flags >> 8;
    out[3] = flags & 0xff;
    out[4] = 0;
    out[5] = 1;
    out[6] = 0;
    out[7] = an;
    out[8] = 0;
    out[9] = ns;
    out[10] = 0;
    out[11] = ar + (q.edns === undefined ? 0 : 1);
  }

  private answerCounter(zone: string, rcode: number): CounterChild {
    let byRcode = this.answerChildren.get(zone);
    if (byRcode === undefined) {
      byRcode = [];
      this.answerChildren.set(zone, byRcode);
    }
    return (byRcode[rcode] ??= this.answers.labels({ zone, rcode: RcodeName[rcode] ?? String(rcode) }));
  }

  /** The zone runtime and apex serving `name`, when a local zone does. */
  private zoneOf(name: string): { zr: ZoneRuntime; apex: string } | undefined {
    const route = this.finder.route(name);
    if (route.kind !== 'local') return undefined;
    const zr = this.byZone.get(route.zone);
    return zr ? { zr, apex: route.zone } : undefined;
  }

  private recordsAt(name: string, zr: ZoneRuntime, apex: string): WireRecord[] | undefined {
    const found = zr.cfg.source.lookup(name);
    let out: WireRecord[] | undefined;
    if (found !== undefined) {
      out = [];
      for (const rec of found) {
        const w = this.toWire(name, rec, zr.cfg.ttl);
        if (w) out.push(w);
      }
    }
    if (name === apex) {
      const apexRecords = [soaRecord(apex, zr.cfg, false), nsRecord(apex, zr.cfg)];
      out = out ? [...apexRecords, ...out] : apexRecords;
    }
    return out;
  }

  private resolve(name: string, qtype: number, zr: ZoneRuntime, apex: string, res: Resolution, depth: number): void {
    const recs = this.recordsAt(name, zr, apex);
    if (recs === undefined) {
      res.rcode = Rcode.NXDOMAIN;
      res.authority = [soaRecord(apex, zr.cfg, true)];
      return;
    }
    if (qtype !== QType.CNAME && qtype !== QType.ANY) {
      const cname = recs.find((r) => r.type === QType.CNAME);
      if (cname) {
        res.rrsets.push([cname]);
        const target = (cname.rdata[0] as { name: string }).name;
        const where = depth < MAX_CNAME_HOPS ? this.zoneOf(target) : undefined;
        if (where) this.resolve(target, qtype, where.zr, where.apex, res, depth + 1);
        return;
      }
    }
    const matching = qtype === QType.ANY ? recs : recs.filter((r) => r.type === qtype);
    if (matching.length === 0) {
      res.authority = [soaRecord(apex, zr.cfg, true)];
      return;
    }
    const byType = new Map<number, WireRecord[]>();
    for (const r of matching) {
      const set = byType.get(r.type);
      if (set) set.push(r);
      else byType.set(r.type, [r]);
    }
    for (const set of byType.values()) res.rrsets.push(set);
    // Additional: addresses of SRV targets and of the NS name, when a local zone has them.
    const seen = new Set<string>();
    for (const r of matching) {
      let target: string | undefined;
      if (r.type === QType.SRV) target = (r.rdata[1] as { name: string }).name;
      else if (r.type === QType.NS) target = (r.rdata[0] as { name: string }).name;
      if (target === undefined || seen.has(target)) continue;
      seen.add(target);
      const where = this.zoneOf(target);
      if (!where) continue;
      const addrs = where.zr.cfg.source.lookup(target);
      if (!addrs) continue;
      for (const a of addrs) {
        if (a.type !== 'A' && a.type !== 'AAAA') continue;
        const w = this.toWire(target, a, where.zr.cfg.ttl);
        if (w) res.additional.push(w);
      }
    }
  }

  private toWire(owner: string, rec: ZoneRecord, defaultTtl: number): WireRecord | undefined {
    const w = recordToWire(owner, rec, defaultTtl);
    if (w === undefined) {
      this.badRecords.inc();
      this.logger.warn({ name: owner, type: (rec as { type?: unknown }).type }, 'local record skipped');
    }
    return w;
  }
}

/** Label count and encoded negative-answer SOA (past its owner) of a local zone apex. */
function apexInfo(apex: string, z: ResolvedLocalZone): ApexInfo {
  const soa = soaRecord(apex, z, true);
  const mname = encodeName((soa.rdata[0] as { name: string }).name);
  const rname = encodeName((soa.rdata[1] as { name: string }).name);
  const fixed = soa.rdata[2] as Buffer;
  const rdlen = mname.length + rname.length + fixed.length;
  const tail = Buffer.allocUnsafe(10 + rdlen);
  tail.writeUInt16BE(QType.SOA, 0);
  tail.writeUInt16BE(QClass.IN, 2);
  tail.writeUInt32BE(soa.ttl >>> 0, 4);
  tail.writeUInt16BE(rdlen, 8);
  Buffer.concat([mname, rname, fixed]).copy(tail, 10);
  return { labels: apex === '' ? 0 : apex.split('.').length, soaTail: tail };
}

/** Wire length of a name written as is (no escapes, labels of 1-63, at most 255 bytes); -1 otherwise. */
function plainNameLength(name: string): number {
  const n = name.length;
  if (n === 0 || n > 253) return -1;
  let label = 0;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x2e) {
      if (label === 0) return -1;
      label = 0;
    } else if (c === 0x5c || c > 0x7e || c < 0x21 || ++label > 63) {
      return -1;
    }
  }
  return label === 0 ? -1 : n + 2;
}

/** Writes a name checked by plainNameLength at `p`. */
function writePlainName(name: string, out: Buffer, p: number): void {
  let lenAt = p;
  let w = p + 1;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x2e) {
      out[lenAt] = w - lenAt - 1;
      lenAt = w++;
    } else {
      out[w++] = c;
    }
  }
  out[lenAt] = w - lenAt - 1;
  out[w] = 0;
}

/** Writes a dotted-quad IPv4 address (0-255 each, no leading zeros) at `p`; false when `s` is not one. */
function writeIpv4(s: string, out: Buffer, p: number): boolean {
  const n = s.length;
  let part = 0;
  let digits = 0;
  let octet = 0;
  for (let i = 0; i <= n; i++) {
    const c = i === n ? 0x2e : s.charCodeAt(i);
    if (c === 0x2e) {
      if (digits === 0 || octet > 255 || part > 3) return false;
      out[p + part++] = octet;
      octet = 0;
      digits = 0;
    } else if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && octet === 0) return false; // leading zero
      octet = octet * 10 + (c - 0x30);
      if (++digits > 3) return false;
    } else {
      return false;
    }
  }
  return part === 4;
}

function validTtl(ttl: unknown, fallback: number): number | undefined {
  if (ttl === undefined) return fallback;
  return typeof ttl === 'number' && Number.isInteger(ttl) && ttl >= 0 && ttl <= 0x7fffffff ? ttl : undefined;
}

function validName(name: unknown): name is string {
  if (typeof name !== 'string') return false;
  try {
    encodeName(name);
    return true;
  } catch {
    return false;
  }
}

function u16(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff;
}

/** A ZoneRecord as a WireRecord owned by `owner`; undefined when the record is invalid. */
export function recordToWire(owner: string, rec: ZoneRecord, defaultTtl: number): WireRecord | undefined {
  const ttl = validTtl(rec.ttl, defaultTtl);
  if (ttl === undefined) return undefined;
  switch (rec.type) {
    case 'A': {
      const b = ipv4Bytes(rec.address);
      return b ? { name: owner, type: QType.A, ttl, rdata: [b] } : undefined;
    }
    case 'AAAA': {
      const b = ipv6Bytes(rec.address);
      return b ? { name: owner, type: QType.AAAA, ttl, rdata: [b] } : undefined;
    }
    case 'SRV': {
      if (!u16(rec.priority) || !u16(rec.weight) || !u16(rec.port) || !validName(rec.target)) return undefined;
      const fixed = Buffer.allocUnsafe(6);
      fixed.writeUInt16BE(rec.priority, 0);
      fixed.writeUInt16BE(rec.weight, 2);
      fixed.writeUInt16BE(rec.port, 4);
      return { name: owner, type: QType.SRV, ttl, rdata: [fixed, { name: lowerName(rec.target), compress: false }] };
    }
    case 'PTR':
    case 'CNAME': {
      if (!validName(rec.target)) return undefined;
      return { name: owner, type: rec.type === 'PTR' ? QType.PTR : QType.CNAME, ttl, rdata: [{ name: lowerName(rec.target) }] };
    }
    case 'TXT': {
      const texts = typeof rec.text === 'string' ? [rec.text] : rec.text;
      if (!Array.isArray(texts)) return undefined;
      const parts: Buffer[] = [];
      for (const t of texts) {
        if (typeof t !== 'string') return undefined;
        const b = Buffer.from(t, 'utf8');
        // Long strings are split into <character-string>s of at most 255 bytes.
        for (let i = 0; i === 0 || i < b.length; i += 255) {
          const chunk = b.subarray(i, i + 255);
          parts.push(Buffer.from([chunk.length]), chunk);
        }
      }
      return { name: owner, type: QType.TXT, ttl, rdata: parts };
    }
    default:
      return undefined;
  }
}

function soaRecord(apex: string, z: ResolvedLocalZone, negative: boolean): WireRecord {
  const s = z.soa;
  const fixed = Buffer.allocUnsafe(20);
  fixed.writeUInt32BE(s.serial >>> 0, 0);
  fixed.writeUInt32BE(s.refresh >>> 0, 4);
  fixed.writeUInt32BE(s.retry >>> 0, 8);
  fixed.writeUInt32BE(s.expire >>> 0, 12);
  fixed.writeUInt32BE(s.minimum >>> 0, 16);
  // RFC 2308 3: the SOA in a negative answer carries min(SOA TTL, MINIMUM).
  const ttl = negative ? Math.min(s.ttl, s.minimum) : s.ttl;
  return { name: apex, type: QType.SOA, ttl, rdata: [{ name: s.mname }, { name: s.rname }, fixed] };
}

function nsRecord(apex: string, z: ResolvedLocalZone): WireRecord {
  return { name: apex, type: QType.NS, ttl: z.ns.ttl, rdata: [{ name: z.ns.name }] };
}

/**
 * For a renamed query: maps names under the looked-up suffix to the asked suffix, so the whole
 * answer lives under the name the client asked (`x.l4lb.thisdcos.directory` -> `x.dclb.thisdcos.global`).
 */
function renamer(asked: string): ((r: WireRecord) => WireRecord) | undefined {
  const pair = renameSuffixes(asked);
  if (pair === undefined) return undefined;
  const [askedSuffix, lookupSuffix] = pair;
  const mapName = (n: string): string => {
    const l = lowerName(n);
    if (l === lookupSuffix) return askedSuffix;
    if (l.endsWith('.' + lookupSuffix)) return n.slice(0, n.length - lookupSuffix.length) + askedSuffix;
    return n;
  };
  return (r) => ({
    ...r,
    name: mapName(r.name),
    rdata: r.rdata.map((part) => (Buffer.isBuffer(part) ? part : { ...part, name: mapName(part.name) })),
  });
}
