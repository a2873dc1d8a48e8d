/**
 * How VIPs look on the command line: one stable JSON shape for scripts (`VipJson`, the same in
 * every command) and aligned tables for people.
 */
import type { AllocateResult, CheckProblem, PoolStats, QuarantineEntry, VipPort, VipRecord } from '@hoplite/vip';
import { table } from '../output.js';

/** A VIP in `--json` output. Every key is always present (`ipv6` is null without an IPv6 pool). */
export interface VipJson {
  name: string;
  kind: 'named' | 'ip';
  label: string;
  framework: string;
  ipv4: string;
  ipv6: string | null;
  ports: { port: number; protocol: 'tcp' | 'udp' }[];
  pinned: boolean;
  createdRevision: number;
  updatedRevision: number;
}

export function vipJson(v: VipRecord): VipJson {
  return {
    name: v.name,
    kind: v.kind,
    label: v.label,
    framework: v.framework,
    ipv4: v.ipv4,
    ipv6: v.ipv6 ?? null,
    ports: v.ports.map((p) => ({ port: p.port, protocol: p.protocol })),
    pinned: v.pinned,
    createdRevision: v.createdRevision,
    updatedRevision: v.updatedRevision,
  };
}

/** `allocate` and `reserve` in `--json`. */
export interface AllocationJson {
  vip: VipJson;
  created: boolean;
  fromQuarantine: boolean;
}

export function allocationJson(r: AllocateResult): AllocationJson {
  return { vip: vipJson(r.vip), created: r.created, fromQuarantine: r.fromQuarantine };
}

export function portsText(ports: readonly VipPort[]): string {
  return ports.length === 0 ? '-' : ports.map((p) => `${p.port}/${p.protocol}`).join(',');
}

/** `created`, `from quarantine` or `existing`. */
export function statusText(r: { created: boolean; fromQuarantine: boolean }): string {
  return r.fromQuarantine ? 'from quarantine' : r.created ? 'created' : 'existing';
}

/** Table of VIPs; the IPV6 column only when some VIP has one. `extra` adds trailing columns. */
export function vipTable(vips: readonly VipRecord[], extra?: { headers: readonly string[]; cells: (v: VipRecord, i: number) => readonly string[] }): string {
  const v6 = vips.some((v) => v.ipv6 !== undefined);
  const headers = ['NAME', 'IPV4', ...(v6 ? ['IPV6'] : []), 'PORTS', 'PINNED', ...(extra?.headers ?? [])];
  const rows = vips.map((v, i) => [v.name, v.ipv4, ...(v6 ? [v.ipv6 ?? '-'] : []), portsText(v.ports), v.pinned ? 'yes' : 'no', ...(extra?.cells(v, i) ?? [])]);
  return table(headers, rows);
}

/** One VIP as `key  value` lines (`get`). */
export function vipDetails(v: VipRecord): string {
  const rows: [string, string][] = [
    ['name', v.name],
    ['kind', v.kind],
    ['label', v.label],
    ['framework', v.framework || '-'],
    ['ipv4', v.ipv4],
    ['ipv6', v.ipv6 ?? '-'],
    ['ports', portsText(v.ports)],
    ['pinned', v.pinned ? 'yes' : 'no'],
    ['revisions', `created ${v.createdRevision}, updated ${v.updatedRevision}`],
  ];
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, val]) => `${k.padEnd(w)}  ${val}`).join('\n') + '\n';
}

export interface StatsJson {
  pools: { cidr: string; size: number; used: number; quarantined: number; free: number }[];
  total: { size: number; used: number; quarantined: number; free: number };
}

export function statsJson(stats: readonly PoolStats[]): StatsJson {
  const pools = stats.map((p) => ({ cidr: p.cidr, size: p.size, used: p.used, quarantined: p.quarantined, free: p.free }));
  const total = { size: 0, used: 0, quarantined: 0, free: 0 };
  for (const p of pools) {
    total.size += p.size;
    total.used += p.used;
    total.quarantined += p.quarantined;
    total.free += p.free;
  }
  return { pools, total };
}

export function statsTable(s: StatsJson): string {
  const row = (name: string, p: StatsJson['total']): string[] => [name, String(p.size), String(p.used), String(p.quarantined), String(p.free), pct(p.used + p.quarantined, p.size)];
  const rows = s.pools.map((p) => row(p.cidr, p));
  if (s.pools.length > 1) rows.push(row('total', s.total));
  return table(['POOL', 'SIZE', 'USED', 'QUARANTINED', 'FREE', 'FULL'], rows);
}

function pct(n: number, of: number): string {
  if (of === 0) return '-';
  const p = (100 * n) / of;
  return `${p > 0 && p < 0.1 ? '<0.1' : p.toFixed(1)}%`;
}

export function problemJson(p: CheckProblem): { code: string; subject: string; message: string; repairable: boolean } {
  return { code: p.code, subject: p.subject, message: p.message, repairable: p.repairable };
}

export function problemTable(problems: readonly CheckProblem[]): string {
  return table(
    ['CODE', 'SUBJECT', 'REPAIRABLE', 'PROBLEM'],
    problems.map((p) => [p.code, p.subject, p.repairable ? 'yes' : 'no', p.message]),
  );
}

export function quarantineJson(q: QuarantineEntry): { name: string; ipv4: string; until: string } {
  return { name: q.name, ipv4: q.ipv4, until: new Date(q.until).toISOString() };
}
