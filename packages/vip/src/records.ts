/**
 * Helpers both stores share: port lists, and the validation of an exported table before import.
 */
import { formatIpv4, parseIpv4 } from './addr.js';
import { BadPortError } from './errors.js';
import { isNormalizedVipName, parseVipDnsName } from './names.js';
import { inLayout } from './pools.js';
import type { PoolLayout, VipPort, VipRecord, VipTableExport } from './types.js';

/** The problem codes `check` reports (CheckProblem.code), both stores. docs/vip.md lists them. */
export const CHECK_PROBLEM_CODES = Object.freeze([
  'NOT_INITIALIZED',
  'LAYOUT_DIFFERS',
  'RECORD_UNREADABLE',
  'INDEX_MISMATCH',
  'DUPLICATE_ADDRESS',
  'OUTSIDE_POOL',
  'QUARANTINE_MISMATCH',
  'FREE_OVERLAP',
  'FREE_FRAGMENTED',
  'FREE_OUTSIDE_POOL',
  'FREE_LEAK',
  'REVISION_BEHIND',
] as const);

function comparePorts(a: VipPort, b: VipPort): number {
  return a.port - b.port || (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0);
}

function validPort(p: unknown): p is VipPort {
  if (typeof p !== 'object' || p === null) return false;
  const { port, protocol } = p as { port: unknown; protocol: unknown };
  return Number.isInteger(port) && (port as number) >= 1 && (port as number) <= 65535 && (protocol === 'tcp' || protocol === 'udp');
}

/** Validate, sort and deduplicate ports. Throws BadPortError. */
export function normalizePorts(ports: readonly VipPort[], argument = 'ports'): VipPort[] {
  if (!Array.isArray(ports)) throw new BadPortError(argument, ports, 'expected a list of { port, protocol }');
  for (const p of ports) {
    if (!validPort(p)) throw new BadPortError(argument, p, 'not a { port: 1-65535, protocol: "tcp" | "udp" }');
  }
  return mergePorts([], ports);
}

/** `existing` plus `added`, sorted by port then protocol, without duplicates. Inputs must be valid. */
export function mergePorts(existing: readonly VipPort[], added: readonly VipPort[]): VipPort[] {
  const all = [...existing, ...added].map((p) => ({ port: p.port, protocol: p.protocol }));
  all.sort(comparePorts);
  const out: VipPort[] = [];
  for (const p of all) {
    const last = out[out.length - 1];
    if (last === undefined || comparePorts(last, p) !== 0) out.push(p);
  }
  return out;
}

/** True when every port of `added` is already in `existing`. */
export function hasAllPorts(existing: readonly VipPort[], added: readonly VipPort[]): boolean {
  return added.every((a) => existing.some((e) => e.port === a.port && e.protocol === a.protocol));
}

/** Serialize ports compactly (`5555/tcp,53/udp`), the form stores keep. */
export function encodePorts(ports: readonly VipPort[]): string {
  return ports.map((p) => `${p.port}/${p.protocol}`).join(',');
}

export function decodePorts(text: string): VipPort[] {
  if (text === '') return [];
  return text.split(',').map((s) => {
    const [port, protocol] = s.split('/');
    return { port: Number(port), protocol: protocol === 'udp' ? 'udp' : 'tcp' };
  });
}

/**
 * Every problem of a table about to be imported under `layout` (empty when it can be imported).
 * Checks the format, each record (name form, kind, address inside the layout, ports, revisions),
 * one address per name and one name per address, and the quarantine entries (inside the layout,
 * not on a VIP's address, one entry per address).
 */
