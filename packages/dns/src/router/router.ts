/**
 * The zone router: an ordered table of zones (declared by the stages, see ZoneRoute), matched by
 * longest label suffix on the lowercased name, once per query. Renames as the reference:
 *   `<x>.dclb.thisdcos.<any label>` -> `<x>.l4lb.thisdcos.directory`
 *   `<x>.thisdcos.global`           -> `<x>.thisdcos.directory`
 * (the first rule wins; applied once). The answer carries the name the client asked.
 */
import type { Route, RouteKind, ZoneRoute } from '../chain/stage.js';

export interface RouterOptions {
  /** Apply the reference's renames (default true). */
  readonly renames?: boolean;
  /** Names routed `local` whose route is remembered (default 10000; once full, no more are added). */
  readonly cacheSize?: number;
}

interface Entry {
  readonly route: Route;
  readonly owns: ((name: string) => boolean) | undefined;
}

/** The route of names no zone matched: the default upstream resolvers. */
export const UPSTREAM_ROUTE: Route = Object.freeze({ kind: 'upstream' as RouteKind, zone: '' });

export class Router {
  private readonly table = new Map<string, Entry[]>();
  private readonly renames: boolean;
  private readonly hasRoot: boolean;
  /** Labels of the longest zone: longer suffixes cannot match. */
  private readonly maxLabels: number;
  /** The last label of every zone (not the root): a name whose last label is not here matches none. */
  private readonly tails = new Set<string>();
  /**
   * Routes of names routed `local` (decided without an `owns` filter): the names answered
   * in-process, which repeat; the first `cacheSize` of them, then no more. Other names are
   * decided each time (a few map lookups): most are new
   * (random names forwarded or fanned out), and remembering them cost more than deciding.
   */
  private readonly memo = new Map<string, Route>();
  private readonly memoMax: number;
  private consulted = false;

  constructor(routes: readonly ZoneRoute[], options: RouterOptions = {}) {
    this.renames = options.renames !== false;
    this.memoMax = options.cacheSize ?? 10000;
    for (const r of routes) {
      const zone = normalizeZone(r.zone);
      const entry: Entry = {
        route: Object.freeze({ kind: r.kind, zone }),
        owns: r.owns ? r.owns.bind(r) : undefined,
      };
      const list = this.table.get(zone);
      if (list) list.push(entry);
      else this.table.set(zone, [entry]);
    }
    this.hasRoot = this.table.has('');
    let max = 0;
    for (const zone of this.table.keys()) {
      if (zone === '') continue;
      max = Math.max(max, zone.split('.').length);
      this.tails.add(zone.slice(zone.lastIndexOf('.') + 1));
    }
    this.maxLabels = max;
  }

  /** The zones in the table, in declaration order per zone (for logs and docs). */
  zones(): Array<{ zone: string; kind: RouteKind }> {
    const out: Array<{ zone: string; kind: RouteKind }> = [];
    for (const list of this.table.values()) for (const e of list) out.push({ zone: e.route.zone, kind: e.route.kind });
    return out;
  }

  /** The lookup name for a lowercased asked name (renamed when a rename applies and renames are on). */
  rename(lower: string): string {
    return this.renames ? applyRenames(lower) : lower;
  }

  /**
   * The route for a lowercased lookup name: the longest matching zone suffix whose `owns` accepts
   * it. At most one map lookup per label of the longest zone.
   */
  route(name: string): Route {
    if (this.memo.size > 0) {
      const hit = this.memo.get(name);
      if (hit !== undefined) return hit;
    }
    if (!this.hasRoot) {
      // A zone that is a suffix of the name ends with the name's last label (also when escaped
      // dots are involved: both are cut at their last '.'). Most forwarded names stop here.
      if (!this.tails.has(name.slice(lastDot(name, name.length) + 1))) return UPSTREAM_ROUTE;
    }
    this.consulted = false;
    const route = this.decide(name);
    // Once full, the memo keeps what it has: a zone with more names than the memo queried at
    // random (100k VIPs) would otherwise refill and drop it over and over, for few hits.
    if (route.kind === 'local' && !this.consulted && this.memo.size < this.memoMax) this.memo.set(name, route);
    return route;
  }

