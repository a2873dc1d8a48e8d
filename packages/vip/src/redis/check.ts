/**
 * check(): what the dump script read, compared with what it should be. Pure functions, so the
 * rules can be tested without Redis.
 *
 * Sources of truth: the records (`vips`), the quarantine (`quar` + `qname`) and the layout
 * (`ranges`). Derived, and rebuilt by a repair: the address index (`used`), the name index of the
 * quarantine (`qbyname`), the free ranges (`free`) and a revision that fell behind.
 */
import { formatIpv4 } from '../addr.js';
import { storedLayout } from '../stored-pools.js';
import type { CheckProblem } from '../types.js';
import { parseStored, type StoredRecord } from './records.js';

export interface Dump {
  revision: number;
  schema: string;
  layout: string;
  vips: [name: string, json: string][];
  used: [name: string, address: number][];
  free: [start: number, end: number][];
  ranges: [start: number, end: number][];
  quarantine: [address: number, until: number][];
  qname: [address: string, name: string][];
  qbyname: [name: string, address: string][];
  /** Revision of the feed's last entry (0 when empty). */
  feedRevision: number;
  /** The stored pool configuration (JSON, stored-pools.ts), '' when none. */
  pools: string;
}

function pairs(flat: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i] as string, flat[i + 1] as string]);
  return out;
}

function range(member: string): [number, number] {
  const m = /^(\d+):(\d+)$/.exec(member);
  return m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
}

/** Parse the dump script's reply. */
export function parseDump(reply: unknown[]): Dump {
  const r = reply as [string, string, string, string[], string[], string[], string[], string[], string[], string[], string, string?];
  const lastId = r[10];
  return {
    revision: Number(r[0]),
    schema: r[1],
    layout: r[2],
    vips: pairs(r[3]),
    used: pairs(r[4]).map(([n, s]) => [n, Number(s)]),
    free: r[5].map(range),
    ranges: r[6].map(range),
    quarantine: pairs(r[7]).map(([a, u]) => [Number(a), Number(u)]),
    qname: pairs(r[8]),
    qbyname: pairs(r[9]),
    feedRevision: lastId === '' ? 0 : Number(lastId.split('-')[0]),
    pools: r[11] ?? '',
  };
}

type Interval = [number, number];

function poolsDescribeLayout(fingerprint: string, pools: string): boolean {
  try {
    return storedLayout(fingerprint, pools).consistent;
  } catch {
    return false; // a malformed layout fingerprint
  }
}

/** Sort and merge touching/overlapping intervals. */
export function normalize(list: readonly Interval[]): Interval[] {
  const sorted = list.filter(([s, e]) => Number.isFinite(s) && Number.isFinite(e) && s <= e).sort((x, y) => x[0] - y[0]);
  const out: Interval[] = [];
  for (const [s, e] of sorted) {
    const top = out[out.length - 1];
    if (top !== undefined && s <= top[1] + 1) top[1] = Math.max(top[1], e);
    else out.push([s, e]);
  }
  return out;
}

/** a minus b, both normalized. */
export function subtract(a: readonly Interval[], b: readonly Interval[]): Interval[] {
  const out: Interval[] = [];
  let j = 0;
  for (const [s0, e] of a) {
    let s = s0;
    while (j < b.length && (b[j] as Interval)[1] < s) j++;
    let k = j;
    while (k < b.length && (b[k] as Interval)[0] <= e) {
      const [bs, be] = b[k] as Interval;
      if (bs > s) out.push([s, bs - 1]);
      s = Math.max(s, be + 1);
      if (s > e) break;
      k++;
    }
    if (s <= e) out.push([s, e]);
  }
  return out;
}

/** The free ranges the layout, records and quarantine call for. */
export function expectedFree(ranges: readonly Interval[], taken: readonly number[]): Interval[] {
  const points = normalize(taken.map((a) => [a, a] as Interval));
  return subtract(normalize(ranges), points);
}

function span([s, e]: Interval): string {
  return s === e ? formatIpv4(s) : `${formatIpv4(s)}-${formatIpv4(e)}`;
}

const MAX_LISTED = 20;

