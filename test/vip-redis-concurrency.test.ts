/**
 * 8 processes x 500 allocations over overlapping names against one private Redis: no address
 * given twice, no name with two addresses, every process sees the same address for a name.
 */
import t from 'tap';
import { runWorkers, type WorkerJob, FQDN_SUFFIX } from '../bench/vip/lib.js';
import { planPools } from '../packages/vip/src/pools.js';
import { createRedisStore } from '../packages/vip/src/redis/index.js';
import { startRedisServer } from '../packages/vip/test/helpers/redis-server.js';

const PROCESSES = 8;
const PER_PROCESS = 500;
const UNIVERSE = 1500; // distinct names; each process takes 500 of them, so most names are shared
// A small pool (/21: 2046 addresses for 1500 names) so that hash collisions and the "next free"
// path are exercised under contention.
const POOLS = ['10.60.0.0/21'];

/** Deterministic shuffle (xorshift) so a failure can be replayed. */
function pick(seed: number, n: number, from: number): number[] {
  let x = seed * 2654435761 + 1;
  const all = Array.from({ length: from }, (_, i) => i);
  for (let i = all.length - 1; i > 0; i--) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const j = (x >>> 0) % (i + 1);
    [all[i], all[j]] = [all[j] as number, all[i] as number];
  }
  return all.slice(0, n);
}

t.test(`${PROCESSES} processes x ${PER_PROCESS} allocations, overlapping names`, async (t) => {
  const redis = await startRedisServer();
  t.teardown(() => redis.destroy());
  const keyPrefix = 'concurrency';
  const jobs: WorkerJob[] = Array.from({ length: PROCESSES }, (_, p) => ({
    store: { kind: 'redis', url: redis.url, keyPrefix },
    pools: POOLS,
    quarantineMs: 60_000,
    op: 'allocate',
    prefix: 'svc',
    indexes: pick(p + 1, PER_PROCESS, UNIVERSE),
    inflight: 4,
    report: true,
  }));
  const results = await runWorkers(jobs, 240_000);

  const seen = new Map<string, string>(); // name -> address
  let total = 0;
  for (const [p, r] of results.entries()) {
    t.equal(r.errors, 0, `process ${p}: no errors${r.firstError ? ` (${r.firstError})` : ''}`);
    t.equal(r.ops, PER_PROCESS, `process ${p}: ${PER_PROCESS} allocations`);
    for (const [name, ipv4] of Object.entries(r.assigned ?? {})) {
      total++;
      const before = seen.get(name);
      if (before !== undefined && before !== ipv4) t.fail(`${name}: ${before} in one process, ${ipv4} in process ${p}`);
      seen.set(name, ipv4);
    }
  }
  t.equal(total, PROCESSES * PER_PROCESS);
  const byAddress = new Map<string, string>();
  let dup = 0;
  for (const [name, ipv4] of seen) {
    const other = byAddress.get(ipv4);
    if (other !== undefined) {
      dup++;
      t.fail(`${ipv4} given to ${other} and ${name}`);
    }
    byAddress.set(ipv4, name);
  }
  t.equal(dup, 0, 'no address given twice');

  // The store agrees with what the processes saw, and is consistent.
  const store = await createRedisStore({ url: redis.url, layout: planPools({ pools: POOLS }).layout, quarantineMs: 60_000, keyPrefix });
  t.teardown(() => store.close());
  const table = await store.list();
  t.equal(table.length, seen.size, 'one record per distinct name');
  for (const v of table) {
    if (seen.get(v.name) !== v.ipv4) t.fail(`${v.name}: store has ${v.ipv4}, processes saw ${seen.get(v.name)}`);
  }
  t.ok(table.every((v) => v.name.endsWith(FQDN_SUFFIX)));
  t.equal(await store.revision(), seen.size, 'one revision per new VIP, none for repeats');
  const report = await store.check({ repair: false }, Date.now());
  t.same(report.problems, [], 'check finds nothing');
  t.equal(report.ok, true);
});
