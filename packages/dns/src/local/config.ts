/** Validation of `localZones` (all problems collected, defaults applied). */
import type { ConfigProblem } from '../errors.js';
import { encodeName } from '../wire/name.js';
import { normalizeZone } from '../router/router.js';
import { LOCAL_ZONE_DEFAULTS, type NsFields, type ResolvedLocalZone, type SoaFields } from './types.js';

const ZONE_KEYS = new Set(['zone', 'source', 'reverseZones', 'owns', 'ttl', 'soa', 'ns']);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** True when `name` is a valid presentation domain name (labels 1..63 bytes, total <= 255). */
export function isValidName(name: unknown): name is string {
  if (typeof name !== 'string') return false;
  try {
    encodeName(name);
    return true;
  } catch {
    return false;
  }
}

function u32(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

/** Validate `localZones`; pushes problems (key prefixed with `key`) and returns what was valid. */
export function validateLocalZones(value: unknown, key: string, problems: ConfigProblem[]): ResolvedLocalZone[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) {
    problems.push({ key, value, expected: 'an array of { zone, source, reverseZones?, owns?, ttl?, soa?, ns? }' });
    return [];
  }
  const out: ResolvedLocalZone[] = [];
  const seen = new Set<string>();
  value.forEach((z: unknown, i) => {
    const k = `${key}[${i}]`;
    const before = problems.length;
    if (!isObject(z)) {
      problems.push({ key: k, value: z, expected: 'an object { zone, source, ... }' });
      return;
    }
    let zone = '';
    if (!isValidName(z.zone) || normalizeZone(z.zone) === '') {
      problems.push({ key: `${k}.zone`, value: z.zone, expected: 'a domain name other than the root, e.g. "l4lb.thisdcos.directory"' });
    } else {
      zone = normalizeZone(z.zone);
      if (seen.has(zone)) problems.push({ key: `${k}.zone`, value: z.zone, expected: 'a zone not listed twice' });
      seen.add(zone);
    }
    const src = z.source as { lookup?: unknown; version?: unknown } | undefined;
    if (!isObject(src) || typeof src.lookup !== 'function' || typeof src.version !== 'number') {
      problems.push({ key: `${k}.source`, value: describeObject(src), expected: 'a RecordSource: { lookup(name): ZoneRecord[] | undefined, version: number }' });
    }
    const reverseZones: string[] = [];
    if (z.reverseZones !== undefined) {
      if (!Array.isArray(z.reverseZones)) {
        problems.push({ key: `${k}.reverseZones`, value: z.reverseZones, expected: 'an array of zone names under in-addr.arpa or ip6.arpa' });
      } else {
        z.reverseZones.forEach((r: unknown, j) => {
          const rn = typeof r === 'string' ? normalizeZone(r) : '';
          if (!isValidName(r) || !(rn === 'in-addr.arpa' || rn === 'ip6.arpa' || rn.endsWith('.in-addr.arpa') || rn.endsWith('.ip6.arpa'))) {
            problems.push({ key: `${k}.reverseZones[${j}]`, value: r, expected: 'a zone name under in-addr.arpa or ip6.arpa, e.g. "10.in-addr.arpa"' });
          } else if (seen.has(rn)) {
            problems.push({ key: `${k}.reverseZones[${j}]`, value: r, expected: 'a zone not listed twice' });
          } else {
            seen.add(rn);
            reverseZones.push(rn);
          }
        });
      }
    }
    if (z.owns !== undefined && typeof z.owns !== 'function') {
      problems.push({ key: `${k}.owns`, value: describeObject(z.owns), expected: 'a function (name) => boolean' });
    }
    for (const f of Object.keys(z)) {
      if (!ZONE_KEYS.has(f)) problems.push({ key: `${k}.${f}`, value: describeObject(z[f]), expected: `one of the keys ${[...ZONE_KEYS].join(', ')}` });
    }
    const ttl = z.ttl ?? LOCAL_ZONE_DEFAULTS.ttl;
    if (!u32(ttl) || (ttl as number) > 0x7fffffff) problems.push({ key: `${k}.ttl`, value: z.ttl, expected: 'an integer number of seconds, 0 .. 2147483647' });
    const soa = resolveSoa(z.soa, `${k}.soa`, problems);
    const ns = resolveNs(z.ns, `${k}.ns`, problems);
    if (problems.length !== before) return;
    out.push(
      Object.freeze({
        zone,
        source: z.source as ResolvedLocalZone['source'],
        reverseZones: Object.freeze(reverseZones),
        owns: typeof z.owns === 'function' ? (z.owns as (n: string) => boolean).bind(z) : undefined,
        ttl: ttl as number,
        soa,
        ns,
      }),
    );
  });
  return out;
}

function describeObject(v: unknown): unknown {
  if (typeof v === 'function') return '[function]';
  if (isObject(v)) return `[object with keys ${Object.keys(v).join(', ')}]`;
  return v;
}

function resolveSoa(v: unknown, key: string, problems: ConfigProblem[]): SoaFields {
  const d = LOCAL_ZONE_DEFAULTS.soa;
  if (v === undefined) return d;
  if (!isObject(v)) {
    problems.push({ key, value: v, expected: 'an object { mname?, rname?, serial?, refresh?, retry?, expire?, minimum?, ttl? }' });
    return d;
  }
  const out: Record<string, unknown> = { ...d };
  for (const f of ['mname', 'rname'] as const) {
    if (v[f] === undefined) continue;
    if (!isValidName(v[f])) problems.push({ key: `${key}.${f}`, value: v[f], expected: 'a domain name' });
    else out[f] = normalizeZone(v[f] as string);
  }
  for (const f of ['serial', 'refresh', 'retry', 'expire', 'minimum', 'ttl'] as const) {
    if (v[f] === undefined) continue;
    if (!u32(v[f])) problems.push({ key: `${key}.${f}`, value: v[f], expected: 'an integer 0 .. 4294967295' });
    else out[f] = v[f];
  }
  for (const f of Object.keys(v)) {
    if (!(f in d)) problems.push({ key: `${key}.${f}`, value: v[f], expected: 'one of the keys mname, rname, serial, refresh, retry, expire, minimum, ttl' });
  }
  return Object.freeze(out) as unknown as SoaFields;
}

function resolveNs(v: unknown, key: string, problems: ConfigProblem[]): NsFields {
  const d = LOCAL_ZONE_DEFAULTS.ns;
  if (v === undefined) return d;
  if (!isObject(v)) {
    problems.push({ key, value: v, expected: 'an object { name?, ttl? }' });
    return d;
  }
  let name = d.name;
  let ttl = d.ttl;
  if (v.name !== undefined) {
    if (!isValidName(v.name) || normalizeZone(v.name) === '') problems.push({ key: `${key}.name`, value: v.name, expected: 'a domain name' });
    else name = normalizeZone(v.name);
  }
  if (v.ttl !== undefined) {
    if (!u32(v.ttl)) problems.push({ key: `${key}.ttl`, value: v.ttl, expected: 'an integer 0 .. 4294967295' });
    else ttl = v.ttl as number;
  }
  for (const f of Object.keys(v)) {
    if (f !== 'name' && f !== 'ttl') problems.push({ key: `${key}.${f}`, value: v[f], expected: 'one of the keys name, ttl' });
  }
  return Object.freeze({ name, ttl });
}
