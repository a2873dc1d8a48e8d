import t from 'tap';
import { pino } from 'pino';
import { parseServerAddress } from '../src/exchange/address.js';
import { DeadlineQueue } from '../src/exchange/deadlines.js';
import { Exchanger } from '../src/exchange/exchanger.js';
import { createDropStats, createServerStats } from '../src/exchange/metrics.js';
import type { RandomSource } from '../src/exchange/random.js';
import { HealthChecker, probeMessage, qtypeNumber, type HealthTracked } from '../src/health/checker.js';
import { HEALTH_DEFAULTS, ServerHealth, type HealthOptions } from '../src/health/health.js';
import { Registry } from '../src/metrics/registry.js';
import { orderServers } from '../src/upstream/policy.js';
import { decode, startFakeUpstream } from './helpers/fake-upstream.js';

const opts = (o: Partial<HealthOptions> = {}): HealthOptions => ({ ...HEALTH_DEFAULTS, ...o });

t.test('health: down after maxFails consecutive failures; a success resets the count', async (t) => {
  const h = new ServerHealth(opts({ maxFails: 3 }));
  t.equal(h.failure(0), false);
  t.equal(h.failure(10), false);
  t.equal(h.success(20), false, 'still up: no transition');
  t.equal(h.consecutiveFailures, 0);
  t.equal(h.failure(30), false);
  t.equal(h.failure(40), false);
  t.equal(h.up, true);
  t.equal(h.failure(50), true, 'third consecutive failure: down');
  t.equal(h.state, 'down');
  t.equal(h.failure(60), false, 'already down');
});

t.test('health: the failure score decays with its half-life (it forgets)', async (t) => {
  const h = new ServerHealth(opts({ maxFails: 100, failureHalfLife: 1000 }));
  h.failure(0);
  h.failure(0);
  t.equal(h.failureScore(0), 2);
  t.ok(Math.abs(h.failureScore(1000) - 1) < 1e-9, 'halved after one half-life');
  t.ok(Math.abs(h.failureScore(2000) - 0.5) < 1e-9);
  t.equal(h.failureScore(30_000), 0, 'forgotten after a long time');
  h.success(30_000);
  t.equal(h.failureScore(30_000), 0);
});

t.test('health: probe backoff doubles per failed probe, capped; a probe success brings it back', async (t) => {
  const h = new ServerHealth(opts({ maxFails: 1, probeInterval: 100, probeMaxInterval: 1000, failureHalfLife: 1_000_000 }));
  h.failure(0);
  t.equal(h.nextProbeAt, 100, 'first probe after probeInterval');
  t.equal(h.probeResult(false, 100), false);
  t.equal(h.nextProbeAt, 300, '200 ms later');
  h.probeResult(false, 300);
  t.equal(h.nextProbeAt, 700, '400 ms later');
  h.probeResult(false, 700);
  t.equal(h.nextProbeAt, 1500, '800 ms later');
  h.probeResult(false, 1500);
  t.equal(h.nextProbeAt, 2500, 'capped at probeMaxInterval');
  t.equal(h.probeResult(true, 2500), true, 'back up');
  t.equal(h.up, true);
  t.equal(h.nextProbeAt, Infinity);
  t.equal(h.consecutiveFailures, 0);
});

t.test('health: a server that flaps waits longer before its first probe (recent episodes)', async (t) => {
  const h = new ServerHealth(opts({ maxFails: 1, probeInterval: 100, probeMaxInterval: 10_000, failureHalfLife: 60_000 }));
  h.failure(0);
  t.equal(h.nextProbeAt, 100);
  h.probeResult(true, 100);
  h.failure(200);
  t.ok(h.nextProbeAt - 200 > 150, `second episode: longer first delay (${h.nextProbeAt - 200} ms)`);
  h.probeResult(true, 400);
  // Long after, the episodes are forgotten: back to the short first probe.
  h.failure(10_000_000);
  t.equal(h.nextProbeAt - 10_000_000, 100);
});

t.test('health: any success while down brings the server back', async (t) => {
  const h = new ServerHealth(opts({ maxFails: 1 }));
  h.failure(0);
  t.equal(h.success(5), true);
  t.equal(h.up, true);
});

