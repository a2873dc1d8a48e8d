/**
 * The Redis store on a 3-master Redis Cluster: every key hashes to one slot (CLUSTER KEYSLOT),
 * the scripts run there, and the change feed works through the cluster client.
 */
import t from 'tap';
import { Redis } from 'ioredis';
import { planPools } from '../packages/vip/src/pools.js';
import { createRedisStore, redisKeys, type RedisStore } from '../packages/vip/src/redis/index.js';
import type { WatchEvent } from '../packages/vip/src/types.js';
import { startRedisCluster } from '../packages/vip/test/helpers/redis-server.js';

const cluster = await startRedisCluster({ masters: 3 });
t.teardown(() => cluster.destroy());
const node = new Redis(cluster.nodes[0]!.port, '127.0.0.1');
t.teardown(() => node.disconnect());

t.test('every key of keys.ts is in one slot, for the default and a custom prefix', async (t) => {
  for (const prefix of [undefined, 'other:prefix']) {
    const keys = redisKeys(prefix);
    const slots = new Set<number>();
    for (const key of keys.all) slots.add(Number(await node.call('CLUSTER', 'KEYSLOT', key)));
    t.equal(slots.size, 1, `${keys.tag}: ${[...slots].join(',')}`);
  }
  const a = Number(await node.call('CLUSTER', 'KEYSLOT', redisKeys('a').rev));
  const b = Number(await node.call('CLUSTER', 'KEYSLOT', redisKeys('b').rev));
  t.not(a, b, 'different prefixes may live on different slots');
});

t.test('allocate, release, watch and check on the cluster', async (t) => {
  const layout = planPools({ pools: ['10.70.0.0/24'] }).layout;
  const store = (await createRedisStore({ url: cluster.url, layout, quarantineMs: 1000 })) as RedisStore;
  t.teardown(() => store.close());
  const events: WatchEvent[] = [];
  let wake: (() => void) | undefined;
  const w = store.watch((e) => {
    events.push(e);
    wake?.();
  });
  t.teardown(() => w.close());
  const until = async (n: number): Promise<void> => {
    const deadline = Date.now() + 20_000;
    while (events.length < n) {
      if (Date.now() > deadline) throw new Error(`only ${events.map((e) => e.type).join(',')}`);
      await new Promise<void>((r) => {
        const timer = setTimeout(r, 1000);
        wake = () => {
          clearTimeout(timer);
          r();
        };
      });
    }
  };
  await until(1);
  t.equal(events[0]?.type, 'snapshot');

  const names = Array.from({ length: 20 }, (_, i) => `c${i}.marathon.l4lb.thisdcos.directory`);
  const got = new Set<string>();
  for (const [i, name] of names.entries()) {
    const r = await store.allocate({ name, label: `c${i}`, framework: 'marathon', ports: [{ port: 80, protocol: 'tcp' }], preferred: layout.ranges[0]!.start }, 0);
    got.add(r.vip.ipv4);
  }
  t.equal(got.size, 20, 'distinct addresses');
  await store.release(names[0]!, 0);
  await until(22);
  t.same(
    events.slice(1).map((e) => (e.type === 'change' ? `${e.change.revision}:${e.change.type}` : e.type)),
    [...names.map((_, i) => `${i + 1}:put`), '21:delete'],
  );
  t.same(await store.quarantine(0), [{ name: names[0], ipv4: '10.70.0.1', until: 1000 }]);
  t.match(await store.check({ repair: false }, 0), { ok: true, problems: [] });

  // The keys are where the slot says, all on one node.
  const slot = Number(await node.call('CLUSTER', 'KEYSLOT', store.keys.rev));
  const owners = new Set<number>();
  for (const n of cluster.nodes) {
    const c = new Redis(n.port, '127.0.0.1');
    if (Number(await c.call('CLUSTER', 'COUNTKEYSINSLOT', String(slot))) > 0) owners.add(n.port);
    c.disconnect();
  }
  t.equal(owners.size, 1, 'one node holds them all');
});
