/** The shared VipStore conformance suite against the Redis store (one private redis-server). */
import t from 'tap';
import { Redis } from 'ioredis';
import { createRedisStore, type RedisStore } from '../src/redis/index.js';
import { conformance } from './conformance.js';
import { startRedisServer } from './helpers/redis-server.js';

const redis = await startRedisServer();
t.teardown(() => redis.destroy());
const raw = new Redis(redis.port, '127.0.0.1');
t.teardown(() => raw.disconnect());

let n = 0;
conformance(t, {
  name: 'redis',
  open: (layout, { quarantineMs }) => createRedisStore({ url: redis.url, layout, quarantineMs, keyPrefix: `conf${++n}` }),
  reopen: (store, layout, { quarantineMs, updatePools }) =>
    createRedisStore({
      url: redis.url,
      layout,
      quarantineMs,
      keyPrefix: (store as RedisStore).keys.tag.slice(1, -1),
      ...(updatePools !== undefined ? { updatePools } : {}),
    }),
  damage: {
    async leakFree(store, address) {
      const k = (store as RedisStore).keys;
      const [member] = await raw.zrevrangebyscore(k.free, address, '-inf', 'LIMIT', 0, 1);
      const [s, e] = (member ?? '').split(':').map(Number) as [number, number];
      if (member === undefined || e < address) throw new Error(`${address} is not free`);
      await raw.zrem(k.free, member);
      if (s < address) await raw.zadd(k.free, s, `${s}:${address - 1}`);
      if (e > address) await raw.zadd(k.free, address + 1, `${address + 1}:${e}`);
    },
    async freeUsed(store, address) {
      const k = (store as RedisStore).keys;
      await raw.zadd(k.free, address, `${address}:${address}`);
    },
    async trimFeed(store, revision) {
      await raw.xtrim((store as RedisStore).keys.feed, 'MINID', `${revision + 1}-0`);
    },
  },
});
