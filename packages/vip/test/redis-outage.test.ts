/**
 * Redis goes away: calls fail fast with HOPLITE_VIP_STORE_UNAVAILABLE, watchers report 'error',
 * then 'reconnected' and a fresh 'snapshot' once Redis is back (with or without its data).
 */
import t from 'tap';
import { planPools } from '../src/pools.js';
import { createRedisStore } from '../src/redis/index.js';
import type { VipStore, WatchEvent } from '../src/types.js';
import { freePort, startRedisServer } from './helpers/redis-server.js';

const layout = planPools({ pools: ['10.40.0.0/24'] }).layout;
const req = (n: string) => ({
  name: `${n}.marathon.l4lb.thisdcos.directory`,
  label: n,
  framework: 'marathon',
  ports: [{ port: 80, protocol: 'tcp' as const }],
  preferred: layout.ranges[0]!.start,
});

/** Collects watch events; `next(type)` resolves at the first event of that type not yet taken. */
function recorder() {
  const events: WatchEvent[] = [];
  let taken = 0;
  let wake: (() => void) | undefined;
  return {
    events,
    listener: (e: WatchEvent) => {
      events.push(e);
      wake?.();
    },
    async next<T extends WatchEvent['type']>(type: T, timeoutMs = 30_000): Promise<Extract<WatchEvent, { type: T }>> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        for (let i = taken; i < events.length; i++) {
          if (events[i]!.type === type) {
            taken = i + 1;
            return events[i] as Extract<WatchEvent, { type: T }>;
          }
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no '${type}' event in ${timeoutMs} ms; got ${events.map((e) => e.type).join(',')}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    },
  };
}

/** Retry `fn` until it succeeds (Redis reconnecting in the background), bounded. */
async function eventually<T>(fn: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 500);
    }
  }
}

t.test('no Redis at all: createRedisStore fails with the coded error after connectTimeoutMs', async (t) => {
  const port = await freePort();
  const started = Date.now();
  await t.rejects(createRedisStore({ url: `redis://127.0.0.1:${port}`, layout, quarantineMs: 0, connectTimeoutMs: 500 }), {
    code: 'HOPLITE_VIP_STORE_UNAVAILABLE',
  });
  t.ok(Date.now() - started < 5000, 'gave up in time');
});

t.test('kill, fail fast, restart empty, resync', async (t) => {
  const redis = await startRedisServer();
  t.teardown(() => redis.destroy());
  const store: VipStore = await createRedisStore({ url: redis.url, layout, quarantineMs: 0, commandTimeoutMs: 2000 });
  t.teardown(() => store.close());
  const rec = recorder();
  const w = store.watch(rec.listener);
  t.teardown(() => w.close());
  await rec.next('snapshot');
  await store.allocate(req('a'), 0);
  t.equal((await rec.next('change')).change.revision, 1);

  await redis.stop({ kill: true });
  const t0 = Date.now();
  await t.rejects(store.allocate(req('b'), 0), { code: 'HOPLITE_VIP_STORE_UNAVAILABLE' });
  await t.rejects(store.get(req('a').name), { code: 'HOPLITE_VIP_STORE_UNAVAILABLE' });
  await t.rejects(store.snapshot(), { code: 'HOPLITE_VIP_STORE_UNAVAILABLE' });
  const elapsed = Date.now() - t0;
  t.ok(elapsed < 1000, `three calls failed in ${elapsed} ms`);
  const err = await rec.next('error');
  t.match(err.error, { code: 'HOPLITE_VIP_STORE_UNAVAILABLE' });

  await redis.restart(); // no persistence: the data is gone
  await rec.next('reconnected');
  const snap = await rec.next('snapshot');
  t.equal(snap.snapshot.revision, 0, 'resynced to the empty store');
  t.same(snap.snapshot.vips, []);

  // The store re-initializes the layout on its next write; the watcher sees the new change.
  const b = await eventually(() => store.allocate(req('b'), 0));
  t.equal(b.vip.ipv4, '10.40.0.1');
  const ch = await rec.next('change');
  t.equal(ch.change.revision, 1);
  t.equal(ch.change.vip.name, req('b').name);
});

t.test('restart with data kept: the watcher resyncs to the same table', async (t) => {
  const redis = await startRedisServer();
  t.teardown(() => redis.destroy());
  const store: VipStore = await createRedisStore({ url: redis.url, layout, quarantineMs: 0 });
  t.teardown(() => store.close());
  await store.allocate(req('a'), 0);
  await store.allocate(req('b'), 0);
  const rec = recorder();
  const w = store.watch(rec.listener);
  t.teardown(() => w.close());
  t.equal((await rec.next('snapshot')).snapshot.revision, 2);

  await redis.stop({ save: true });
  await rec.next('error');
  await redis.restart();
  await rec.next('reconnected');
  const snap = await rec.next('snapshot');
  t.equal(snap.snapshot.revision, 2);
  t.same(snap.snapshot.vips.map((v) => v.ipv4).sort(), ['10.40.0.1', '10.40.0.2']);
  const c = await eventually(() => store.allocate(req('c'), 0));
  t.equal(c.vip.ipv4, '10.40.0.3');
  t.equal((await rec.next('change')).change.revision, 3);
});
