import t from 'tap';
import * as dnsPacket from 'dns-packet';
import { parseServerAddress, canonicalIp } from '../src/exchange/address.js';
import { DeadlineQueue, type Timed } from '../src/exchange/deadlines.js';
import { Exchanger, TOMBSTONE_SWEEP_MS, sweepTime, type Exchange, type ExchangeFailure, type Server } from '../src/exchange/exchanger.js';
import { createDropStats, createServerStats } from '../src/exchange/metrics.js';
import { CryptoRandom, shuffle } from '../src/exchange/random.js';
import { Registry } from '../src/metrics/registry.js';
import { encodeQuery, rcodeOf, startFakeUpstream, type FakeUpstream } from './helpers/fake-upstream.js';

interface Outcome {
  ex: Exchange;
  reply: Buffer | undefined;
  failure: ExchangeFailure | undefined;
}

interface Teardown {
  teardown(fn: () => unknown): void;
}

function setup(t: Teardown, opts: { sockets?: number; socketMaxUses?: number; socketMaxAge?: number; tcpFallback?: boolean; deadlines?: DeadlineQueue } = {}) {
  const registry = new Registry();
  const exchanger = new Exchanger({ drops: createDropStats(registry, 'test'), ...opts });
  t.teardown(() => exchanger.close());
  const server = (up: FakeUpstream): Server => ({ ...parseServerAddress(up.key, 53)!, stats: createServerStats(registry, 'test', 'upstream', up.key) });
  const ask = (srv: Server, name: string, timeout = 5000, type: dnsPacket.RecordType = 'A') => {
    const msg = encodeQuery({ name, type, id: 7 });
    const questionEnd = msg.length; // no additional records
    let ex!: Exchange;
    const done = new Promise<Outcome>((resolve) => {
      ex = exchanger.send(srv, msg, questionEnd, timeout, { onExchangeDone: (e, reply, failure) => resolve({ ex: e, reply, failure }) });
    });
    return { ex, done };
  };
  const dropped = (reason: string) => registry.counter('hoplite_dns_test_dropped_replies_total', '').get({ reason });
  const metric = (name: string, labels: Record<string, string>) => registry.counter(name, '').get(labels);
  return { registry, exchanger, server, ask, dropped, metric };
}

t.test('address parsing: ip, ip:port, [v6], [v6]:port, bare v6; canonical forms', async (t) => {
  t.same(parseServerAddress('10.0.0.1', 53), { address: '10.0.0.1', port: 53, family: 'IPv4', key: '10.0.0.1:53' });
  t.same(parseServerAddress('10.0.0.1:5353', 53)?.port, 5353);
  t.same(parseServerAddress('[2001:DB8:0::1]:54', 53), { address: '2001:db8::1', port: 54, family: 'IPv6', key: '[2001:db8::1]:54' });
  t.same(parseServerAddress('[::1]', 61053)?.port, 61053);
  t.same(parseServerAddress('fd00::53', 53)?.key, '[fd00::53]:53');
  for (const bad of ['', 'example.com', '10.0.0.1:', '10.0.0.1:0', '10.0.0.1:65536', '10.0.0.1:53x', '[::1', '[::1]x', '[10.0.0.1]:53', 'fe80::1%eth0', '1.2.3', '::1:53:x']) {
    t.equal(parseServerAddress(bad, 53), undefined, `rejects ${JSON.stringify(bad)}`);
  }
  t.equal(canonicalIp('0:0:0:0:0:0:0:1'), '::1');
  t.equal(canonicalIp('nope'), undefined);
});

t.test('random: uint16 range, below() bounds, shuffle is a permutation', async (t) => {
  const r = new CryptoRandom();
  const seen = new Set<number>();
  let outOfRange = 0;
  for (let i = 0; i < 5000; i++) {
    const v = r.uint16();
    if (!(v >= 0 && v <= 65535 && Number.isInteger(v))) outOfRange++;
    seen.add(v);
  }
  t.equal(outOfRange, 0);
  t.ok(seen.size > 4500, 'draws are spread out');
  const counts = [0, 0, 0];
  for (let i = 0; i < 3000; i++) counts[r.below(3)]!++;
  t.ok(counts.every((c) => c > 800), `below(3) covers 0..2 evenly: ${counts}`);
  t.equal(r.below(1), 0);
  t.same(shuffle([1, 2, 3, 4, 5], r).sort(), [1, 2, 3, 4, 5]);
});

