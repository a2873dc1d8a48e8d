/**
 * kill -9 in the middle of allocations: every acknowledged allocation is still in the embedded
 * store, with the address the killed process was told, and the table checks clean. Three rounds
 * on one file, each killing a process while another keeps allocating overlapping names.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAllocator } from '../packages/vip/src/index.js';
import { AllocatorChild, consistency } from './helpers/vip-children.js';

const POOLS = ['10.62.0.0/20'];
const ROUNDS = 3;

t.test('kill -9 mid-allocations leaves a consistent store with every acknowledged allocation', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hoplite-vip-kill-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = `embedded:${join(dir, 'vip.db')}`;
  const everyone: AllocatorChild[] = [];
  t.teardown(() => Promise.all(everyone.map((k) => k.kill())));

  for (let round = 0; round < ROUNDS; round++) {
    // The victim allocates far more than it will live to finish; the survivor overlaps its names.
    const victim = new AllocatorChild({ store, pools: POOLS, names: Array.from({ length: 3000 }, (_, i) => `r${round}-n${i}`), inflight: 2 });
    const survivor = new AllocatorChild({ store, pools: POOLS, names: Array.from({ length: 400 }, (_, i) => `r${round}-n${(i * 7) % 3000}`) });
    everyone.push(victim, survivor);
    await Promise.all([victim.ready, survivor.ready]);
    victim.go();
    survivor.go();
    await victim.acked(150 + 100 * round);
    await victim.kill('SIGKILL');
    const exit = await victim.exited;
    t.equal(exit.signal, 'SIGKILL', `round ${round}: the victim died by SIGKILL after ${victim.acks.length} acks`);
    t.ok(victim.acks.length < 3000, 'killed before it finished');
    await survivor.done;
    await survivor.stop();

    const vips = await createAllocator({ store, pools: POOLS });
    const lost: string[] = [];
    for (const [name, addr] of [...victim.acks, ...survivor.acks]) {
      const v = await vips.get(name);
      if (v?.ipv4 !== addr) lost.push(`${name}: acked ${addr}, store has ${v?.ipv4}`);
    }
    t.same(lost, [], `round ${round}: every acknowledged allocation is there`);
    t.same(consistency(everyone).conflicts, [], 'no contradictions between processes');
    t.same(await vips.check(), { ok: true, problems: [], repaired: [] }, `round ${round}: check is clean`);
    // The store still works after the crash.
    const after = await vips.allocate(`after-round-${round}`);
    t.equal(after.created, true);
    await vips.close();
  }
});
