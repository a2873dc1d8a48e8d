/**
 * The VIP zone: the VIP table, as the DNS server's local zone sees it. This is the one place
 * where @hoplite/vip meets @hoplite/dns: VipTable follows the allocator's change feed and
 * implements the DNS package's small RecordSource interface.
 *
 * Names served (zone `l4lb.thisdcos.directory`):
 * - `<label>.<framework>.l4lb.thisdcos.directory`: A (and AAAA when an IPv6 pool is set);
 * - `_<label>._<proto>.<framework>.l4lb.thisdcos.directory`: SRV 0 0 <port> <name> per port;
 * - `<framework>.l4lb...` and `_<proto>.<framework>.l4lb...` exist without data (empty non-terminals);
 * - PTR for addresses inside the pools, in in-addr.arpa / ip6.arpa.
 */
import type { RecordSource, ZoneRecord } from '@hoplite/dns';
import type { VipChange, VipRecord } from '@hoplite/vip';

export const VIP_ZONE = 'l4lb.thisdcos.directory';

interface Cidr4 {
  readonly start: number;
  readonly end: number;
  readonly prefix: number;
}

function ipv4ToInt(s: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (!m) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255) return undefined;
    n = n * 256 + o;
  }
  return n;
}

function parseCidr4(c: string): Cidr4 | undefined {
  const [addr, len] = c.split('/');
  const base = ipv4ToInt(addr ?? '');
  const prefix = Number(len);
  if (base === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  const start = base - (base % size);
  return { start, end: start + size - 1, prefix };
}

/** in-addr.arpa zones covering a CIDR exactly or, when not on an octet boundary, from above. */
export function reverseZones4(cidr: string): string[] {
  const c = parseCidr4(cidr);
  if (!c) return [];
  const octets = Math.min(3, Math.ceil(c.prefix / 8)); // labels in the zone name (at most /24)
  const step = 2 ** (32 - octets * 8);
  const zones: string[] = [];
  for (let a = c.start - (c.start % step); a <= c.end && zones.length < 4096; a += step) {
    const parts = [Math.floor(a / 2 ** 24) % 256, Math.floor(a / 2 ** 16) % 256, Math.floor(a / 256) % 256, a % 256];
    zones.push(`${parts.slice(0, octets).reverse().join('.')}${octets > 0 ? '.' : ''}in-addr.arpa`);
  }
  return zones;
}

function expandV6(addr: string): string | undefined {
  const s = addr.toLowerCase();
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const groups = [...head, ...Array<string>(fill).fill('0'), ...tail];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return undefined;
  return groups.map((g) => g.padStart(4, '0')).join('');
}

/** The ip6.arpa zone of an IPv6 CIDR, at the nibble boundary at or above its prefix. */
export function reverseZone6(cidr: string): string | undefined {
  const [addr, len] = cidr.split('/');
  const hex = expandV6(addr ?? '');
  const prefix = Number(len);
  if (!hex || !Number.isInteger(prefix) || prefix < 0 || prefix > 128) return undefined;
  const nibbles = Math.floor(prefix / 4);
  return [...hex.slice(0, nibbles)].reverse().join('.') + (nibbles > 0 ? '.' : '') + 'ip6.arpa';
}

export interface VipTableOptions {
  /** IPv4 pools (CIDRs): PTR names inside them are ours. */
  readonly pools: readonly string[];
  /** The IPv6 pool, if any. */
  readonly ipv6Pool?: string;
}

/**
 * What the DNS side keeps of one named VIP: its name, addresses and ports (as `80/tcp,53/udp`).
 * Compact on purpose: a resolver holds every VIP of the cluster (100,000 in about 25 MB).
 */
export class VipEntry {
  constructor(
    readonly name: string,
    readonly ipv4: string,
    readonly ipv6: string | undefined,
    readonly ports: string,
  ) {}

  static of(v: VipRecord): VipEntry {
    return new VipEntry(v.name, v.ipv4, v.ipv6 || undefined, portsOf(v));
  }

  /** This entry when it says the same as `v` (no new strings kept), else a new one. */
  static reuse(old: VipEntry | undefined, v: VipRecord): VipEntry {
    const ports = portsOf(v);
    const ipv6 = v.ipv6 || undefined;
    if (old !== undefined && old.name === v.name && old.ipv4 === v.ipv4 && old.ipv6 === ipv6 && old.ports === ports) return old;
    return new VipEntry(v.name, v.ipv4, ipv6, ports);
  }

  /** Protocols of the ports, without duplicates. */
  protocols(): string[] {
    const out: string[] = [];
    for (const p of this.ports ? this.ports.split(',') : []) {
      const proto = p.slice(p.indexOf('/') + 1);
      if (!out.includes(proto)) out.push(proto);
    }
    return out;
  }
}

/**
 * Port lists as one string each, shared between entries: most VIPs of a cluster say the same
 * (`80/tcp`), so 100,000 entries hold a handful of strings instead of 100,000 copies (about 3 MB).
 * Bounded: past PORTS_INTERNED distinct lists, new ones are kept as they come.
 */
const PORTS_INTERNED = 4096;
const portStrings = new Map<string, string>();

function portsOf(v: VipRecord): string {
  let s = '';
  for (const p of v.ports) s += s ? `,${p.port}/${p.protocol}` : `${p.port}/${p.protocol}`;
  return internPorts(s);
}

/** The shared copy of a port list string (see portStrings). */
export function internPorts(s: string): string {
  const known = portStrings.get(s);
  if (known !== undefined) return known;
  if (portStrings.size < PORTS_INTERNED) portStrings.set(s, s);
  return s;
}

/** The maps a table answers from: the table in use, or one being built from a streamed snapshot. */
interface TableMaps {
  readonly vips: Map<string, VipEntry>;
  /** Dotted IPv4, or 32 hex digits for IPv6 -> entry. */
  readonly byAddress: Map<string, VipEntry>;
  /** Empty non-terminals with a reference count. */
  readonly ents: Map<string, number>;
}

const newMaps = (): TableMaps => ({ vips: new Map(), byAddress: new Map(), ents: new Map() });

export class VipTable implements RecordSource {
  version = 0;
  /** The store revision the table reflects. */
  revision = 0;
  /** What lookups answer from. Replaced as a whole when a streamed snapshot ends (commitLoad). */
  private maps: TableMaps = newMaps();
  /** The table being built from a streamed snapshot (beginLoad .. commitLoad), beside `maps`. */
  private next: TableMaps | undefined;
  private pools4: Cidr4[] = [];
  private ipv6Prefix: { hex: string; bits: number } | undefined;
  /** The reverse zones the pools fall in (in-addr.arpa / ip6.arpa). */
  reverseZones: readonly string[] = [];
  private poolsKey = '';

  constructor(opts: VipTableOptions) {
    this.setPools(opts);
  }

  /** Follow the pools in use (the store's, which win over the local config). Returns true when
   *  they changed. */
  setPools(opts: VipTableOptions): boolean {
    const key = JSON.stringify([opts.pools, opts.ipv6Pool ?? '']);
    if (key === this.poolsKey) return false;
    this.poolsKey = key;
    this.pools4 = opts.pools.map(parseCidr4).filter((c): c is Cidr4 => c !== undefined);
    const zones = opts.pools.flatMap(reverseZones4);
    this.ipv6Prefix = undefined;
    if (opts.ipv6Pool) {
      const [addr, len] = opts.ipv6Pool.split('/');
      const hex = expandV6(addr ?? '');
      if (hex) this.ipv6Prefix = { hex, bits: Number(len) };
      const z6 = reverseZone6(opts.ipv6Pool);
      if (z6) zones.push(z6);
    }
    this.reverseZones = [...new Set(zones)];
    this.version++;
    return true;
  }

  /** The pools the table follows. */
  get pools(): VipTableOptions {
    const [pools, ipv6Pool] = JSON.parse(this.poolsKey) as [string[], string];
    return ipv6Pool ? { pools, ipv6Pool } : { pools };
  }

  get size(): number {
    return this.maps.vips.size;
  }

  /** Every named VIP, for the local snapshot copy and the HTTP API while the store is away. */
  entries(): IterableIterator<VipEntry> {
    return this.maps.vips.values();
  }

  /** Replace everything with a snapshot (IP VIPs have no DNS names and are left out). Drops a
   *  table being built (beginLoad). */
  load(snapshot: { readonly revision: number; readonly vips: Iterable<VipRecord | VipEntry> }): void {
    this.next = undefined;
    const m = newMaps();
    for (const v of snapshot.vips) {
      if (v instanceof VipEntry) this.add(m, v);
      else if (v.kind === 'named') this.add(m, VipEntry.of(v));
    }
    this.maps = m;
    this.revision = snapshot.revision;
    this.version++;
  }

  /**
   * A streamed snapshot (@hoplite/vip's `watch(..., { chunkSize })`): `beginLoad()` starts a new
   * table beside the one in use (dropping one already being built), `loadChunk()` and
   * `applyToLoad()` fill it, `commitLoad(revision)` swaps it in at once. Lookups answer from the
   * table in use until then, so no name is ever missing half-way. Entries that did not change are
   * kept (the same objects), so a resync of an unchanged table costs little more than its maps.
   */
  beginLoad(): void {
    this.next = newMaps();
  }

  /** True between beginLoad and commitLoad / abortLoad. */
  get loading(): boolean {
    return this.next !== undefined;
  }

  /** Records of a streamed snapshot into the table being built (a name seen again replaces its entry). */
  loadChunk(vips: Iterable<VipRecord>): void {
    const m = this.next;
    if (m === undefined) return;
    for (const v of vips) {
      if (v.kind !== 'named') continue;
      const had = m.vips.get(v.name);
      if (had) this.remove(m, had);
      this.add(m, VipEntry.reuse(had ?? this.maps.vips.get(v.name), v));
    }
  }

  /** A change replayed inside a streamed snapshot, into the table being built. */
  applyToLoad(change: VipChange): void {
    if (this.next !== undefined) this.change(this.next, change);
  }

  /** The table being built becomes the table in use, at `revision`. */
  commitLoad(revision: number): void {
    if (this.next === undefined) return;
    this.maps = this.next;
    this.next = undefined;
    this.revision = revision;
    this.version++;
  }

  /** Drop the table being built (the store went away half-way). */
  abortLoad(): void {
    this.next = undefined;
  }

  /** Apply one change of the feed to the table in use. */
  apply(change: VipChange): void {
    this.change(this.maps, change);
    this.revision = change.revision;
    this.version++;
  }

  private change(m: TableMaps, change: VipChange): void {
    const key = change.type === 'put' ? change.vip.name : change.name;
    const old = m.vips.get(key);
    if (old) this.remove(m, old);
    if (change.type === 'put' && change.vip.kind === 'named') this.add(m, VipEntry.reuse(old ?? this.maps.vips.get(key), change.vip));
  }

  private add(m: TableMaps, v: VipEntry): void {
    m.vips.set(v.name, v);
    m.byAddress.set(v.ipv4, v);
    const v6 = v.ipv6 ? expandV6(v.ipv6) : undefined;
    if (v6) m.byAddress.set(v6, v);
    for (const e of this.entsOf(v)) m.ents.set(e, (m.ents.get(e) ?? 0) + 1);
  }

  private remove(m: TableMaps, v: VipEntry): void {
    m.vips.delete(v.name);
    if (m.byAddress.get(v.ipv4) === v) m.byAddress.delete(v.ipv4);
    const v6 = v.ipv6 ? expandV6(v.ipv6) : undefined;
    if (v6 && m.byAddress.get(v6) === v) m.byAddress.delete(v6);
    for (const e of this.entsOf(v)) {
      const n = (m.ents.get(e) ?? 0) - 1;
      if (n > 0) m.ents.set(e, n);
      else m.ents.delete(e);
    }
  }

  /** `<framework>.l4lb...` and `_<proto>.<framework>.l4lb...` of a VIP. */
  private entsOf(v: VipEntry): string[] {
    const fw = v.name.slice(v.name.indexOf('.') + 1);
    const out = [fw];
    for (const proto of v.protocols()) out.push(`_${proto}.${fw}`);
    return out;
  }

  lookup(name: string): readonly ZoneRecord[] | undefined {
    if (name.endsWith('.arpa')) return this.lookupReverse(name);
    const maps = this.maps;
    const v = maps.vips.get(name);
    if (v) {
      const out: ZoneRecord[] = [{ type: 'A', address: v.ipv4 }];
      if (v.ipv6) out.push({ type: 'AAAA', address: v.ipv6 });
      return out;
    }
    if (name.charCodeAt(0) === 0x5f /* _ */) {
      // _<label>._<proto>.<framework>.l4lb.thisdcos.directory
      const m = /^_([^.]+)\._(tcp|udp)\.([^.]+)\.l4lb\.thisdcos\.directory$/.exec(name);
      if (m) {
        const target = `${m[1]}.${m[3]}.${VIP_ZONE}`;
        const t = maps.vips.get(target);
        if (t) {
          const srv: ZoneRecord[] = [];
          for (const p of t.ports ? t.ports.split(',') : []) {
            const slash = p.indexOf('/');
            if (p.slice(slash + 1) === m[2]) srv.push({ type: 'SRV', priority: 0, weight: 0, port: Number(p.slice(0, slash)), target });
          }
          if (srv.length > 0) return srv;
        }
      }
    }
    if (maps.ents.has(name)) return [];
    return undefined;
  }

  private lookupReverse(name: string): readonly ZoneRecord[] | undefined {
    const addr = addressOfReverse(name);
    if (addr !== undefined) {
      const v = this.maps.byAddress.get(addr);
      return v ? [{ type: 'PTR', target: v.name }] : undefined;
    }
    // A partial reverse name inside a pool: an empty non-terminal (NODATA is always safe here).
    return this.owns(name) ? [] : undefined;
  }

  /** Reverse names that belong to the pools (others go upstream as usual). */
  owns(name: string): boolean {
    if (name.endsWith('.in-addr.arpa')) {
      const labels = name.slice(0, -'.in-addr.arpa'.length).split('.').reverse();
      if (labels.length > 4 || labels.some((l) => !/^(0|[1-9]\d{0,2})$/.test(l) || Number(l) > 255)) return false;
      let start = 0;
      for (let i = 0; i < 4; i++) start = start * 256 + (i < labels.length ? Number(labels[i]) : 0);
      const end = start + 2 ** (32 - labels.length * 8) - 1;
      return this.pools4.some((p) => start <= p.end && end >= p.start);
    }
    if (name.endsWith('.ip6.arpa') && this.ipv6Prefix) {
      const nibbles = name.slice(0, -'.ip6.arpa'.length).split('.').reverse();
      if (nibbles.length > 32 || nibbles.some((n) => !/^[0-9a-f]$/.test(n))) return false;
      const bits = Math.min(nibbles.length * 4, this.ipv6Prefix.bits);
      return prefixBitsEqual(nibbles.join(''), this.ipv6Prefix.hex, bits);
    }
    return false;
  }
}

function prefixBitsEqual(a: string, b: string, bits: number): boolean {
  const full = Math.floor(bits / 4);
  if (a.slice(0, full) !== b.slice(0, full)) return false;
  const rest = bits % 4;
  if (rest === 0) return true;
  const mask = (0xf << (4 - rest)) & 0xf;
  return (parseInt(a[full]!, 16) & mask) === (parseInt(b[full]!, 16) & mask);
}

/** The address of a full reverse name: dotted quad, or 32 hex digits for IPv6 (the table's keys). */
function addressOfReverse(name: string): string | undefined {
  if (name.endsWith('.in-addr.arpa')) {
    const parts = name.slice(0, -'.in-addr.arpa'.length).split('.');
    if (parts.length !== 4 || parts.some((p) => !/^(0|[1-9]\d{0,2})$/.test(p) || Number(p) > 255)) return undefined;
    return parts.reverse().join('.');
  }
  if (name.endsWith('.ip6.arpa')) {
    const parts = name.slice(0, -'.ip6.arpa'.length).split('.');
    if (parts.length !== 32 || parts.some((p) => !/^[0-9a-f]$/.test(p))) return undefined;
    return parts.reverse().join('');
  }
  return undefined;
}