export function validateTable(table: unknown, layout: PoolLayout): string[] {
  const problems: string[] = [];
  if (typeof table !== 'object' || table === null) return ['the table is not an object'];
  const t = table as Partial<VipTableExport>;
  if (t.format !== 'hoplite-vip-table') problems.push(`format is ${JSON.stringify(t.format)}, expected "hoplite-vip-table"`);
  if (t.version !== 1) problems.push(`version is ${JSON.stringify(t.version)}, expected 1`);
  if (!Number.isSafeInteger(t.revision) || (t.revision as number) < 0) problems.push(`revision ${JSON.stringify(t.revision)} is not a non-negative integer`);
  const revision = Number.isSafeInteger(t.revision) ? (t.revision as number) : Number.MAX_SAFE_INTEGER;
  if (!Array.isArray(t.vips)) {
    problems.push('vips is not a list');
    return problems;
  }
  if (!Array.isArray(t.quarantine)) problems.push('quarantine is not a list');
  const names = new Set<string>();
  const addresses = new Map<number, string>();
  t.vips.forEach((v: Partial<VipRecord>, i) => {
    const at = `vips[${i}]${typeof v?.name === 'string' ? ` (${v.name})` : ''}`;
    if (typeof v !== 'object' || v === null) {
      problems.push(`${at} is not an object`);
      return;
    }
    const ip = typeof v.ipv4 === 'string' ? parseIpv4(v.ipv4) : undefined;
    if (ip === undefined) problems.push(`${at}: ipv4 ${JSON.stringify(v.ipv4)} is not a dotted IPv4 address`);
    else if (!inLayout(layout, ip)) problems.push(`${at}: ipv4 ${v.ipv4} is outside the pools`);
    if (v.kind === 'named') {
      if (typeof v.name !== 'string' || !isNormalizedVipName(v.name)) {
        problems.push(`${at}: name ${JSON.stringify(v.name)} is not a normalized VIP name`);
      } else {
        const parsed = parseVipDnsName(v.name);
        if (parsed === undefined || parsed.label !== v.label || parsed.framework !== v.framework) {
          problems.push(`${at}: label/framework ${JSON.stringify(v.label)}/${JSON.stringify(v.framework)} do not match the name`);
        }
      }
    } else if (v.kind === 'ip') {
      if (ip === undefined || v.name !== formatIpv4(ip) || v.label !== v.name || v.framework !== '') {
        problems.push(`${at}: an IP VIP has name = label = its ipv4 and framework ""`);
      }
    } else {
      problems.push(`${at}: kind ${JSON.stringify(v.kind)} is not "named" or "ip"`);
    }
    if (!Array.isArray(v.ports) || !v.ports.every(validPort)) problems.push(`${at}: ports are not a list of { port: 1-65535, protocol: tcp|udp }`);
    if (typeof v.pinned !== 'boolean') problems.push(`${at}: pinned is not true or false`);
    for (const k of ['createdRevision', 'updatedRevision'] as const) {
      const r = v[k];
      if (!Number.isSafeInteger(r) || (r as number) < 0 || (r as number) > revision) problems.push(`${at}: ${k} ${JSON.stringify(r)} is not an integer 0..revision`);
    }
    if (typeof v.name === 'string') {
      if (names.has(v.name)) problems.push(`${at}: the name appears twice`);
      names.add(v.name);
    }
    if (ip !== undefined) {
      const other = addresses.get(ip);
      if (other !== undefined) problems.push(`${at}: address ${v.ipv4} is also the VIP of ${other}`);
      else addresses.set(ip, String(v.name));
    }
  });
  if (Array.isArray(t.quarantine)) {
    const seen = new Set<number>();
    t.quarantine.forEach((q, i) => {
      const at = `quarantine[${i}]`;
      if (typeof q !== 'object' || q === null) {
        problems.push(`${at} is not an object`);
        return;
      }
      const ip = typeof q.ipv4 === 'string' ? parseIpv4(q.ipv4) : undefined;
      if (ip === undefined) problems.push(`${at}: ipv4 ${JSON.stringify(q.ipv4)} is not a dotted IPv4 address`);
      else {
        if (!inLayout(layout, ip)) problems.push(`${at}: ipv4 ${q.ipv4} is outside the pools`);
        if (addresses.has(ip)) problems.push(`${at}: ipv4 ${q.ipv4} is also the VIP of ${addresses.get(ip)}`);
        if (seen.has(ip)) problems.push(`${at}: ipv4 ${q.ipv4} is in quarantine twice`);
        seen.add(ip);
      }
      if (typeof q.name !== 'string' || q.name === '') problems.push(`${at}: name ${JSON.stringify(q.name)} is not a VIP name`);
      if (!Number.isSafeInteger(q.until) || q.until < 0) problems.push(`${at}: until ${JSON.stringify(q.until)} is not epoch milliseconds`);
    });
  }
  return problems;
}
