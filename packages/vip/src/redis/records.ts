/**
 * Records as the Lua scripts store them (JSON in the `vips` hash) and as the store returns them.
 * Stored: {name, kind, label, framework, a (IPv4 as unsigned int), ports, pinned, cr, ur}.
 */
import { formatIpv4 } from '../addr.js';
import type { Protocol, VipKind, VipPort, VipRecord } from '../types.js';

export interface StoredRecord {
  name: string;
  kind: VipKind;
  label: string;
  framework: string;
  a: number;
  ports: VipPort[];
  pinned: boolean;
  cr: number;
  ur: number;
}

function isProtocol(p: unknown): p is Protocol {
  return p === 'tcp' || p === 'udp';
}

/** Parse a stored record; undefined when it is not one (check() reports those). */
export function parseStored(json: string): StoredRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.name !== 'string' || (o.kind !== 'named' && o.kind !== 'ip')) return undefined;
  if (typeof o.a !== 'number' || !Number.isInteger(o.a) || o.a < 0 || o.a > 0xffffffff) return undefined;
  // cjson encodes an empty array as {}.
  const rawPorts = Array.isArray(o.ports) ? o.ports : [];
  const ports: VipPort[] = [];
  for (const p of rawPorts) {
    const q = p as Record<string, unknown>;
    if (typeof q.port !== 'number' || !isProtocol(q.protocol)) return undefined;
    ports.push({ port: q.port, protocol: q.protocol });
  }
  return {
    name: o.name,
    kind: o.kind,
    label: typeof o.label === 'string' ? o.label : '',
    framework: typeof o.framework === 'string' ? o.framework : '',
    a: o.a,
    ports,
    pinned: o.pinned === true,
    cr: typeof o.cr === 'number' ? o.cr : 0,
    ur: typeof o.ur === 'number' ? o.ur : 0,
  };
}

export function toVipRecord(s: StoredRecord): VipRecord {
  return {
    name: s.name,
    kind: s.kind,
    label: s.label,
    framework: s.framework,
    ipv4: formatIpv4(s.a),
    ports: s.ports,
    pinned: s.pinned,
    createdRevision: s.cr,
    updatedRevision: s.ur,
  };
}

/** Decode a record the scripts returned; throws on garbage (a bug or foreign data). */
export function decodeRecord(json: string): VipRecord {
  const s = parseStored(json);
  if (s === undefined) throw new Error(`unreadable VIP record in Redis: ${json.slice(0, 200)}`);
  return toVipRecord(s);
}
