import t from 'tap';
import { once } from 'node:events';
import * as dnsPacket from 'dns-packet';
import { pino } from 'pino';
import type { Answer, Query } from '../src/chain/stage.js';
import { ConfigError, SelfForwardError } from '../src/errors.js';
import { Registry } from '../src/metrics/registry.js';
import { checkForwardConfig, validateForwardConfig, UPSTREAM_DEFAULTS } from '../src/upstream/config.js';
import { createForwardStage, type ForwardStage, type ForwardStageContext } from '../src/upstream/forward.js';
import { findSelfServers } from '../src/upstream/self.js';
import { parseServerAddress } from '../src/exchange/address.js';
import { decode, makeQuery, rcodeOf, startFakeUpstreams, type MakeQueryOptions } from './helpers/fake-upstream.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

function context(over: Partial<ForwardStageContext> = {}): ForwardStageContext {
  return { logger: pino({ level: 'silent' }), metrics: new Registry(), listenAddresses: [], udpMaxResponseSize: 1232, ...over };
}

function stage(t: Teardown, config: Record<string, unknown>, ctx = context()): ForwardStage {
  const s = createForwardStage(config, ctx);
  t.teardown(() => s.close());
  return s;
}

const NEXT_MARK = Buffer.from('next');
const next = (): Answer => NEXT_MARK;

async function ask(s: ForwardStage, o: MakeQueryOptions): Promise<Buffer> {
  return await s.handle(makeQuery(o), next);
}

const A = (name: string, ip: string): dnsPacket.Answer => ({ name, type: 'A', ttl: 30, data: ip });

function firstA(buf: Buffer): string | undefined {
  const a = decode(buf).answers?.find((r) => r.type === 'A') as dnsPacket.StringAnswer | undefined;
  return a?.data;
}

// ---- config ------------------------------------------------------------------------------------

t.test('config: defaults, shorthand list, frozen', async (t) => {
  const c = validateForwardConfig({ upstreams: ['10.0.0.1', '[fd00::53]:5353'] });
  t.same(c.upstreams.servers.map((s) => s.key), ['10.0.0.1:53', '[fd00::53]:5353']);
  t.equal(c.upstreams.policy, 'parallel');
  t.equal(c.upstreams.parallelism, 2);
  t.equal(c.upstreams.timeout, UPSTREAM_DEFAULTS.timeout);
  t.equal(c.upstreams.deadline, UPSTREAM_DEFAULTS.deadline);
  t.equal(c.upstreams.health.maxFails, 3);
  t.same(c.forwardZones, []);
  t.ok(Object.isFrozen(c) && Object.isFrozen(c.upstreams) && Object.isFrozen(c.upstreams.servers));
  const d = validateForwardConfig({});
  t.same(d.upstreams.servers, []);
  const z = validateForwardConfig({ upstreams: { servers: ['10.0.0.1'], policy: 'sequential', timeout: 500 }, forwardZones: { 'Corp.Example.': ['10.1.0.53:5353'] } });
  t.same(z.forwardZones.map((f) => [f.zone, f.servers.map((s) => s.key)]), [['corp.example', ['10.1.0.53:5353']]]);
  t.equal(z.upstreams.policy, 'sequential');
  t.equal(z.upstreams.timeout, 500);
});

t.test('config: every problem reported at once, with key, value and what is accepted', async (t) => {
  const { problems } = checkForwardConfig({
    upstreams: {
      servers: ['10.0.0.1', 'dns.example', '10.0.0.1:53', '10.0.0.2:99999'],
      policy: 'fastest',
      parallelism: 0,
      timeout: 'soon',
      deadline: 5,
      tcpFallback: 'yes',
      ednsUdpSize: 100,
      health: { maxFails: 0, probeType: 'BOGUS', probeName: 'a..b', extra: 1 },
      sockets: { count: 0 },
      colour: 'blue',
    },
    forwardZones: { '': ['10.0.0.9'], 'ok.example': [], 'x.example': ['nope'] },
  });
  const keys = problems.map((p) => p.key).sort();
  t.same(keys, [
    'forwardZones.',
    'forwardZones.ok.example',
    'forwardZones.x.example[0]',
    'upstreams.colour',
    'upstreams.deadline',
    'upstreams.ednsUdpSize',
    'upstreams.health.extra',
    'upstreams.health.maxFails',
    'upstreams.health.probeName',
    'upstreams.health.probeType',
    'upstreams.parallelism',
    'upstreams.policy',
    'upstreams.servers[1]',
    'upstreams.servers[2]',
    'upstreams.servers[3]',
    'upstreams.sockets.count',
    'upstreams.tcpFallback',
    'upstreams.timeout',
  ]);
  const bad = problems.find((p) => p.key === 'upstreams.servers[1]')!;
  t.equal(bad.value, 'dns.example');
  t.match(bad.expected, /ip:port/);
  t.throws(() => validateForwardConfig({ upstreams: 'x' }), { code: 'HOPLITE_DNS_CONFIG' });
  try {
    validateForwardConfig({ upstreams: { policy: 'nope' } });
  } catch (err) {
    t.equal((err as ConfigError).code, 'HOPLITE_DNS_CONFIG');
  }
});