t.test('deadline queue: fires in deadline order, never fires removed items', async (t) => {
  const q = new DeadlineQueue();
  t.teardown(() => q.close());
  const fired: number[] = [];
  const items: Array<Timed & { n: number }> = [];
  const start = q.clock();
  let pendingCount = 0;
  const allFired = new Promise<void>((resolve) => {
    for (let i = 0; i < 300; i++) {
      const item = {
        n: i,
        deadline: 0,
        heapIndex: -1,
        onDeadline() {
          fired.push(this.deadline);
          if (--pendingCount === 0) resolve();
        },
      };
      items.push(item);
    }
  });
  const removed = new Set<number>();
  for (const item of items) q.add(item, start + 5 + ((item.n * 7919) % 40));
  // Move some, remove some.
  for (let i = 0; i < 300; i += 7) q.add(items[i]!, start + 2 + (i % 11));
  for (let i = 3; i < 300; i += 5) {
    q.remove(items[i]!);
    removed.add(i);
  }
  q.remove(items[3]!); // twice: no-op
  pendingCount = 300 - removed.size;
  t.equal(q.size, pendingCount);
  await allFired;
  t.equal(fired.length, 300 - removed.size);
  for (let i = 1; i < fired.length; i++) if (fired[i]! < fired[i - 1]!) t.fail(`out of order at ${i}`);
  t.equal(q.size, 0);
  t.ok(items.every((i) => i.heapIndex === -1));
});

t.test('deadline queue: interleaved fixed durations (the lanes), moves and removals, then close()', async (t) => {
  const q = new DeadlineQueue();
  t.teardown(() => q.close());
  const fired: number[] = [];
  const firedIds: number[] = [];
  type Item = Timed & { id: number };
  const items: Item[] = [];
  let pending = 0;
  let resolveAll: () => void = () => undefined;
  const allFired = new Promise<void>((resolve) => {
    resolveAll = resolve;
  });
  const mk = (id: number): Item => ({
    id,
    deadline: 0,
    heapIndex: -1,
    lane: undefined,
    lanePrev: undefined,
    laneNext: undefined,
    onDeadline() {
      fired.push(this.deadline);
      firedIds.push(this.id);
      if (--pending === 0) resolveAll();
    },
  });
  // "now + d" for a few fixed durations, as exchanges, queries and grace periods add them, with
  // the clock moving on between adds; more kinds than lanes, so some go to the heap.
  const durations = [40, 15, 60, 5, 25, 35, 45, 50, 55, 10, 30];
  for (let i = 0; i < 400; i++) {
    const it = mk(i);
    items.push(it);
    q.add(it, q.clock() + durations[i % durations.length]!);
  }
  t.equal(q.size, 400);
  // Remove some from the middle, the head and the tail of their lanes; move others.
  const removed = new Set<number>();
  for (const i of [0, 1, 2, 57, 200, 398, 399]) {
    q.remove(items[i]!);
    removed.add(i);
  }
  for (let i = 3; i < 400; i += 13) if (!removed.has(i)) q.add(items[i]!, q.clock() + 20);
  t.equal(q.size, 400 - removed.size);
  pending = 400 - removed.size;
  await allFired;
  t.equal(fired.length, 400 - removed.size);
  for (let i = 1; i < fired.length; i++) if (fired[i]! < fired[i - 1]!) t.fail(`out of order at ${i}`);
  t.notOk(firedIds.some((id) => removed.has(id)), 'removed items never fire');
  t.equal(q.size, 0);
  t.ok(items.every((i) => i.heapIndex === -1 && i.lane === undefined && i.laneNext === undefined && i.lanePrev === undefined));
  // close() forgets queued items (lanes and heap) without firing them.
  const left = [mk(1000), mk(1001), mk(1002)];
  q.add(left[0]!, q.clock() + 10_000);
  q.add(left[1]!, q.clock() + 20_000);
  q.add(left[2]!, q.clock() + 5);
  q.close();
  t.equal(q.size, 0);
  t.ok(left.every((i) => i.heapIndex === -1 && i.lane === undefined));
});

