/**
 * The resolver's local copy of the last VIP table it saw, so that a resolver restarted while the
 * store is down still answers VIP names. Compact and streamed: a first line of JSON (format,
 * revision, pools), then one line per VIP, `name ipv4 ipv6|- ports|-` (ports as `80/tcp,53/udp`),
 * written in chunks to a temp file that is then renamed over the old copy (atomic). Read
 * leniently: a missing or unreadable copy is no copy; a malformed line is skipped.
 */
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, writeSync, fsyncSync } from 'node:fs';
import { dirname } from 'node:path';
import { VipEntry, internPorts } from './vip-zone.js';

const FORMAT = 'hoplite-vip-snapshot';
const VERSION = 2;

export interface PoolsInUse {
  readonly pools: readonly string[];
  readonly ipv6Pool?: string;
}

export interface SnapshotCopy {
  readonly revision: number;
  readonly pools: PoolsInUse | undefined;
  readonly vips: VipEntry[];
}

export function readSnapshotFile(path: string): SnapshotCopy | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const nl = text.indexOf('\n');
  let head: { format?: unknown; version?: unknown; revision?: unknown; pools?: PoolsInUse };
  try {
    head = JSON.parse(nl < 0 ? text : text.slice(0, nl)) as typeof head;
  } catch {
    return undefined;
  }
  if (head?.format !== FORMAT || head.version !== VERSION || typeof head.revision !== 'number') return undefined;
  const p = head.pools;
  const pools =
    p && Array.isArray(p.pools) && p.pools.every((x) => typeof x === 'string') && (p.ipv6Pool === undefined || typeof p.ipv6Pool === 'string')
      ? p
      : undefined;
  const vips: VipEntry[] = [];
  let pos = nl + 1;
  while (nl >= 0 && pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const f = text.slice(pos, end).split(' ');
    pos = end + 1;
    if (f.length !== 4 || !f[0] || !f[1]) continue;
    vips.push(new VipEntry(f[0], f[1], f[2] === '-' ? undefined : f[2], f[3] === '-' ? '' : internPorts(f[3]!)));
  }
  return { revision: head.revision, pools, vips };
}

export function writeSnapshotFile(path: string, revision: number, pools: PoolsInUse, vips: Iterable<VipEntry>): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, JSON.stringify({ format: FORMAT, version: VERSION, writtenAt: new Date().toISOString(), revision, pools }) + '\n');
    let chunk = '';
    for (const v of vips) {
      chunk += `${v.name} ${v.ipv4} ${v.ipv6 ?? '-'} ${v.ports || '-'}\n`;
      if (chunk.length > 65536) {
        writeSync(fd, chunk);
        chunk = '';
      }
    }
    if (chunk) writeSync(fd, chunk);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
