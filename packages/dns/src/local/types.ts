/**
 * The small interface through which records reach a local zone. The VIP table (in @hoplite/cli)
 * implements RecordSource; @hoplite/dns knows nothing of VIPs.
 */

export type ZoneRecord =
  | { readonly type: 'A'; readonly address: string; readonly ttl?: number }
  | { readonly type: 'AAAA'; readonly address: string; readonly ttl?: number }
  | {
      readonly type: 'SRV';
      readonly priority: number;
      readonly weight: number;
      readonly port: number;
      /** A name (lowercase, no trailing dot); its A/AAAA go in the additional section when local. */
      readonly target: string;
      readonly ttl?: number;
    }
  | { readonly type: 'PTR'; readonly target: string; readonly ttl?: number }
  | { readonly type: 'CNAME'; readonly target: string; readonly ttl?: number }
  | { readonly type: 'TXT'; readonly text: string | readonly string[]; readonly ttl?: number };

export type ZoneRecordType = ZoneRecord['type'];

export interface RecordSource {
  /**
   * The records of `name` (lowercase, no trailing dot, presentation form).
   * `undefined`: the name does not exist (NXDOMAIN). `[]`: the name exists without records
   * (e.g. an empty non-terminal such as `marathon.l4lb.thisdcos.directory` when
   * `app.marathon.l4lb.thisdcos.directory` exists): NOERROR with no data.
   * Called only on a cache miss; must not throw (a throw is answered SERVFAIL and logged).
   */
  lookup(name: string): readonly ZoneRecord[] | undefined;
  /** Bumped on every change: cached encoded answers are dropped when it moves. */
  readonly version: number;
}

export interface SoaFields {
  readonly mname: string;
  readonly rname: string;
  readonly serial: number;
  readonly refresh: number;
  readonly retry: number;
  readonly expire: number;
  /** Also the TTL cap of negative answers (RFC 2308). */
  readonly minimum: number;
  /** TTL of the SOA record itself. */
  readonly ttl: number;
}

export interface NsFields {
  readonly name: string;
  readonly ttl: number;
}

/** A local zone, as given in `localZones` (see LOCAL_ZONE_DEFAULTS for what is optional). */
export interface LocalZoneConfig {
  /** The apex, e.g. `l4lb.thisdcos.directory` (case and a trailing dot are ignored). */
  readonly zone: string;
  readonly source: RecordSource;
  /**
   * Reverse zones also answered from `source` (e.g. `10.in-addr.arpa`); a name under one is
   * ours only when `owns(name)` says so (all of them when `owns` is absent), others go on to
   * forward zones / upstreams.
   */
  readonly reverseZones?: readonly string[];
  owns?(name: string): boolean;
  /** TTL of records that carry none (seconds). */
  readonly ttl?: number;
  readonly soa?: Partial<SoaFields>;
  readonly ns?: Partial<NsFields>;
}

/** A validated local zone, defaults applied. */
export interface ResolvedLocalZone {
  readonly zone: string;
  readonly source: RecordSource;
  readonly reverseZones: readonly string[];
  readonly owns: ((name: string) => boolean) | undefined;
  readonly ttl: number;
  readonly soa: SoaFields;
  readonly ns: NsFields;
}

export const LOCAL_ZONE_DEFAULTS = Object.freeze({
  ttl: 5,
  soa: Object.freeze({
    mname: 'ns.spartan',
    rname: 'hostmaster.spartan',
    serial: 1,
    refresh: 60,
    retry: 180,
    expire: 86400,
    minimum: 1,
    ttl: 3600,
  }) as SoaFields,
  ns: Object.freeze({ name: 'ns.spartan', ttl: 3600 }) as NsFields,
});
