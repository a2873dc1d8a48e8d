/**
 * `hoplite serve` on a private redis-server: allocations by the library reach DNS; the resolver
 * keeps answering through a Redis outage, resyncs when Redis returns, and a resolver restarted
 * while Redis is down answers from its local copy.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAllocator, type Allocator } from '@hoplite/vip';
import { startRedisServer } from '../packages/vip/test/helpers/redis-server.js';
import { addressesOf, queryUntil, startServe, type ServeProcess } from './helpers/serve.js';

const home = mkdtempSync(join(tmpdir(), 'hoplite-serve-redis-'));
t.teardown(() => rmSync(home, { recursive: true, force: true }));
const redis = await startRedisServer();
t.teardown(() => redis.destroy());

const POOL = '10.88.0.0/16';
const args = ['--store', redis.url, '--pool', POOL, '--upstream', '127.0.0.1:9'];
let serve: ServeProcess = await startServe(args, { HOME: home });
t.teardown(() => serve.stop('SIGKILL'));

const open = (): Promise<Allocator> => createAllocator({ store: redis.url, pools: [POOL], redis: { connectTimeoutMs: 5000 } });
let allocator = await open();
t.teardown(() => allocator.close());

const A = 'alpha.marathon.l4lb.thisdcos.directory';
const B = 'beta.marathon.l4lb.thisdcos.directory';
const C = 'gamma.marathon.l4lb.thisdcos.directory';

t.test('allocate -> answered; release -> NXDOMAIN', async (t) => {
  const { vip } = await allocator.allocate('alpha', { ports: ['80/tcp'] });
  const d = await queryUntil(serve, A, (d) => addressesOf(d).length > 0);
  t.same(addressesOf(d), [vip.ipv4]);
  await allocator.allocate('beta');
  await queryUntil(serve, B, (d) => addressesOf(d).length > 0);
  await allocator.release(B);
  t.equal((await queryUntil(serve, B, (d) => d.rcode === 'NXDOMAIN')).rcode, 'NXDOMAIN');
});

t.test('Redis killed: still answered from what the resolver knew', async (t) => {
  const alpha = (await allocator.get(A))!;
  // Persist what Redis holds, then crash it: the restart below comes back with the same data.
  await redis.command('SAVE');
  await redis.stop({ kill: true });
  await serve.waitForLog('vip store feed lost; answering from the last table');
  const d = await serve.query(A);
  t.equal(d.rcode, 'NOERROR');
  t.same(addressesOf(d), [alpha.ipv4]);
  const ready = (await (await fetch(`http://${serve.httpAddress}/ready`)).json()) as { vipStore: string };
  t.equal(ready.vipStore, 'down');
});

t.test('resolver restarted while Redis is down answers from its local copy', async (t) => {
  const alpha = addressesOf(await serve.query(A));
  t.equal(await serve.stop('SIGTERM'), 0);
  serve = await startServe(args, { HOME: home });
  await serve.waitForLog('vip zone loaded from local copy');
  const d = await serve.query(A);
  t.same(addressesOf(d), alpha);
  t.equal((await serve.query(B)).rcode, 'NXDOMAIN');
});

t.test('Redis back: the resolver resyncs and changes flow again', async (t) => {
  await redis.restart();
  await allocator.close();
  allocator = await open();
  const { vip } = await allocator.allocate('gamma', { ports: ['8080/tcp'] });
  const d = await queryUntil(serve, C, (d) => addressesOf(d).length > 0, {}, 60_000);
  t.same(addressesOf(d), [vip.ipv4]);
  await allocator.release(A);
  t.equal((await queryUntil(serve, A, (d) => d.rcode === 'NXDOMAIN', {}, 30_000)).rcode, 'NXDOMAIN');
});