/** Every problem in the dump. */
export function findProblems(d: Dump): CheckProblem[] {
  const problems: CheckProblem[] = [];
  const add = (code: string, subject: string, message: string, repairable: boolean): void => {
    problems.push({ code, subject, message, repairable });
  };

  if (d.schema === '') {
    add('NOT_INITIALIZED', 'schema', 'the store holds no pool layout yet (nothing was ever written, or Redis lost its data)', true);
  }
  if (d.layout !== '' && d.pools !== '' && !poolsDescribeLayout(d.layout, d.pools)) {
    add(
      'LAYOUT_DIFFERS',
      'pools',
      'the stored pool configuration does not describe the stored layout (an older Hoplite rewrote the layout); the layout is followed; open once with updatePools to store both again',
      false,
    );
  }

  // Records.
  const records = new Map<string, StoredRecord>();
  const byAddress = new Map<number, string[]>();
  let maxUpdated = 0;
  for (const [name, json] of d.vips) {
    const rec = parseStored(json);
    if (rec === undefined || rec.name !== name) {
      add('RECORD_UNREADABLE', name, `the record of ${JSON.stringify(name)} cannot be read: ${json.slice(0, 120)}`, false);
      continue;
    }
    records.set(name, rec);
    const holders = byAddress.get(rec.a) ?? [];
    holders.push(name);
    byAddress.set(rec.a, holders);
    maxUpdated = Math.max(maxUpdated, rec.ur);
  }
  for (const [a, holders] of byAddress) {
    if (holders.length > 1) {
      add('DUPLICATE_ADDRESS', formatIpv4(a), `address ${formatIpv4(a)} is held by ${holders.length} VIPs: ${holders.join(', ')}; release all but one`, false);
    }
  }
  const layout = normalize(d.ranges);
  const inLayout = (a: number): boolean => layout.some(([s, e]) => a >= s && a <= e);
  if (d.schema !== '') {
    for (const rec of records.values()) {
      if (!inLayout(rec.a)) {
        add('OUTSIDE_POOL', rec.name, `${rec.name} holds ${formatIpv4(rec.a)}, outside the pools (were the pools changed?)`, false);
      }
    }
  }

  // Address index.
  const used = new Map(d.used);
  let indexBad = 0;
  for (const [name, rec] of records) if (used.get(name) !== rec.a) indexBad++;
  for (const [name] of d.used) if (!records.has(name)) indexBad++;
  if (indexBad > 0) add('INDEX_MISMATCH', 'used', `${indexBad} entries of the address index disagree with the records`, true);

  // Quarantine.
  const qname = new Map(d.qname);
  const quarantined = new Set<number>();
  let quarBad = 0;
  for (const [a] of d.quarantine) {
    const n = qname.get(String(a));
    if (n === undefined || byAddress.has(a) || (d.schema !== '' && !inLayout(a))) quarBad++;
    else quarantined.add(a);
  }
  const quarAddrs = new Set(d.quarantine.map(([a]) => String(a)));
  for (const [a] of d.qname) if (!quarAddrs.has(a)) quarBad++;
  for (const [n, a] of d.qbyname) if (qname.get(a) !== n) quarBad++;
  if (quarBad > 0) add('QUARANTINE_MISMATCH', 'quarantine', `${quarBad} quarantine entries are dangling, outside the pools, or hold an address in use`, true);

  // Free ranges.
  if (d.schema !== '') {
    const taken = [...byAddress.keys(), ...quarantined];
    const want = expectedFree(d.ranges, taken);
    const have = normalize(d.free);
    const sorted = [...d.free].sort((x, y) => x[0] - y[0]);
    const overlapping = sorted.some((r, i) => i > 0 && r[0] <= (sorted[i - 1] as Interval)[1]);
    const extra = subtract(have, want); // free but should not be (in use, quarantined, outside)
    const missing = subtract(want, have); // leaked: nobody holds them, yet not free
    const outside = subtract(normalize(extra), layout);
    const overlap = subtract(normalize(extra), outside);
    if (outside.length > 0) {
      add('FREE_OUTSIDE_POOL', outside.slice(0, MAX_LISTED).map(span).join(', '), `${outside.length} free range(s) lie outside the pools`, true);
    }
    if (overlap.length > 0) {
      add('FREE_OVERLAP', overlap.slice(0, MAX_LISTED).map(span).join(', '), `${overlap.length} free range(s) cover addresses in use or in quarantine`, true);
    }
    if (missing.length > 0) {
      const count = missing.reduce((n, [s, e]) => n + e - s + 1, 0);
      add('FREE_LEAK', missing.slice(0, MAX_LISTED).map(span).join(', '), `${count} address(es) are neither used, quarantined nor free`, true);
    }
    if (overlapping) {
      add('FREE_FRAGMENTED', 'free', 'free ranges overlap each other', true);
    }
  }

  // Revision.
  const floor = Math.max(maxUpdated, d.feedRevision);
  if (d.revision < floor) {
    add('REVISION_BEHIND', 'revision', `revision ${d.revision} is behind the records or the feed (${floor})`, true);
  }
  return problems;
}