t.test('deadline queue: an earlier item added from a callback still fires on time', async (t) => {
  const q = new DeadlineQueue();
  t.teardown(() => q.close());
  const order: string[] = [];
  const now = q.clock();
  const late: Timed = { deadline: 0, heapIndex: -1, onDeadline: () => order.push('late') };
  const done = new Promise<void>((resolve) => {
    const early: Timed = { deadline: 0, heapIndex: -1, onDeadline: () => { order.push('early'); resolve(); } };
    const first: Timed = {
      deadline: 0,
      heapIndex: -1,
      onDeadline: () => {
        order.push('first');
        q.add(late, q.clock() + 2000);
        q.add(early, q.clock() + 5);
      },
    };
    q.add(first, now + 1);
  });
  await done;
  t.same(order, ['first', 'early']);
  q.remove(late);
});

t.test('exchange: fresh random ID per exchange, reply accepted, stats counted', async (t) => {
  const up = await startFakeUpstream();
  t.teardown(() => up.close());
  const { ask, server, metric } = setup(t);
  const srv = server(up);
  const outs = await Promise.all([ask(srv, 'a.example').done, ask(srv, 'b.example').done, ask(srv, 'c.example').done]);
  for (const o of outs) {
    t.equal(o.failure, undefined);
    const p = dnsPacket.decode(o.reply!);
    t.equal(rcodeOf(o.reply!), 'NOERROR');
    t.equal(p.id, o.ex.id, 'the reply carries the exchange ID');
  }
  const ids = up.received.map((r) => r.id);
  t.notOk(ids.includes(7), 'the template ID never goes on the wire');
  t.equal(new Set(ids).size, 3);
  t.equal(metric('hoplite_dns_test_upstream_requests_total', { upstream: up.key }), 3);
  t.equal(metric('hoplite_dns_test_upstream_responses_total', { upstream: up.key, rcode: 'NOERROR' }), 3);
});

t.test('exchange: a reply with a wrong ID is dropped and counted; the real one is taken', async (t) => {
  const up = await startFakeUpstream({ handler: () => [{ wrongId: true }, { delay: 30, answers: [{ name: 'a.example', type: 'A', ttl: 1, data: '198.51.100.7' }] }] });
  t.teardown(() => up.close());
  const { ask, server, dropped } = setup(t);
  const o = await ask(server(up), 'a.example').done;
  t.equal((dnsPacket.decode(o.reply!).answers![0] as dnsPacket.StringAnswer).data, '198.51.100.7');
  t.equal(dropped('id'), 1);
});

t.test('exchange: a reply from a wrong port is not accepted (the connected socket never sees it); alone, the exchange times out', async (t) => {
  const up = await startFakeUpstream({ handler: (q) => (q.name === 'only-wrong.example' ? { wrongPort: true } : [{ wrongPort: true }, { delay: 30 }]) });
  t.teardown(() => up.close());
  const { ask, server, dropped, metric } = setup(t);
  const srv = server(up);
  const o = await ask(srv, 'a.example').done;
  t.equal(o.failure, undefined);
  t.equal(up.wrongPortSent, 1, 'the wrong-port reply was sent (before the real one)');
  const o2 = await ask(srv, 'only-wrong.example', 300).done;
  t.equal(o2.failure, 'timeout', 'the wrong-port reply was not taken');
  t.equal(up.wrongPortSent, 2);
  // Pooled sockets are connected to their server: the kernel drops datagrams from any other
  // address or port before they reach the exchanger, so the `source` counter (kept for datagrams
  // queued before the connect) does not move.
  t.equal(dropped('source'), 0);
  t.equal(metric('hoplite_dns_test_upstream_timeouts_total', { upstream: up.key }), 1);
});

t.test('exchange: a reply carrying another question is dropped and counted', async (t) => {
  const up = await startFakeUpstream({ handler: () => [{ wrongQuestion: true }, { delay: 30 }] });
  t.teardown(() => up.close());
  const { ask, server, dropped } = setup(t);
  const o = await ask(server(up), 'a.example').done;
  t.equal(dnsPacket.decode(o.reply!).questions![0]!.name, 'a.example');
  t.equal(dropped('question'), 1);
});