t.test('refuses an upstream that is one of our own listen addresses', async (t) => {
  const listen = [{ transport: 'udp' as const, address: '127.0.0.1', port: 5300, family: 'IPv4' as const }];
  t.throws(() => createForwardStage({ upstreams: ['127.0.0.1:5300'] }, context({ listenAddresses: listen })), { code: 'HOPLITE_DNS_FORWARD_TO_SELF' });
  t.throws(() => createForwardStage({ upstreams: ['10.0.0.1'], forwardZones: { 'a.example': ['127.0.0.1:5300'] } }, context({ listenAddresses: listen })), { code: 'HOPLITE_DNS_FORWARD_TO_SELF' });
  try {
    createForwardStage({ upstreams: ['127.0.0.1:5300'] }, context({ listenAddresses: listen }));
  } catch (err) {
    t.same((err as SelfForwardError).servers, [{ key: 'upstreams.servers[0]', server: '127.0.0.1:5300', listen: '127.0.0.1:5300' }]);
  }
  const s = createForwardStage({ upstreams: ['127.0.0.1:5301'] }, context({ listenAddresses: listen }));
  await s.close();
  const srv = (x: string) => ({ key: 'k', server: parseServerAddress(x, 53)! });
  const local = new Set(['10.9.9.9', 'fd00::9']);
  t.equal(findSelfServers([srv('10.9.9.9')], [{ address: '0.0.0.0', port: 53 }], local).length, 1, '0.0.0.0 matches a local v4 address');
  t.equal(findSelfServers([srv('127.0.0.53')], [{ address: '0.0.0.0', port: 53 }], local).length, 1, '0.0.0.0 matches 127/8');
  t.equal(findSelfServers([srv('[fd00::9]')], [{ address: '0.0.0.0', port: 53 }], local).length, 0, '0.0.0.0 does not take IPv6');
  t.equal(findSelfServers([srv('[fd00::9]')], [{ address: '::', port: 53 }], local).length, 1, ':: matches a local v6 address');
  t.equal(findSelfServers([srv('10.9.9.9')], [{ address: '::', port: 53 }], local).length, 1, ':: (dual stack) matches a local v4 address');
  t.equal(findSelfServers([srv('10.1.1.1')], [{ address: '0.0.0.0', port: 53 }], local).length, 0, 'a remote address is not us');
  t.equal(findSelfServers([srv('10.9.9.9:54')], [{ address: '0.0.0.0', port: 53 }], local).length, 0, 'another port is not us');
  t.equal(findSelfServers([srv('0.0.0.0')], [{ address: '10.9.9.9', port: 53 }], local).length, 1, 'a server at 0.0.0.0 is the local host');
  t.equal(findSelfServers([srv('10.9.9.9')], [{ address: '0.0.0.0', port: 0 }], local).length, 0, 'an unbound port 0 matches nothing');
});

// ---- routing -----------------------------------------------------------------------------------

