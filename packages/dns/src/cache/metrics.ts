/**
 * Metrics of the cache stage (`hoplite_dns_cache_*`), every labelled child created once.
 */
import type { CounterChild, Registry } from '../metrics/registry.js';
import { KIND_NAMES, UNCACHEABLE_REASONS, type Kind, type Uncacheable } from './entry.js';

type PerKind = readonly [CounterChild, CounterChild];

export interface CacheGauges {
  count(kind: Kind): number;
  bytes(kind: Kind): number;
}

export class CacheMetrics {
  /** Fresh answers from the cache. */
  readonly hits: PerKind;
  /** Queries handed to the next stages (nothing fresh cached). */
  readonly misses: CounterChild;
  /** Expired entries answered because the next stages failed (or within staleRefresh after that). */
  readonly stale: PerKind;
  /** Positive entries answered instead of a later NXDOMAIN (keepOnNxdomain). */
  readonly kept: CounterChild;
  /** Background refreshes started (prefetch). */
  readonly prefetches: CounterChild;
  /** Answers stored. */
  readonly inserts: PerKind;
  /** Entries evicted to make room. */
  readonly evictions: PerKind;
  private readonly uncached = new Map<Uncacheable, CounterChild>();

  constructor(m: Registry, gauges: CacheGauges) {
    const perKind = (name: string, help: string): PerKind => {
      const c = m.counter(name, help);
      return [c.labels({ kind: KIND_NAMES[0] }), c.labels({ kind: KIND_NAMES[1] })];
    };
    this.hits = perKind('hoplite_dns_cache_hits_total', 'Queries answered from the cache with a fresh entry, by kind (positive, negative)');
    this.misses = m.counter('hoplite_dns_cache_misses_total', 'Queries handed to the next stages: no fresh entry').labels();
    this.stale = perKind('hoplite_dns_cache_stale_total', 'Expired entries answered because the next stages failed (RFC 8767), by kind');
    this.kept = m.counter('hoplite_dns_cache_kept_total', 'Positive entries answered instead of a later NXDOMAIN (keepOnNxdomain)').labels();
    this.prefetches = m.counter('hoplite_dns_cache_prefetches_total', 'Popular entries asked again in the background before they expire (prefetch)').labels();
    this.inserts = perKind('hoplite_dns_cache_inserts_total', 'Answers stored, by kind');
    this.evictions = perKind('hoplite_dns_cache_evictions_total', 'Entries evicted to make room, by kind');
    const uncached = m.counter('hoplite_dns_cache_uncached_total', 'Answers not stored, by reason (malformed, truncated, rcode, question, ttl_zero, no_soa, too_large)');
    for (const r of UNCACHEABLE_REASONS) this.uncached.set(r, uncached.labels({ reason: r }));
    const entries = m.gauge('hoplite_dns_cache_entries', 'Entries held, by kind (expired ones kept for stale answers included)');
    const bytes = m.gauge('hoplite_dns_cache_bytes', 'Estimated bytes held, by kind');
    entries.collect(() => {
      for (const k of [0, 1] as const) entries.set(gauges.count(k), { kind: KIND_NAMES[k] });
    });
    bytes.collect(() => {
      for (const k of [0, 1] as const) bytes.set(gauges.bytes(k), { kind: KIND_NAMES[k] });
    });
  }

  notCached(reason: Uncacheable): void {
    this.uncached.get(reason)!.inc();
  }
}
