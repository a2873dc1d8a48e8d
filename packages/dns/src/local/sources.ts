/** Ready-made RecordSources: a fixed table, and an in-memory table that can change. */
import type { RecordSource, ZoneRecord } from './types.js';
import type { ResolvedLocalZone } from './types.js';
import { LOCAL_ZONE_DEFAULTS } from './types.js';

function parents(name: string): string[] {
  const out: string[] = [];
  let i = name.indexOf('.');
  while (i >= 0) {
    out.push(name.slice(i + 1));
    i = name.indexOf('.', i + 1);
  }
  return out;
}

/**
 * An in-memory RecordSource. Names are stored lowercase without a trailing dot; every ancestor
 * of a stored name exists (empty non-terminal: `[]`). `version` moves on every change.
 */
export class MemoryRecordSource implements RecordSource {
  private readonly records = new Map<string, readonly ZoneRecord[]>();
  private readonly below = new Map<string, number>();
  private v = 0;

  constructor(initial?: Readonly<Record<string, readonly ZoneRecord[]>>) {
    if (initial) for (const [name, recs] of Object.entries(initial)) this.put(name, recs);
  }

  get version(): number {
    return this.v;
  }

  lookup(name: string): readonly ZoneRecord[] | undefined {
    const r = this.records.get(name);
    if (r !== undefined) return r;
    return this.below.has(name) ? [] : undefined;
  }

  /** Replace the records of `name`. */
  set(name: string, records: readonly ZoneRecord[]): void {
    this.put(name, records);
    this.v++;
  }

  delete(name: string): boolean {
    const key = norm(name);
    if (!this.records.delete(key)) return false;
    for (const p of parents(key)) {
      const n = (this.below.get(p) ?? 1) - 1;
      if (n <= 0) this.below.delete(p);
      else this.below.set(p, n);
    }
    this.v++;
    return true;
  }

  clear(): void {
    this.records.clear();
    this.below.clear();
    this.v++;
  }

  get size(): number {
    return this.records.size;
  }

  private put(name: string, records: readonly ZoneRecord[]): void {
    const key = norm(name);
    if (!this.records.has(key)) for (const p of parents(key)) this.below.set(p, (this.below.get(p) ?? 0) + 1);
    this.records.set(key, Object.freeze([...records]));
  }
}

function norm(name: string): string {
  const n = name.toLowerCase();
  return n.endsWith('.') ? n.slice(0, -1) : n;
}

/** A RecordSource that never changes. */
export function staticSource(records: Readonly<Record<string, readonly ZoneRecord[]>>): RecordSource {
  return new MemoryRecordSource(records);
}

/** The liveness zones: `ready.spartan` and `ready.hoplite` answer A 127.0.0.1. */
export function readyZones(): ResolvedLocalZone[] {
  const mk = (zone: string): ResolvedLocalZone => ({
    zone,
    source: staticSource({ [`ready.${zone}`]: [{ type: 'A', address: '127.0.0.1' }] }),
    reverseZones: [],
    owns: undefined,
    ttl: LOCAL_ZONE_DEFAULTS.ttl,
    soa: LOCAL_ZONE_DEFAULTS.soa,
    ns: LOCAL_ZONE_DEFAULTS.ns,
  });
  return [mk('spartan'), mk('hoplite')];
}