t.test('routes: declares forward zones; other routes and unconfigured routes go down the chain', async (t) => {
  const [up] = await startFakeUpstreams(t, 1);
  const s = stage(t, { forwardZones: { 'corp.example': [up!.key] } });
  t.same(s.routes, [{ zone: 'corp.example', kind: 'forward' }]);
  t.equal(await ask(s, { name: 'x.example' }), NEXT_MARK, 'no upstreams: the chain goes on (REFUSED)');
  t.equal(await ask(s, { name: 'x.mesos', route: { kind: 'masters', zone: 'mesos' } }), NEXT_MARK);
  t.equal(await ask(s, { name: 'x.other', route: { kind: 'forward', zone: 'other' } }), NEXT_MARK);
  const r = await ask(s, { name: 'host.corp.example', route: { kind: 'forward', zone: 'corp.example' } });
  t.equal(rcodeOf(r), 'NOERROR');
  t.equal(up!.received[0]!.name, 'host.corp.example');
});

// ---- relaying ----------------------------------------------------------------------------------

t.test('relay: the client gets its own ID, question and answer; the upstream saw a fresh ID', async (t) => {
  const [up] = await startFakeUpstreams(t, 1);
  up!.handler = (q) => ({ answers: [A(q.name, '198.51.100.10')] });
  const s = stage(t, { upstreams: [up!.key] });
  const r = await ask(s, { name: 'Www.Example.COM', id: 1234 });
  const p = decode(r);
  t.equal(p.id, 1234);
  t.equal(p.questions![0]!.name, 'Www.Example.COM');
  t.equal(firstA(r), '198.51.100.10');
  t.not(up!.received[0]!.id, 1234);
});

t.test('relay: a client without EDNS is forwarded with our OPT, and gets no OPT back', async (t) => {
  const [up] = await startFakeUpstreams(t, 1);
  const s = stage(t, { upstreams: [up!.key] });
  const r = await ask(s, { name: 'plain.example' });
  const sent = up!.received[0]!.packet.additionals!.find((a) => a.type === 'OPT') as dnsPacket.OptAnswer;
  t.equal(sent.udpPayloadSize, 1232);
  t.equal(decode(r).additionals!.length, 0, 'no OPT to a client that sent none');
  t.equal(decode(r).answers!.length, 1);

  const s2 = stage(t, { upstreams: { servers: [up!.key], ednsUdpSize: 0 } });
  await ask(s2, { name: 'plain2.example' });
  t.equal(up!.received[1]!.packet.additionals!.length, 0, 'ednsUdpSize 0: forwarded as it came');
});

t.test('relay: the client OPT and its DO bit pass through', async (t) => {
  const [up] = await startFakeUpstreams(t, 1);
  const s = stage(t, { upstreams: [up!.key] });
  const r = await ask(s, { name: 'signed.example', edns: { udpSize: 4096, dnssecOk: true } });
  const sent = up!.received[0]!.packet.additionals!.find((a) => a.type === 'OPT') as dnsPacket.OptAnswer;
  t.equal(sent.udpPayloadSize, 4096);
  t.equal(sent.flag_do, true);
  const back = decode(r).additionals!.find((a) => a.type === 'OPT') as dnsPacket.OptAnswer;
  t.ok(back, 'the client gets an OPT');
  t.equal(back.flag_do, true);
});

t.test('relay: truncated upstream reply -> TCP retry; the answer is fitted to the client', async (t) => {
  const [up] = await startFakeUpstreams(t, 1);
  const big = Array.from({ length: 60 }, (_, i) => A('big.example', `10.0.${i >> 8}.${i & 255}`));
  up!.handler = () => ({ truncate: true, answers: big });
  const s = stage(t, { upstreams: [up!.key] });
  const viaTcp = await ask(s, { name: 'big.example', transport: 'tcp' });
  t.equal(decode(viaTcp).answers!.length, 60, 'a TCP client gets everything');
  t.same(up!.received.map((r) => r.transport), ['udp', 'tcp']);
  const viaUdp = await ask(s, { name: 'big.example' });
  t.ok(viaUdp.length <= 512);
  t.equal(decode(viaUdp).flag_tc, true, 'a 512-byte UDP client gets TC');
  t.equal(s.exchanger.deadlines.size, 0);
});