t.test('policy: down servers are left out; parallel prefers fewer recent failures', async (t) => {
  const mk = (key: string): HealthTracked => ({ ...parseServerAddress(key, 53)!, stats: undefined as never, health: new ServerHealth(opts({ maxFails: 2, failureHalfLife: 1000 })) });
  const [a, b, c] = [mk('10.0.0.1'), mk('10.0.0.2'), mk('10.0.0.3')];
  let n = 0;
  const seq: RandomSource = { uint16: () => n++ & 0xffff, below: (k) => n++ % k };
  t.same(orderServers('sequential', [a!, b!, c!], seq, 0).map((s) => s.key), [a!.key, b!.key, c!.key]);
  b!.health.failure(0);
  t.equal(orderServers('parallel', [a!, b!, c!], seq, 0).at(-1), b, 'a server with a recent failure goes last');
  t.equal(orderServers('parallel', [a!, b!, c!], seq, 0).at(-1), b);
  const orders = new Set<string>();
  for (let i = 0; i < 20; i++) orders.add(orderServers('parallel', [a!, b!, c!], seq, 10_000).map((s) => s.key).join(','));
  t.ok([...orders].some((o) => !o.endsWith(b!.key)), 'once forgotten, b is not always last');
  b!.health.failure(10_000);
  b!.health.failure(10_000);
  t.equal(b!.health.up, false);
  t.notOk(orderServers('random', [a!, b!, c!], seq, 10_000).includes(b!), 'a down server is left out');
  a!.health.failure(0);
  a!.health.failure(0);
  c!.health.failure(0);
  c!.health.failure(0);
  t.same(orderServers('parallel', [a!, b!, c!], seq, 10_000), [], 'all down: nobody');
  // A single server: itself while up, nobody once down.
  const d = mk('10.0.0.4');
  for (const policy of ['parallel', 'sequential', 'random'] as const) t.same(orderServers(policy, [d], seq, 0), [d]);
  d.health.failure(0);
  d.health.failure(0);
  t.same(orderServers('parallel', [d], seq, 0), [], 'a single server down: nobody');
});

t.test('probe message and query types', async (t) => {
  const { message, questionEnd } = probeMessage('.', 'NS');
  t.equal(questionEnd, message.length);
  const p = decode(message);
  t.same(p.questions, [{ name: '.', type: 'NS', class: 'IN' }]);
  t.equal(p.flag_rd, true);
  t.equal(decode(probeMessage('health.example', 'A').message).questions![0]!.name, 'health.example');
  t.equal(qtypeNumber('aaaa'), 28);
  t.equal(qtypeNumber('TYPE65'), 65);
  t.equal(qtypeNumber('65'), 65);
  t.equal(qtypeNumber(0), undefined);
  t.equal(qtypeNumber('NOPE'), undefined);
});

t.test('checker: probes a down server until it answers (SERVFAIL is a failed probe, NXDOMAIN a good one)', async (t) => {
  const up = await startFakeUpstream();
  t.teardown(() => up.close());
  let alive = false;
  up.handler = () => (alive ? { rcode: 'NXDOMAIN' } : { rcode: 'SERVFAIL' });
  const deadlines = new DeadlineQueue();
  t.teardown(() => deadlines.close());
  let onUp!: () => void;
  const cameUp = new Promise<void>((resolve) => (onUp = resolve));
  const registry = new Registry();
  const exchanger = new Exchanger({ drops: createDropStats(registry, 'test'), deadlines });
  t.teardown(() => exchanger.close());
  const events: string[] = [];
  const checker = new HealthChecker({
    exchanger,
    health: opts({ maxFails: 1, probeInterval: 10, probeMaxInterval: 20 }),
    timeout: 1000,
    logger: pino({ level: 'silent' }),
    label: 'upstream',
    healthyGauge: registry.gauge('g', ''),
    downCounter: registry.counter('d', ''),
    probesCounter: registry.counter('p', ''),
    onChange: (key, state) => {
      events.push(`${key} ${state}`);
      if (state === 'up') onUp();
    },
  });
  t.teardown(() => checker.close());
  const server: HealthTracked = { ...parseServerAddress(up.key, 53)!, stats: createServerStats(registry, 'test', 'upstream', up.key), health: new ServerHealth(opts({ maxFails: 1, probeInterval: 10, probeMaxInterval: 20 })) };
  checker.add(server);
  checker.failure(server, 'timeout');
  t.same(events, [`${up.key} down`]);
  t.equal(registry.gauge('g', '').get({ upstream: up.key }), 0);
  await up.waitForQueries(1);
  t.equal(up.received[0]!.name, '.', 'a `. NS` probe');
  t.equal(up.received[0]!.type, 'NS');
  await up.waitForQueries(2);
  t.equal(server.health.up, false, 'a SERVFAIL probe is a failed probe');
  alive = true;
  // NXDOMAIN counts as alive: the next probe brings it back.
  await cameUp;
  t.equal(server.health.up, true);
  t.same(events, [`${up.key} down`, `${up.key} up`]);
  t.equal(registry.gauge('g', '').get({ upstream: up.key }), 1);
  t.ok(registry.counter('p', '').get({ upstream: up.key }) >= 3);
});