t.test('exchange: the question matches case-insensitively (0x20 mixed case)', async (t) => {
  const up = await startFakeUpstream({
    handler: (q) => ({ raw: dnsPacket.encode({ type: 'response', id: q.id, flags: 0, questions: [{ name: 'MiXeD.ExAmPlE', type: 'A', class: 'IN' }], answers: [] }) }),
  });
  t.teardown(() => up.close());
  const { ask, server } = setup(t);
  const o = await ask(server(up), 'mixed.example').done;
  t.equal(o.failure, undefined);
});

t.test('exchange: malformed and query-shaped datagrams are dropped', async (t) => {
  const up = await startFakeUpstream({
    handler: (q) => [{ raw: Buffer.from([1, 2, 3]) }, { raw: Buffer.from(q.raw) }, { delay: 30 }],
  });
  t.teardown(() => up.close());
  const { ask, server, dropped } = setup(t);
  const o = await ask(server(up), 'a.example').done;
  t.equal(o.failure, undefined);
  t.equal(dropped('malformed'), 2);
});

t.test('exchange: sendAll sends one datagram (one ID) to every server; a TCP retry by one leaves the others intact; a server listed twice gets its own ID', async (t) => {
  const big = Array.from({ length: 30 }, (_, i) => ({ name: 'all.example', type: 'A' as const, ttl: 60, data: `198.51.100.${i + 1}` }));
  const ups = await Promise.all([
    startFakeUpstream(),
    startFakeUpstream({ handler: (q) => (q.transport === 'udp' ? { truncate: true, delay: 5 } : { answers: big }) }),
    startFakeUpstream({ handler: () => ({ delay: 20 }) }),
  ]);
  t.teardown(() => Promise.all(ups.map((u) => u.close())));
  const { exchanger, server, dropped } = setup(t);
  const servers = ups.map(server);
  const msg = encodeQuery({ name: 'all.example', type: 'A', id: 7 });
  const copy = Buffer.from(msg);
  const results: Outcome[] = [];
  const exchanges: Exchange[] = [];
  const done = new Promise<void>((resolve) => {
    exchanger.sendAll(servers, msg, msg.length, 5000, {
      onExchangeDone: (ex, reply, failure) => {
        results[ex.tag] = { ex, reply, failure };
        if (results.filter(Boolean).length === 3) resolve();
      },
    }, false, exchanger.deadlines.clock(), exchanges);
  });
  t.equal(exchanges.length, 3);
  t.same(msg, copy, 'the template is not written to (owned = false)');
  await done;
  const udp = ups.map((u) => u.received.find((r) => r.transport === 'udp')!);
  t.equal(new Set(udp.map((r) => r.id)).size, 1, 'one ID for all three');
  t.ok(udp.every((r) => r.raw.equals(udp[0]!.raw)), 'the same datagram to each');
  t.same(results.map((r) => r.failure), [undefined, undefined, undefined]);
  t.equal(dnsPacket.decode(results[1]!.reply!).answers!.length, 30, 'the truncated one was retried over TCP');
  const tcp = ups[1]!.received.find((r) => r.transport === 'tcp')!;
  t.ok(tcp, 'TCP retry made');
  t.equal(dnsPacket.decode(results[2]!.reply!).id, udp[0]!.id, 'the slow server replied to the shared ID');
  t.equal(dropped('id'), 0);

  // The same server twice, one socket per server: it cannot share that socket's ID with itself.
  const one = setup(t, { sockets: 1 });
  const twice = [one.server(ups[0]!), one.server(ups[0]!)];
  const got: Outcome[] = [];
  const exs: Exchange[] = [];
  await new Promise<void>((resolve) => {
    one.exchanger.sendAll(twice, msg, msg.length, 5000, {
      onExchangeDone: (ex, reply, failure) => {
        got[ex.tag] = { ex, reply, failure };
        if (got.filter(Boolean).length === 2) resolve();
      },
    }, false, one.exchanger.deadlines.clock(), exs);
  });
  t.same(got.map((r) => r.failure), [undefined, undefined]);
  t.equal(exs[0]!.socket, exs[1]!.socket, 'one socket');
  const both = ups[0]!.received.slice(-2);
  t.equal(both[0]!.from.port, both[1]!.from.port);
  t.not(both[0]!.id, both[1]!.id, 'two IDs');
  t.equal(one.dropped('id'), 0);
});