t.test('relay: wrong-ID and wrong-question replies are dropped and counted; a wrong-port one never reaches the connected socket', async (t) => {
  const [up] = await startFakeUpstreams(t, 1);
  up!.handler = (q) => [{ wrongId: true }, { wrongPort: true }, { wrongQuestion: true }, { delay: 40, answers: [A(q.name, '198.51.100.1')] }];
  const ctx = context();
  const s = stage(t, { upstreams: [up!.key] }, ctx);
  const r = await ask(s, { name: 'spoof.example' });
  t.equal(firstA(r), '198.51.100.1');
  const dropped = ctx.metrics.counter('hoplite_dns_forward_dropped_replies_total', '');
  t.equal(dropped.get({ reason: 'id' }), 1);
  t.equal(up!.wrongPortSent, 1, 'the wrong-port reply was sent');
  t.equal(dropped.get({ reason: 'source' }), 0, 'filtered by the kernel (connected socket), not seen');
  t.equal(dropped.get({ reason: 'question' }), 1);
});

t.test('relay: a renamed query asks the looked-up name and answers with the asked one', async (t) => {
  const [up] = await startFakeUpstreams(t, 1);
  up!.handler = (q) => ({ answers: [A(q.name, '198.51.100.20')] });
  const s = stage(t, { upstreams: [up!.key] });
  const r = await ask(s, { name: 'App.dclb.thisdcos.global', lookupName: 'app.l4lb.thisdcos.directory', id: 77 });
  t.equal(up!.received[0]!.name, 'app.l4lb.thisdcos.directory');
  const p = decode(r);
  t.equal(p.id, 77);
  t.equal(p.questions![0]!.name, 'App.dclb.thisdcos.global');
  t.equal(p.answers![0]!.name, 'App.dclb.thisdcos.global');
  t.equal(firstA(r), '198.51.100.20');
  t.equal(p.additionals!.length, 0);
});

// ---- policies ----------------------------------------------------------------------------------

t.test('parallel: two upstreams asked at once; the first good answer wins', async (t) => {
  const [a, b] = await startFakeUpstreams(t, 2);
  a!.handler = (q) => ({ delay: 300, answers: [A(q.name, '198.51.100.1')] });
  b!.handler = (q) => ({ answers: [A(q.name, '198.51.100.2')] });
  const ctx = context();
  const s = stage(t, { upstreams: [a!.key, b!.key] }, ctx);
  const r = await ask(s, { name: 'race.example' });
  t.equal(firstA(r), '198.51.100.2');
  t.equal(a!.received.length, 1);
  t.equal(b!.received.length, 1);
  t.equal(a!.received[0]!.id, b!.received[0]!.id, 'one datagram for both (one ID)');
  t.ok(a!.received[0]!.raw.equals(b!.received[0]!.raw));
  await a!.waitForQueries(1);
});

t.test('parallel: SERVFAIL, REFUSED, FORMERR never beat a server that may still answer', async (t) => {
  for (const bad of ['SERVFAIL', 'REFUSED', 'FORMERR', 'NOTIMP'] as const) {
    const [a, b] = await startFakeUpstreams(t, 2);
    a!.handler = () => ({ rcode: bad });
    b!.handler = (q) => ({ delay: 50, answers: [A(q.name, '198.51.100.2')] });
    const s = stage(t, { upstreams: [a!.key, b!.key] });
    const r = await ask(s, { name: 'slow-good.example' });
    t.equal(rcodeOf(r), 'NOERROR', `${bad} did not win`);
    t.equal(firstA(r), '198.51.100.2');
  }
});

t.test('parallel: NXDOMAIN is a good answer and wins', async (t) => {
  const [a, b] = await startFakeUpstreams(t, 2);
  a!.handler = () => ({ rcode: 'NXDOMAIN' });
  b!.handler = () => ({ delay: 2000 });
  const s = stage(t, { upstreams: [a!.key, b!.key] });
  t.equal(rcodeOf(await ask(s, { name: 'gone.example' })), 'NXDOMAIN');
});

t.test('parallel: a bad answer starts the next server', async (t) => {
  const [a, b, c] = await startFakeUpstreams(t, 3);
  for (const u of [a!, b!]) u.handler = () => ({ rcode: 'SERVFAIL' });
  c!.handler = (q) => ({ answers: [A(q.name, '198.51.100.3')] });
  const s = stage(t, { upstreams: [a!.key, b!.key, c!.key] });
  // Whatever the random order, the good one is reached: at most 2 at once, bad ones fall over.
  for (let i = 0; i < 6; i++) t.equal(firstA(await ask(s, { name: `n${i}.example` })), '198.51.100.3');
  t.equal(c!.received.length, 6);
});