  private decide(name: string): Route {
    const table = this.table;
    let at = 0;
    if (name.indexOf('\\') < 0) {
      // Start at the suffix with as many labels as the longest zone.
      let dot = name.length;
      for (let k = 0; k < this.maxLabels; k++) {
        dot = lastDot(name, dot);
        if (dot < 0) break;
      }
      at = dot < 0 ? 0 : dot + 1;
    }
    for (;;) {
      const suffix = at === 0 ? name : name.slice(at);
      const list = table.get(suffix);
      if (list !== undefined) {
        for (let i = 0; i < list.length; i++) {
          const e = list[i]!;
          if (e.owns === undefined) return e.route;
          this.consulted = true;
          if (e.owns(name)) return e.route;
        }
      }
      const dot = nextLabel(name, at);
      if (dot < 0) break;
      at = dot;
    }
    if (this.hasRoot && name !== '') {
      for (const e of table.get('')!) {
        if (e.owns === undefined) return e.route;
        this.consulted = true;
        if (e.owns(name)) return e.route;
      }
    }
    return UPSTREAM_ROUTE;
  }
}

/**
 * Index of the last '.' before `end` (exclusive), or -1. Used on every query instead of
 * String#lastIndexOf, which V8 runs as a C++ builtin (a runtime call); names are short.
 */
function lastDot(name: string, end: number): number {
  for (let i = end - 1; i >= 0; i--) if (name.charCodeAt(i) === 0x2e) return i;
  return -1;
}

/** Start of the label after the one starting at `from` (skipping `\.` escapes), or -1. */
function nextLabel(name: string, from: number): number {
  let i = name.indexOf('.', from);
  while (i >= 0) {
    let slashes = 0;
    for (let j = i - 1; j >= from && name.charCodeAt(j) === 0x5c; j--) slashes++;
    if (slashes % 2 === 0) return i + 1;
    i = name.indexOf('.', i + 1);
  }
  return -1;
}

/** Lowercase, without a trailing dot ('.' is the root ''). */
export function normalizeZone(zone: string): string {
  let z = zone.toLowerCase();
  if (z.endsWith('.') && !z.endsWith('\\.')) z = z.slice(0, -1);
  return z;
}

/** The reference's renames on a lowercased name; the name itself when none applies. */
export function applyRenames(name: string): string {
  const r = renameSuffixes(name);
  return r === undefined ? name : name.slice(0, name.length - r[0].length) + r[1];
}

/**
 * When a rename applies to the lowercased `name`: [the asked suffix, the looked-up suffix]
 * (`x.dclb.thisdcos.global` -> ['dclb.thisdcos.global', 'l4lb.thisdcos.directory']).
 */
export function renameSuffixes(name: string): [string, string] | undefined {
  // Fast rejection without allocating: either `dclb.` precedes the label before the last one, or
  // the last label is `global` (checked first: they reject the names that do end in
  // `thisdcos.<label>`, e.g. every VIP name); then that label must be `thisdcos`.
  const last = lastDot(name, name.length);
  if (last < 8) return undefined;
  const t = last - 8; // where `thisdcos` would start
  const dclb =
    t >= 5 &&
    name.charCodeAt(t - 1) === 0x2e && // .
    name.charCodeAt(t - 2) === 0x62 && // b
    name.charCodeAt(t - 3) === 0x6c && // l
    name.charCodeAt(t - 4) === 0x63 && // c
    name.charCodeAt(t - 5) === 0x64 && // d
    (t === 5 || name.charCodeAt(t - 6) === 0x2e);
  const global = !dclb && name.length - last === 7 && name.endsWith('global');
  if (!dclb && !global) return undefined;
  if (!name.startsWith('thisdcos', t)) return undefined;
  if (t > 0 && name.charCodeAt(t - 1) !== 0x2e) return undefined;
  if (last + 1 >= name.length || name.indexOf('\\') >= 0) return undefined;
  return dclb ? [`dclb.thisdcos.${name.slice(last + 1)}`, 'l4lb.thisdcos.directory'] : ['thisdcos.global', 'thisdcos.directory'];
}