t.test('exchange: a truncated UDP reply is retried over TCP with a fresh ID', async (t) => {
  const big = Array.from({ length: 40 }, (_, i) => ({ name: 'big.example', type: 'A' as const, ttl: 60, data: `10.0.0.${i + 1}` }));
  const up = await startFakeUpstream({ handler: () => ({ truncate: true, answers: big }) });
  t.teardown(() => up.close());
  const { ask, server, metric } = setup(t);
  const o = await ask(server(up), 'big.example').done;
  t.equal(o.failure, undefined);
  const p = dnsPacket.decode(o.reply!);
  t.equal(p.flag_tc, false);
  t.equal(p.answers!.length, 40);
  t.same(up.received.map((r) => r.transport), ['udp', 'tcp']);
  t.equal(p.id, up.received[1]!.id);
  t.equal(metric('hoplite_dns_test_upstream_tcp_retries_total', { upstream: up.key }), 1);
});

t.test('exchange: TCP fallback off relays the truncated reply', async (t) => {
  const up = await startFakeUpstream({ handler: () => ({ truncate: true }) });
  t.teardown(() => up.close());
  const { ask, server } = setup(t, { tcpFallback: false });
  const o = await ask(server(up), 'big.example').done;
  t.equal(dnsPacket.decode(o.reply!).flag_tc, true);
  t.equal(up.received.length, 1);
});

t.test('exchange: a TCP retry that gets no answer times out; a refused connection is an error', async (t) => {
  const up = await startFakeUpstream({ handler: (q) => (q.transport === 'udp' ? { truncate: true } : { drop: true }) });
  t.teardown(() => up.close());
  const { ask, server, metric } = setup(t);
  const o = await ask(server(up), 'big.example', 300).done;
  t.equal(o.failure, 'timeout');
  t.equal(metric('hoplite_dns_test_upstream_timeouts_total', { upstream: up.key }), 1);

  // A UDP-only "server" that truncates: the TCP connection is refused.
  const dgram = await import('node:dgram');
  const u = dgram.createSocket('udp4');
  await new Promise<void>((r) => u.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => u.close());
  u.on('message', (m, r) => {
    const p = dnsPacket.decode(m);
    u.send(dnsPacket.encode({ type: 'response', id: p.id, flags: dnsPacket.TRUNCATED_RESPONSE, questions: p.questions }), r.port, r.address);
  });
  const { ask: ask2, metric: metric2, registry } = setup(t);
  const key = `127.0.0.1:${u.address().port}`;
  const srv: Server = { ...parseServerAddress(key, 53)!, stats: createServerStats(registry, 'test', 'upstream', key) };
  const o2 = await ask2(srv, 'big.example', 5000).done;
  t.equal(o2.failure, 'error');
  t.equal(metric2('hoplite_dns_test_upstream_errors_total', { upstream: key }), 1);
});

t.test('exchange: a dropped query times out', async (t) => {
  const up = await startFakeUpstream({ handler: () => ({ drop: true }) });
  t.teardown(() => up.close());
  const { ask, server } = setup(t);
  const started = performance.now();
  const o = await ask(server(up), 'a.example', 100).done;
  t.equal(o.failure, 'timeout');
  t.ok(performance.now() - started >= 95, 'not before its timeout');
});

t.test('exchange: an abandoned exchange never calls back; its late reply counts as late', async (t) => {
  const up = await startFakeUpstream({ handler: () => ({ delay: 30 }) });
  t.teardown(() => up.close());
  const { exchanger, server, dropped } = setup(t);
  const srv = server(up);
  const msg = encodeQuery({ name: 'a.example' });
  let called = false;
  const ex = exchanger.send(srv, msg, msg.length, 5000, { onExchangeDone: () => (called = true) });
  exchanger.abandon(ex);
  exchanger.abandon(ex); // twice: no-op
  await up.waitForQueries(1);
  // A second exchange, answered after the first one's late reply: proves the late one was seen.
  const second = await new Promise<Buffer | undefined>((resolve) => {
    exchanger.send(srv, msg, msg.length, 5000, { onExchangeDone: (_e, r) => resolve(r) });
  });
  t.ok(second);
  t.equal(called, false);
  t.equal(dropped('late'), 1);
  t.equal(dropped('id'), 0);
});