t.test('every server answered badly: SERVFAIL; metrics per upstream by rcode', async (t) => {
  const [a, b] = await startFakeUpstreams(t, 2);
  a!.handler = () => ({ rcode: 'SERVFAIL' });
  b!.handler = () => ({ rcode: 'REFUSED' });
  const ctx = context();
  const s = stage(t, { upstreams: [a!.key, b!.key] }, ctx);
  const r = await ask(s, { name: 'broken.example', id: 99 });
  t.equal(rcodeOf(r), 'SERVFAIL');
  t.equal(decode(r).id, 99);
  const m = ctx.metrics;
  t.equal(m.counter('hoplite_dns_forward_upstream_responses_total', '').get({ upstream: a!.key, rcode: 'SERVFAIL' }), 1);
  t.equal(m.counter('hoplite_dns_forward_upstream_responses_total', '').get({ upstream: b!.key, rcode: 'REFUSED' }), 1);
  t.equal(m.counter('hoplite_dns_forward_outcomes_total', '').get({ route: 'upstream', zone: '', outcome: 'failed' }), 1);
  t.equal(m.counter('hoplite_dns_forward_responses_total', '').get({ route: 'upstream', zone: '', rcode: 'SERVFAIL' }), 1);
  t.match(m.render(), /hoplite_dns_forward_upstream_duration_seconds_bucket/);
});

t.test('deadline: nobody answers -> SERVFAIL within the deadline', async (t) => {
  const [a, b] = await startFakeUpstreams(t, 2);
  for (const u of [a!, b!]) u.handler = () => ({ drop: true });
  const ctx = context();
  const s = stage(t, { upstreams: { servers: [a!.key, b!.key], timeout: 5000, deadline: 150 } }, ctx);
  const started = performance.now();
  const r = await ask(s, { name: 'black-hole.example' });
  const took = performance.now() - started;
  t.equal(rcodeOf(r), 'SERVFAIL');
  t.ok(took >= 140 && took < 2000, `answered at the deadline (${took.toFixed(0)} ms)`);
  t.equal(ctx.metrics.counter('hoplite_dns_forward_outcomes_total', '').get({ route: 'upstream', zone: '', outcome: 'deadline' }), 1);
});

t.test('sequential: configured order; a timeout falls over to the next', async (t) => {
  const [a, b] = await startFakeUpstreams(t, 2);
  a!.handler = () => ({ drop: true });
  b!.handler = (q) => ({ answers: [A(q.name, '198.51.100.2')] });
  const ctx = context();
  const s = stage(t, { upstreams: { servers: [a!.key, b!.key], policy: 'sequential', timeout: 100 } }, ctx);
  const r = await ask(s, { name: 'seq.example' });
  t.equal(firstA(r), '198.51.100.2');
  t.ok(a!.received[0]!.index === 0 && b!.received.length === 1);
  t.equal(ctx.metrics.counter('hoplite_dns_forward_upstream_timeouts_total', '').get({ upstream: a!.key }), 1);
  // Healthy servers keep their order: b is never asked first while a is up.
  a!.handler = (q) => ({ answers: [A(q.name, '198.51.100.1')] });
  for (let i = 0; i < 5; i++) t.equal(firstA(await ask(s, { name: `s${i}.example` })), '198.51.100.1');
  t.equal(b!.received.length, 1);
});

t.test('random: one server at a time, the first one random', async (t) => {
  const [a, b] = await startFakeUpstreams(t, 2);
  const s = stage(t, { upstreams: { servers: [a!.key, b!.key], policy: 'random' } });
  for (let i = 0; i < 40 && (a!.received.length === 0 || b!.received.length === 0); i++) await ask(s, { name: `r${i}.example` });
  t.ok(a!.received.length > 0 && b!.received.length > 0, 'both were picked first at some point');
  const total = a!.received.length + b!.received.length;
  t.ok(total <= 40, 'one server per query');
});

// ---- health ------------------------------------------------------------------------------------

