/**
 * 8 processes x 500 allocations over overlapping names against one embedded store file: no
 * address given twice, no name with two addresses, every process sees the same address for a
 * name, and the file agrees and checks clean afterwards.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAllocator } from '../packages/vip/src/index.js';
import { AllocatorChild, consistency, pick } from './helpers/vip-children.js';

const PROCESSES = 8;
const PER_PROCESS = 500;
const UNIVERSE = 1500; // distinct names; each process takes 500, so most names are shared
// A /21 (2046 addresses for 1500 names): collisions and the "next free" path under contention.
const POOLS = ['10.61.0.0/21'];

t.test(`${PROCESSES} processes x ${PER_PROCESS} allocations, overlapping names, embedded store`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hoplite-vip-conc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = `embedded:${join(dir, 'vip.db')}`;
  const kids = Array.from(
    { length: PROCESSES },
    (_, p) => new AllocatorChild({ store, pools: POOLS, names: pick(p + 1, PER_PROCESS, UNIVERSE).map((i) => `/svc/app-${i}`), inflight: 4 }),
  );
  t.teardown(() => Promise.all(kids.map((k) => k.kill())));
  await Promise.all(kids.map((k) => k.ready));
  for (const k of kids) k.go();
  await Promise.all(kids.map((k) => k.done));
  for (const k of kids) await k.stop();

  kids.forEach((k, p) => t.equal(k.acks.length, PER_PROCESS, `process ${p}: ${PER_PROCESS} allocations acknowledged`));
  const { byName, conflicts } = consistency(kids);
  t.same(conflicts, [], 'no name with two addresses, no address given twice');
  const shared = [...new Set(kids.flatMap((k) => k.acks.map(([n]) => n)))].filter((n) => kids.filter((k) => k.acks.some(([m]) => m === n)).length > 1);
  t.ok(shared.length > 500, `names allocated by several processes at once (${shared.length})`);

  const vips = await createAllocator({ store, pools: POOLS });
  t.teardown(() => vips.close());
  const table = await vips.list();
  t.equal(table.length, byName.size, 'one record per distinct name');
  const wrong = table.filter((v) => byName.get(v.name) !== v.ipv4).map((v) => `${v.name}: ${v.ipv4} vs ${byName.get(v.name)}`);
  t.same(wrong, [], 'the store holds what the processes were told');
  t.equal(await vips.revision(), byName.size, 'one revision per new VIP, none for repeats');
  t.same(await vips.check(), { ok: true, problems: [], repaired: [] });
});