t.test('exchange: an abandoned exchange keeps only a tombstone; its late reply is still checked (question), then counted late', async (t) => {
  // Two replies to the one query: first a wrong question, then the real one (both after abandon).
  const up = await startFakeUpstream({ handler: () => [{ delay: 30, wrongQuestion: true }, { delay: 60 }] });
  t.teardown(() => up.close());
  const outcomes: Array<string> = [];
  const registry = new Registry();
  const exchanger = new Exchanger({
    drops: createDropStats(registry, 'test'),
    onAbandonedOutcome: (server, reply) => outcomes.push(`${server.key} ${reply === undefined ? 'timeout' : rcodeOf(reply)}`),
  });
  t.teardown(() => exchanger.close());
  const srv: Server = { ...parseServerAddress(up.key, 53)!, stats: createServerStats(registry, 'test', 'upstream', up.key) };
  const dropped = (reason: string) => registry.counter('hoplite_dns_test_dropped_replies_total', '').get({ reason });
  const msg = encodeQuery({ name: 'Late.Example', id: 7 });
  const ex = exchanger.send(srv, msg, msg.length, 5000, { onExchangeDone: () => t.fail('an abandoned exchange never calls back') });
  exchanger.abandon(ex);
  t.equal(ex.socket, undefined, 'the exchange lets go of its socket (the tombstone stays there)');
  while (dropped('late') === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  t.equal(dropped('question'), 1, 'the wrong-question reply was checked against the tombstone');
  t.equal(dropped('late'), 1);
  t.same(outcomes, [`${up.key} NOERROR`], 'health hears of the late reply, with its server');
  t.equal(registry.counter('hoplite_dns_test_upstream_responses_total', '').get({ upstream: up.key, rcode: 'NOERROR' }), 1, 'the late reply counted by rcode');
});

t.test('exchange: tombstones answered late (in any order) are dropped as their replies come; the sweep timer is not left armed', async (t) => {
  let n = 0;
  // Replies delayed 0..39 ms, so that they come back out of order.
  const up = await startFakeUpstream({ handler: () => ({ delay: (n++ * 7) % 40 }) });
  t.teardown(() => up.close());
  const deadlines = new DeadlineQueue();
  t.teardown(() => deadlines.close());
  const { exchanger, server, dropped } = setup(t, { sockets: 2, deadlines });
  const srv = server(up);
  const msg = encodeQuery({ name: 'loser.example', id: 7 });
  const N = 200;
  for (let i = 0; i < N; i++) exchanger.abandon(exchanger.send(srv, msg, msg.length, 60_000, { onExchangeDone: () => t.fail('abandoned') }));
  t.ok(deadlines.size >= 1, 'a sweep timer is armed for the tombstones');
  while (dropped('late') < N) await new Promise((resolve) => setTimeout(resolve, 5));
  t.equal(deadlines.size, 0, 'every tombstone answered: nothing left to sweep, no timer armed for a minute from now');
  // The IDs are free again and the sockets still work.
  const reply = await new Promise<Buffer | undefined>((resolve) => exchanger.send(srv, msg, msg.length, 5000, { onExchangeDone: (_e, r) => resolve(r) }));
  t.ok(reply);
});

t.test('exchange: a replaced socket hands its ID table and tombstone ring to the next one; exchanges through reused ones are matched as before', async (t) => {
  const up = await startFakeUpstream({ handler: () => ({ delay: 15 }) });
  t.teardown(() => up.close());
  const { exchanger, server, dropped } = setup(t, { sockets: 1, socketMaxUses: 40 });
  const srv = server(up);
  for (let round = 0; round < 4; round++) {
    // 40 abandoned (tombstones, answered late), then one answered: the 41st goes out of a fresh
    // socket, and the old one closes once its last late reply is in.
    for (let i = 0; i < 40; i++) {
      const q = encodeQuery({ name: `r${round}-${i}.example` });
      exchanger.abandon(exchanger.send(srv, q, q.length, 60_000, { onExchangeDone: () => t.fail('abandoned') }));
    }
    const msg = encodeQuery({ name: `r${round}.example` });
    const reply = await new Promise<Buffer | undefined>((resolve) => exchanger.send(srv, msg, msg.length, 5000, { onExchangeDone: (_e, r) => resolve(r) }));
    t.ok(reply, `round ${round}: answered`);
    while (dropped('late') < 40 * (round + 1)) await new Promise((resolve) => setTimeout(resolve, 5));
    while (exchanger.openSockets > 1) await new Promise((resolve) => setTimeout(resolve, 5));
    t.equal(exchanger.spareTables, 1, `round ${round}: the retired socket's table is kept for the next socket`);
  }
  t.equal(dropped('late'), 160, 'every late reply matched its tombstone, through reused tables');
  t.equal(dropped('id'), 0, 'none taken for an unknown ID');
  t.equal(dropped('question'), 0);
});

t.test('exchange: tombstones expire at their timeout: a timeout of their server, the ID freed, a retired socket closed', async (t) => {
  const up = await startFakeUpstream({ handler: () => ({ drop: true }) });
  t.teardown(() => up.close());
  const registry = new Registry();
  let timeouts = 0;
  let allTimedOut!: () => void;
  const done = new Promise<void>((resolve) => (allTimedOut = resolve));
  const N = 2500; // the tombstone ring grows (from 16) several times
  const exchanger = new Exchanger({
    drops: createDropStats(registry, 'test'),
    sockets: 1,
    socketMaxUses: N,
    onAbandonedOutcome: (_server, reply) => {
      if (reply === undefined && ++timeouts === N) allTimedOut();
    },
  });
  t.teardown(() => exchanger.close());
  const srv: Server = { ...parseServerAddress(up.key, 53)!, stats: createServerStats(registry, 'test', 'upstream', up.key) };
  const msg = encodeQuery({ name: 'gone.example', id: 7 });
  // Timeouts spread over 40..240 ms, made in batches so that sweeps find some due and some not.
  for (let i = 0; i < N; i++) {
    const ex = exchanger.send(srv, msg, msg.length, 40 + (i % 200), { onExchangeDone: () => t.fail('abandoned') });
    exchanger.abandon(ex);
    if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
  }
  t.equal(exchanger.openSockets, 1);
  // The socket has served its N uses: the next exchange retires it (its tombstones pending) and
  // goes out of a fresh one.
  const next = exchanger.send(srv, msg, msg.length, 60_000, { onExchangeDone: () => t.fail('abandoned') });
  exchanger.abandon(next);
  t.equal(exchanger.openSockets, 2, 'a fresh socket, the old one retiring until its last tombstone');
  await done;
  t.equal(timeouts, N, 'every tombstone of the old socket expired once');
  t.equal(registry.counter('hoplite_dns_test_upstream_timeouts_total', '').get({ upstream: up.key }), N, 'each a timeout of the server');
  while (exchanger.openSockets > 1) await new Promise((resolve) => setTimeout(resolve, 5));
  t.pass('the retired socket closed once its tombstones were gone');
});

t.test('exchange: tombstone sweeps fall on a shared grid, at least TOMBSTONE_SWEEP_MS after the expiry (the sweepers of every socket in one timer wake-up)', async (t) => {
  let wrong = 0;
  const seen = new Set<number>();
  for (let expiry = 1000; expiry < 1100; expiry += 0.37) {
    const at = sweepTime(expiry);
    if (at % TOMBSTONE_SWEEP_MS !== 0 || at < expiry + TOMBSTONE_SWEEP_MS || at >= expiry + 2 * TOMBSTONE_SWEEP_MS) wrong++;
    seen.add(at);
  }
  t.equal(wrong, 0);
  t.equal(seen.size, 6, '270 expiries over 100 ms swept at 6 times');
});

t.test('exchange: a tombstone that the deadline queue counts as due (within its half-millisecond slack) is swept, not re-queued for ever', async (t) => {
  const up = await startFakeUpstream({ handler: () => ({ drop: true }) });
  t.teardown(() => up.close());
  // A clock the test sets: the timer fires when the clock reads 0.3 ms before the tombstone's
  // sweep time (sweepTime(expiry)), which the queue counts as due.
  let now = 1000;
  const deadlines = new DeadlineQueue(() => now);
  t.teardown(() => deadlines.close());
  const registry = new Registry();
  let swept!: () => void;
  const sweptP = new Promise<void>((resolve) => (swept = resolve));
  const exchanger = new Exchanger({ drops: createDropStats(registry, 'test'), deadlines, onAbandonedOutcome: () => swept() });
  t.teardown(() => exchanger.close());
  const srv: Server = { ...parseServerAddress(up.key, 53)!, stats: createServerStats(registry, 'test', 'upstream', up.key) };
  const msg = encodeQuery({ name: 'slack.example', id: 7 });
  const ex = exchanger.send(srv, msg, msg.length, 20, { onExchangeDone: () => undefined }, 0, false, now);
  exchanger.abandon(ex);
  now = sweepTime(1000 + 20) - 0.3;
  await sweptP;
  t.equal(registry.counter('hoplite_dns_test_upstream_timeouts_total', '').get({ upstream: up.key }), 1);
});

t.test('exchange: sockets are replaced after a number of uses; source ports change', async (t) => {
  const up = await startFakeUpstream();
  t.teardown(() => up.close());
  const { ask, server, exchanger } = setup(t, { sockets: 1, socketMaxUses: 3 });
  const srv = server(up);
  for (let i = 0; i < 9; i++) await ask(srv, `n${i}.example`).done;
  const ports = up.received.map((r) => r.from.port);
  t.equal(new Set(ports.slice(0, 3)).size, 1, 'one socket serves 3 exchanges');
  t.equal(new Set(ports).size, 3, '9 exchanges used 3 sockets');
  t.equal(exchanger.openSockets, 1, 'retired sockets with nothing pending are closed');
});

t.test('exchange: sockets are replaced after their age; a retiring socket still gets its reply', async (t) => {
  const up = await startFakeUpstream({ handler: (q) => (q.name === 'slow.example' ? { delay: 80 } : undefined) });
  t.teardown(() => up.close());
  // An injected clock: the socket ages by moving the clock, not by waiting.
  let skew = 0;
  const deadlines = new DeadlineQueue(() => performance.now() + skew);
  t.teardown(() => deadlines.close());
  const { ask, server, exchanger } = setup(t, { sockets: 1, socketMaxAge: 1000, deadlines });
  const srv = server(up);
  const slow = ask(srv, 'slow.example', 60_000);
  await up.waitForQueries(1);
  skew += 1500;
  const fast = await ask(srv, 'fast.example').done;
  t.equal(fast.failure, undefined);
  t.equal(exchanger.openSockets, 2, 'old socket kept while its exchange is pending');
  const s = await slow.done;
  t.equal(s.failure, undefined, 'the retiring socket received its reply');
  t.not(up.received[0]!.from.port, up.received[1]!.from.port);
  t.equal(exchanger.openSockets, 1, 'the retired socket closed after its last exchange');
});

t.test('exchange: IPv6 server on ::1', async (t) => {
  const up = await startFakeUpstream({ address: '::1' });
  t.teardown(() => up.close());
  const { ask, server } = setup(t);
  const srv = server(up);
  t.equal(srv.family, 'IPv6');
  const o = await ask(srv, 'v6.example', 5000, 'AAAA').done;
  t.equal(o.failure, undefined);
  t.equal(up.received[0]!.from.address, '::1');
});

t.test('exchange: close() fails pending exchanges with closed; send after close fails', async (t) => {
  const up = await startFakeUpstream({ handler: () => ({ drop: true }) });
  t.teardown(() => up.close());
  const { ask, server, exchanger } = setup(t);
  const srv = server(up);
  const p = ask(srv, 'a.example').done;
  await up.waitForQueries(1);
  await exchanger.close();
  t.equal((await p).failure, 'closed');
  t.equal((await ask(srv, 'b.example').done).failure, 'closed');
  t.equal(exchanger.openSockets, 0);
});
