/**
 * The Redis store through Sentinel: connects to the master a Sentinel names, and follows a
 * failover to the promoted replica (calls fail with the coded error meanwhile; watchers resync).
 */
import t from 'tap';
import { Redis } from 'ioredis';
import { planPools } from '../packages/vip/src/pools.js';
import { createRedisStore } from '../packages/vip/src/redis/index.js';
import type { VipStore, WatchEvent } from '../packages/vip/src/types.js';
import { startRedisSentinel, startRedisServer } from '../packages/vip/test/helpers/redis-server.js';

const layout = planPools({ pools: ['10.80.0.0/24'] }).layout;
const req = (n: string) => ({
  name: `${n}.marathon.l4lb.thisdcos.directory`,
  label: n,
  framework: 'marathon',
  ports: [{ port: 80, protocol: 'tcp' as const }],
  preferred: layout.ranges[0]!.start,
});

async function eventually<T>(fn: () => Promise<T>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 50;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 500);
    }
  }
}

t.test('sentinel: connect, then follow a failover', async (t) => {
  const master = await startRedisServer();
  t.teardown(() => master.destroy());
  const replica = await startRedisServer({ args: ['--replicaof', '127.0.0.1', String(master.port)] });
  t.teardown(() => replica.destroy());
  const sentinel = await startRedisSentinel(master);
  t.teardown(() => sentinel.destroy());

  const store: VipStore = await createRedisStore({ url: sentinel.sentinelUrl, layout, quarantineMs: 0, commandTimeoutMs: 2000 });
  t.teardown(() => store.close());
  const events: WatchEvent[] = [];
  const w = store.watch((e) => events.push(e));
  t.teardown(() => w.close());

  const a = await store.allocate(req('a'), 0);
  t.equal(a.vip.ipv4, '10.80.0.1');
  // Make sure the replica has it before the master dies (replication is asynchronous).
  const m = new Redis(master.port, '127.0.0.1');
  t.equal(await m.call('WAIT', '1', '10000'), 1, 'replica acknowledged');
  m.disconnect();

  await master.stop({ kill: true });
  await t.rejects(store.allocate(req('b'), 0), { code: 'HOPLITE_VIP_STORE_UNAVAILABLE' }, 'fails fast while the master is gone');
  // Sentinel promotes the replica after down-after-milliseconds (1 s); ioredis asks it again.
  const b = await eventually(() => store.allocate(req('b'), 0), 'allocate after failover');
  t.equal(b.vip.ipv4, '10.80.0.2', 'the promoted replica has the data');
  t.equal((await store.get(req('a').name))?.ipv4, '10.80.0.1');
  const r = new Redis(replica.port, '127.0.0.1');
  t.match(await r.call('ROLE'), ['master'], 'the replica is the master now');
  r.disconnect();

  await eventually(async () => {
    const last = events.filter((e) => e.type === 'snapshot').pop();
    if (last?.type !== 'snapshot' || last.snapshot.revision < 1 || !events.some((e) => e.type === 'reconnected')) throw new Error('no resync yet');
  }, 'watcher resync');
  t.ok(events.some((e) => e.type === 'error'), 'the watcher reported the outage');
});
