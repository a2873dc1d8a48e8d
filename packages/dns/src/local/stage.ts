/**
 * The `local` stage: authoritative answers for local zones (the VIP zone, `spartan`/`hoplite`
 * liveness zones), from RecordSources.
 *
 * Hot path: answers are encoded once (by wire/builder, with the question name compressed so that
 * owner names point at it) and cached per (asked name, qtype, EDNS/DO state) with up to 16 record
 * rotations precomputed; a query costs three Map lookups, a copy, and patching the ID, the RD/CD
 * flags and the question bytes (which carry the client's letter case into every owner name that
 * points at it). The cache is dropped whenever any source's `version` moves, and when it holds
 * more than `maxCacheEntries` answers.
 */
import { Buffer } from 'node:buffer';
import type { Logger } from 'pino';
import type { Answer, Next, Query, Stage, ZoneRoute } from '../chain/stage.js';
import type { CounterChild, Counter, Registry } from '../metrics/registry.js';
import { Flag, QClass, QType, Rcode, RcodeName } from '../wire/constants.js';
import { encodeMessage, type WireRecord } from '../wire/builder.js';
import { ipv4Bytes, ipv6Bytes } from '../wire/ip.js';
import { encodeName, lowerName } from '../wire/name.js';
import { errorResponse, fitResponse } from '../wire/response.js';
import { Router, renameSuffixes } from '../router/router.js';
import type { ResolvedLocalZone, ZoneRecord } from './types.js';

export interface LocalStageOptions {
  readonly logger: Logger;
  readonly metrics: Registry;
  /** UDP payload size advertised in our OPT records. */
  readonly udpMaxResponseSize: number;
  /** Cached answers kept at most (the cache is emptied beyond). Default 10000. */
  readonly maxCacheEntries?: number;
}

/** Precomputed rotations of an answer at most (larger RRsets rotate in steps). */
const MAX_ROTATIONS = 16;
const MAX_CNAME_HOPS = 8;

interface ZoneRuntime {
  readonly cfg: ResolvedLocalZone;
  seen: number;
}

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
  private readonly answerChildren = new Map<string, CounterChild>();
  private readonly misses: CounterChild;
  private readonly flushVersion: CounterChild;
  private readonly flushSize: CounterChild;
  private readonly sourceErrors: CounterChild;
  private readonly badRecords: CounterChild;

  constructor(zones: readonly ResolvedLocalZone[], options: LocalStageOptions) {
    this.logger = options.logger;
    this.udpSize = options.udpMaxResponseSize;
    this.maxEntries = options.maxCacheEntries ?? 10000;
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
    const flushes = m.counter('hoplite_dns_local_cache_flushes_total', 'Local answer cache emptied, by reason');
    this.flushVersion = flushes.labels({ reason: 'version' });
    this.flushSize = flushes.labels({ reason: 'size' });
    this.sourceErrors = m.counter('hoplite_dns_local_source_errors_total', 'RecordSource lookups that threw (answered SERVFAIL)').labels();
    this.badRecords = m.counter('hoplite_dns_local_bad_records_total', 'Records skipped because they could not be encoded').labels();
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
    if (this.entries >= this.maxEntries) {
      this.flush();
      this.flushSize.inc();
    }
    let byType = this.cache.get(asked);
    if (byType === undefined) {
      byType = new Map();
      this.cache.set(asked, byType);
    }
    byType.set(key, entry);
    this.entries++;
    return entry;
  }

  private answerCounter(zone: string, rcode: number): CounterChild {
    const k = `${zone}\0${rcode}`;
    let c = this.answerChildren.get(k);
    if (c === undefined) {
      c = this.answers.labels({ zone, rcode: RcodeName[rcode] ?? String(rcode) });
      this.answerChildren.set(k, c);
    }
    return c;
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