t.test('health: consecutive failures mark an upstream down; a probe brings it back', async (t) => {
  const [a, b] = await startFakeUpstreams(t, 2);
  let aAlive = false;
  a!.handler = (q) => (aAlive ? { answers: [A(q.name, '198.51.100.1')] } : { drop: true });
  b!.handler = (q) => ({ answers: [A(q.name, '198.51.100.2')] });
  const ctx = context();
  const s = stage(t, { upstreams: { servers: [a!.key, b!.key], policy: 'sequential', timeout: 50, health: { maxFails: 2, probeInterval: 20, probeName: 'probe.test', probeType: 'A' } } }, ctx);
  await ask(s, { name: 'f1.example' });
  t.same(s.serverStates().find((x) => x.key === a!.key), { key: a!.key, state: 'up', consecutiveFailures: 1 });
  await ask(s, { name: 'f2.example' });
  t.equal(s.serverStates().find((x) => x.key === a!.key)!.state, 'down');
  t.equal(ctx.metrics.gauge('hoplite_dns_forward_upstream_healthy', '').get({ upstream: a!.key }), 0);
  const before = a!.received.length;
  await ask(s, { name: 'f3.example' });
  // Probes may arrive meanwhile; the real query must not.
  t.notOk(a!.received.slice(before).some((r) => r.name === 'f3.example'), 'a down upstream gets no queries');
  // Let the next probe succeed, and wait for the upstream to come back.
  const back = once(s.events, 'health');
  aAlive = true;
  t.same(await back, [a!.key, 'up']);
  t.equal(s.serverStates().find((x) => x.key === a!.key)!.state, 'up');
  t.equal(ctx.metrics.gauge('hoplite_dns_forward_upstream_healthy', '').get({ upstream: a!.key }), 1);
  t.equal(firstA(await ask(s, { name: 'f4.example' })), '198.51.100.1', 'asked first again');
  t.ok(a!.received.some((r) => r.name === 'probe.test' && r.type === 'A'), 'probed with the configured name and type');
  t.equal(ctx.metrics.counter('hoplite_dns_forward_upstream_down_total', '').get({ upstream: a!.key }), 1);
});

t.test('health: a dead upstream asked in parallel is marked down even though the live one always wins', async (t) => {
  const [dead, live] = await startFakeUpstreams(t, 2);
  dead!.handler = () => ({ drop: true });
  live!.handler = (q) => ({ answers: [A(q.name, '198.51.100.2')] });
  const ctx = context();
  const s = stage(t, { upstreams: { servers: [dead!.key, live!.key], timeout: 60, health: { maxFails: 2, probeInterval: 60_000, probeMaxInterval: 60_000 } } }, ctx);
  const down = once(s.events, 'health');
  t.equal(firstA(await ask(s, { name: 'p1.example' })), '198.51.100.2');
  t.equal(firstA(await ask(s, { name: 'p2.example' })), '198.51.100.2');
  t.same(await down, [dead!.key, 'down'], 'the abandoned exchanges\' timeouts counted');
  t.equal(ctx.metrics.counter('hoplite_dns_forward_upstream_timeouts_total', '').get({ upstream: dead!.key }), 2);
  const before = dead!.received.length;
  await ask(s, { name: 'p3.example' });
  t.equal(dead!.received.length, before, 'no longer asked');
});

t.test('health: every upstream down -> SERVFAIL at once (fail fast)', async (t) => {
  const [a] = await startFakeUpstreams(t, 1);
  a!.handler = () => ({ drop: true });
  const ctx = context();
  const s = stage(t, { upstreams: { servers: [a!.key], timeout: 30, health: { maxFails: 1, probeInterval: 60_000, probeMaxInterval: 60_000 } } }, ctx);
  t.equal(rcodeOf(await ask(s, { name: 'x1.example' })), 'SERVFAIL');
  const r = s.handle(makeQuery({ name: 'x2.example' }), next);
  t.ok(Buffer.isBuffer(r), 'answered synchronously');
  t.equal(rcodeOf(r as Buffer), 'SERVFAIL');
  t.equal(ctx.metrics.counter('hoplite_dns_forward_outcomes_total', '').get({ route: 'upstream', zone: '', outcome: 'all_down' }), 1);
});

t.test('close(): queries in flight get SERVFAIL', async (t) => {
  const [a] = await startFakeUpstreams(t, 1);
  a!.handler = () => ({ drop: true });
  const s = createForwardStage({ upstreams: [a!.key] }, context());
  const q: Query = makeQuery({ name: 'pending.example' });
  const p = s.handle(q, next) as Promise<Buffer>;
  await a!.waitForQueries(1);
  await s.close();
  t.equal(rcodeOf(await p), 'SERVFAIL');
});
