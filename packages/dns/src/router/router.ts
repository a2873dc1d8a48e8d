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

  constructor(routes: readonly ZoneRoute[], options: RouterOptions = {}) {
    this.renames = options.renames !== false;
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

  /** The route for a lowercased lookup name: longest matching zone suffix whose `owns` accepts it. */
  route(name: string): Route {
    const table = this.table;
    let at = 0;
    for (;;) {
      const suffix = at === 0 ? name : name.slice(at);
      const list = table.get(suffix);
      if (list !== undefined) {
        for (let i = 0; i < list.length; i++) {
          const e = list[i]!;
          if (e.owns === undefined || e.owns(name)) return e.route;
        }
      }
      const dot = nextLabel(name, at);
      if (dot < 0) break;
      at = dot;
    }
    if (this.hasRoot && name !== '') {
      for (const e of table.get('')!) if (e.owns === undefined || e.owns(name)) return e.route;
    }
    return UPSTREAM_ROUTE;
  }
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
  const t = name.lastIndexOf('thisdcos.');
  if (t < 0 || (t > 0 && name.charCodeAt(t - 1) !== 0x2e)) return undefined;
  const last = name.slice(t + 'thisdcos.'.length);
  if (last.length === 0 || last.includes('.') || last.includes('\\')) return undefined;
  const head = name.slice(0, t); // '' or 'x.y.' (with its trailing dot)
  if (head === 'dclb.' || head.endsWith('.dclb.')) return [`dclb.thisdcos.${last}`, 'l4lb.thisdcos.directory'];
  if (last === 'global') return ['thisdcos.global', 'thisdcos.directory'];
  return undefined;
}
