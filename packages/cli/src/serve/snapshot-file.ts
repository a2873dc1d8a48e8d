/**
 * The resolver's local copy of the last VIP table it saw, so that a resolver restarted while the
 * store is down still answers VIP names. Written atomically (temp file + rename), read leniently:
 * a missing or unreadable copy is simply no copy.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { VipRecord, VipSnapshot } from '@hoplite/vip';

interface SnapshotFileV1 {
  readonly format: 'hoplite-vip-snapshot';
  readonly version: 1;
  readonly writtenAt: string;
  readonly revision: number;
  /** The pools in use when it was written (the store's). */
  readonly pools?: { readonly pools: readonly string[]; readonly ipv6Pool?: string };
  readonly vips: readonly VipRecord[];
}

export interface SnapshotCopy extends VipSnapshot {
  readonly pools: { readonly pools: readonly string[]; readonly ipv6Pool?: string } | undefined;
}

export function readSnapshotFile(path: string): SnapshotCopy | undefined {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  const d = data as Partial<SnapshotFileV1>;
  if (d?.format !== 'hoplite-vip-snapshot' || d.version !== 1 || typeof d.revision !== 'number' || !Array.isArray(d.vips)) return undefined;
  const vips = d.vips.filter(
    (v): v is VipRecord => typeof v === 'object' && v !== null && typeof v.name === 'string' && typeof v.ipv4 === 'string' && Array.isArray(v.ports),
  );
  const p = d.pools;
  const pools =
    p && Array.isArray(p.pools) && p.pools.every((x) => typeof x === 'string') && (p.ipv6Pool === undefined || typeof p.ipv6Pool === 'string')
      ? p
      : undefined;
  return { revision: d.revision, vips, pools };
}

export function writeSnapshotFile(path: string, revision: number, pools: SnapshotFileV1['pools'], vips: Iterable<VipRecord>): void {
  mkdirSync(dirname(path), { recursive: true });
  const body: SnapshotFileV1 = { format: 'hoplite-vip-snapshot', version: 1, writtenAt: new Date().toISOString(), revision, pools, vips: [...vips] };
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(body));
  renameSync(tmp, path);
}
