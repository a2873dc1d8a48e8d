import t from 'tap';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as dnsPacket from 'dns-packet';
import { pino } from 'pino';
import type { Answer } from '../src/chain/stage.js';
import { Registry } from '../src/metrics/registry.js';
import { checkMastersConfig, validateMastersConfig } from '../src/masters/config.js';
import { parseMasterList } from '../src/masters/list.js';
import { createMastersStage, type MastersStage, type MastersStageContext } from '../src/masters/stage.js';
import { decode, makeQuery, rcodeOf, startFakeUpstreams, type MakeQueryOptions } from './helpers/fake-upstream.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

function context(over: Partial<MastersStageContext> = {}): MastersStageContext {
  return { logger: pino({ level: 'silent' }), metrics: new Registry(), listenAddresses: [], udpMaxResponseSize: 1232, ...over };
}

async function stage(t: Teardown, masters: unknown, ctx = context()): Promise<MastersStage> {
  const s = createMastersStage({ masters }, ctx);
  t.teardown(() => s.close());
  await s.start();
  return s;
}

const NEXT_MARK = Buffer.from('next');
const next = (): Answer => NEXT_MARK;
const MESOS = { kind: 'masters' as const, zone: 'mesos' };

async function ask(s: MastersStage, o: Omit<MakeQueryOptions, 'route'>): Promise<{ buf: Buffer; ms: number }> {
  const started = performance.now();
  const buf = await s.handle(makeQuery({ ...o, route: MESOS }), next);
  return { buf, ms: performance.now() - started };
}

const A = (name: string, ip: string): dnsPacket.Answer => ({ name, type: 'A', ttl: 30, data: ip });

function firstA(buf: Buffer): string | undefined {
  return (decode(buf).answers?.find((r) => r.type === 'A') as dnsPacket.StringAnswer | undefined)?.data;
}

function outcome(ctx: MastersStageContext, o: string): number {
  return ctx.metrics.counter('hoplite_dns_masters_outcomes_total', '').get({ outcome: o });
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'hoplite-masters-'));
}

// ---- config ------------------------------------------------------------------------------------

t.test('config: defaults (zone mesos, port 61053), shorthand list', async (t) => {
  const c = validateMastersConfig({ masters: ['10.0.0.1', '10.0.0.2:5353', '[fd00::1]'] });
  t.same(c.servers.map((s) => s.key), ['10.0.0.1:61053', '10.0.0.2:5353', '[fd00::1]:61053']);
  t.same(c.zones, ['mesos']);
  t.equal(c.nxdomainGrace, 50);
  t.ok(c.nxdomainGrace <= 50, 'default grace is no more than 50 ms');
  t.equal(c.file, '');
  const d = validateMastersConfig({ masters: { file: '/etc/master_list', zones: ['Mesos.', 'dcos.example'], port: 8053 } });
  t.same(d.zones, ['mesos', 'dcos.example']);
  t.equal(d.port, 8053);
  t.same(validateMastersConfig({}).servers, []);
});

t.test('config: every problem at once', async (t) => {
  const { problems } = checkMastersConfig({
    masters: { servers: ['10.0.0.1', 'x'], file: '/f', zones: ['', 'mesos', 'mesos'], nxdomainGrace: -1, deadline: 'long', port: 0, bogus: true },
  });
  t.same(problems.map((p) => p.key).sort(), [
    'masters.bogus',
    'masters.deadline',
    'masters.file',
    'masters.nxdomainGrace',
    'masters.port',
    'masters.servers[1]',
    'masters.zones[0]',
    'masters.zones[2]',
  ]);
  t.throws(() => validateMastersConfig({ masters: 42 }), { code: 'HOPLITE_DNS_CONFIG' });
});

t.test('master list parsing: lines with comments, commas, JSON arrays; bad entries rejected', async (t) => {
  t.same(parseMasterList('# masters\n10.0.0.1\n10.0.0.2:5353  # second\n\n[fd00::3]\n', 'f', 61053).map((s) => s.key), ['10.0.0.1:61053', '10.0.0.2:5353', '[fd00::3]:61053']);
  t.same(parseMasterList('10.0.0.1, 10.0.0.2 10.0.0.1', 'f', 61053).map((s) => s.key), ['10.0.0.1:61053', '10.0.0.2:61053'], 'separators, duplicates once');
  t.same(parseMasterList('["10.0.0.1", "10.0.0.2:1"]', 'f', 61053).map((s) => s.key), ['10.0.0.1:61053', '10.0.0.2:1']);
  t.throws(() => parseMasterList('10.0.0.1\nmaster.example\n', 'f', 61053), { code: 'HOPLITE_DNS_MASTER_LIST', message: /line 2/ });
  t.throws(() => parseMasterList('# nothing\n', 'f', 61053), { code: 'HOPLITE_DNS_MASTER_LIST', message: /no master/ });
  t.throws(() => parseMasterList('["10.0.0.1", 3]', 'f', 61053), { code: 'HOPLITE_DNS_MASTER_LIST' });
  t.throws(() => parseMasterList('[10.0.0.1', 'f', 61053), { code: 'HOPLITE_DNS_MASTER_LIST', message: /JSON/ });
});

t.test('routes: the master zones, only when masters are configured; other routes pass', async (t) => {
  const [m] = await startFakeUpstreams(t, 1);
  const s = await stage(t, { servers: [m!.key], zones: ['mesos', 'dcos.example'] });
  t.same(s.routes, [
    { zone: 'mesos', kind: 'masters' },
    { zone: 'dcos.example', kind: 'masters' },
  ]);
  t.equal(await s.handle(makeQuery({ name: 'x.example' }), next), NEXT_MARK);
  const none = await stage(t, undefined);
  t.same(none.routes, []);
});

t.test('refuses a master that is our own listen address', async (t) => {
  const listenAddresses = [{ transport: 'udp' as const, address: '127.0.0.1', port: 61053, family: 'IPv4' as const }];
  t.throws(() => createMastersStage({ masters: ['127.0.0.1'] }, context({ listenAddresses })), { code: 'HOPLITE_DNS_FORWARD_TO_SELF' });
});

// ---- fan-out -----------------------------------------------------------------------------------

t.test('fan-out: every master is asked; the first NOERROR wins at once', async (t) => {
  const [a, b, c] = await startFakeUpstreams(t, 3);
  a!.handler = (q) => ({ delay: 3000, answers: [A(q.name, '10.0.0.1')] });
  b!.handler = (q) => ({ answers: [A(q.name, '10.0.0.2')] });
  c!.handler = () => ({ drop: true });
  const ctx = context();
  const s = await stage(t, { servers: [a!.key, b!.key, c!.key] }, ctx);
  const r = await ask(s, { name: 'leader.mesos', id: 31 });
  t.equal(firstA(r.buf), '10.0.0.2');
  t.equal(decode(r.buf).id, 31);
  t.ok(r.ms < 1500, `answered without waiting for the slow master (${r.ms.toFixed(0)} ms)`);
  for (const m of [a!, b!, c!]) t.equal(m.received.length, 1, 'each master asked once');
  t.equal(outcome(ctx, 'answered'), 1);
});

t.test('fan-out: SERVFAIL, REFUSED, FORMERR never beat a master that may still answer', async (t) => {
  const [a, b, c] = await startFakeUpstreams(t, 3);
  a!.handler = () => ({ rcode: 'SERVFAIL' });
  b!.handler = () => ({ rcode: 'REFUSED' });
  c!.handler = (q) => ({ delay: 60, answers: [A(q.name, '10.0.0.3')] });
  const s = await stage(t, { servers: [a!.key, b!.key, c!.key] });
  t.equal(firstA((await ask(s, { name: 'app.marathon.mesos' })).buf), '10.0.0.3');
  a!.handler = () => ({ rcode: 'FORMERR' });
  b!.handler = () => ({ rcode: 'NOTIMP' });
  t.equal(firstA((await ask(s, { name: 'app2.marathon.mesos' })).buf), '10.0.0.3');
});

t.test('fan-out: a lagging master\'s NXDOMAIN does not make a fresh name vanish', async (t) => {
  const [a, b] = await startFakeUpstreams(t, 2);
  a!.handler = () => ({ rcode: 'NXDOMAIN' });
  b!.handler = (q) => ({ delay: 40, answers: [A(q.name, '10.0.0.2')] });
  const ctx = context();
  const s = await stage(t, { servers: [a!.key, b!.key], nxdomainGrace: 2000 }, ctx);
  const r = await ask(s, { name: 'fresh.marathon.mesos' });
  t.equal(rcodeOf(r.buf), 'NOERROR');
  t.equal(firstA(r.buf), '10.0.0.2');
});

t.test('fan-out: NXDOMAIN returned as soon as a second master agrees', async (t) => {
  const [a, b, c] = await startFakeUpstreams(t, 3);
  a!.handler = () => ({ rcode: 'NXDOMAIN' });
  b!.handler = () => ({ delay: 20, rcode: 'NXDOMAIN' });
  c!.handler = () => ({ drop: true });
  const ctx = context();
  const s = await stage(t, { servers: [a!.key, b!.key, c!.key], nxdomainGrace: 4000 }, ctx);
  const r = await ask(s, { name: 'gone.mesos' });
  t.equal(rcodeOf(r.buf), 'NXDOMAIN');
  t.ok(r.ms < 3000, `did not wait for the grace period (${r.ms.toFixed(0)} ms)`);
  t.equal(outcome(ctx, 'nxdomain_agreed'), 1);
});

t.test('fan-out: NXDOMAIN returned after the grace period when the others are silent', async (t) => {
  const [a, b] = await startFakeUpstreams(t, 2);
  a!.handler = () => ({ rcode: 'NXDOMAIN' });
  b!.handler = () => ({ drop: true });
  const ctx = context();
  const s = await stage(t, { servers: [a!.key, b!.key], nxdomainGrace: 80, deadline: 10_000 }, ctx);
  const r = await ask(s, { name: 'gone.mesos' });
  t.equal(rcodeOf(r.buf), 'NXDOMAIN');
  t.ok(r.ms >= 75 && r.ms < 5000, `after the grace, well before the deadline (${r.ms.toFixed(0)} ms)`);
  t.equal(outcome(ctx, 'nxdomain_grace'), 1);
});

t.test('fan-out: NXDOMAIN at once from a single master, or when every other master failed', async (t) => {
  const [a, b] = await startFakeUpstreams(t, 2);
  a!.handler = () => ({ rcode: 'NXDOMAIN' });
  b!.handler = () => ({ delay: 10, rcode: 'SERVFAIL' });
  const ctx = context();
  const one = await stage(t, { servers: [a!.key], nxdomainGrace: 4000 }, ctx);
  const r1 = await ask(one, { name: 'gone.mesos' });
  t.equal(rcodeOf(r1.buf), 'NXDOMAIN');
  t.ok(r1.ms < 3000, 'one master: no grace');
  const two = await stage(t, { servers: [a!.key, b!.key], nxdomainGrace: 4000 }, ctx);
  const r2 = await ask(two, { name: 'gone2.mesos' });
  t.equal(rcodeOf(r2.buf), 'NXDOMAIN');
  t.ok(r2.ms < 3000, 'the other master failed: no grace');
  t.equal(outcome(ctx, 'nxdomain_last'), 2);
});

t.test('fan-out: every master failed -> SERVFAIL at once; nobody answers -> SERVFAIL at the deadline', async (t) => {
  const [a, b, c] = await startFakeUpstreams(t, 3);
  for (const m of [a!, b!, c!]) m.handler = () => ({ rcode: 'SERVFAIL' });
  const ctx = context();
  const s = await stage(t, { servers: [a!.key, b!.key, c!.key], deadline: 200, timeout: 5000 }, ctx);
  const r = await ask(s, { name: 'broken.mesos' });
  t.equal(rcodeOf(r.buf), 'SERVFAIL');
  t.equal(outcome(ctx, 'failed'), 1);
  for (const m of [a!, b!, c!]) m.handler = () => ({ drop: true });
  const r2 = await ask(s, { name: 'silent.mesos' });
  t.equal(rcodeOf(r2.buf), 'SERVFAIL');
  t.ok(r2.ms >= 190 && r2.ms < 3000, `within the deadline (${r2.ms.toFixed(0)} ms)`);
  t.equal(outcome(ctx, 'deadline'), 1);
  t.equal(ctx.metrics.counter('hoplite_dns_masters_master_requests_total', '').get({ master: a!.key }), 2);
});

t.test('fan-out: per-exchange timeouts of every master -> SERVFAIL before the deadline', async (t) => {
  const [a, b] = await startFakeUpstreams(t, 2);
  for (const m of [a!, b!]) m.handler = () => ({ drop: true });
  const ctx = context();
  const s = await stage(t, { servers: [a!.key, b!.key], deadline: 10_000, timeout: 100 }, ctx);
  const r = await ask(s, { name: 'silent.mesos' });
  t.equal(rcodeOf(r.buf), 'SERVFAIL');
  t.ok(r.ms < 5000);
  t.equal(ctx.metrics.counter('hoplite_dns_masters_master_timeouts_total', '').get({ master: b!.key }), 1);
});

// ---- master-list file --------------------------------------------------------------------------

t.test('master list file: loaded at start, re-read on atomic rename, bad file keeps the last good list', async (t) => {
  const [a, b] = await startFakeUpstreams(t, 2);
  a!.handler = (q) => ({ answers: [A(q.name, '10.0.0.1')] });
  b!.handler = (q) => ({ answers: [A(q.name, '10.0.0.2')] });
  const dir = tmp();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'master_list');
  writeFileSync(file, `# the masters\n${a!.key}\n`);
  const ctx = context();
  const s = await stage(t, { file, pollInterval: 60_000 }, ctx);
  t.same(s.masterKeys, [a!.key]);
  t.equal(firstA((await ask(s, { name: 'leader.mesos' })).buf), '10.0.0.1');

  // Atomic replace: write a temporary file, rename it over the list.
  let changed = once(s.events, 'masters');
  writeFileSync(join(dir, '.master_list.tmp'), JSON.stringify([b!.key]));
  renameSync(join(dir, '.master_list.tmp'), file);
  t.same((await changed)[0], [b!.key]);
  t.equal(firstA((await ask(s, { name: 'leader.mesos' })).buf), '10.0.0.2');

  // A bad file: error reported and counted, the last good list stays.
  const failed = once(s.events, 'masters-error');
  writeFileSync(join(dir, '.master_list.tmp'), 'not-an-address\n');
  renameSync(join(dir, '.master_list.tmp'), file);
  const [err] = await failed;
  t.equal((err as { code: string }).code, 'HOPLITE_DNS_MASTER_LIST');
  t.same(s.masterKeys, [b!.key]);
  t.ok(ctx.metrics.counter('hoplite_dns_masters_list_errors_total', '').get() >= 1);
  t.equal(firstA((await ask(s, { name: 'leader.mesos' })).buf), '10.0.0.2');

  // Written in place (not atomic) works too.
  changed = once(s.events, 'masters');
  writeFileSync(file, `${a!.key}\n${b!.key}\n`);
  t.same((await changed)[0], [a!.key, b!.key]);
});

t.test('master list file: missing at start -> SERVFAIL; picked up when created', async (t) => {
  const [a] = await startFakeUpstreams(t, 1);
  const dir = tmp();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'master_list');
  const ctx = context();
  const s = createMastersStage({ masters: { file, pollInterval: 60_000 } }, ctx);
  t.teardown(() => s.close());
  const failed = once(s.events, 'masters-error');
  await s.start();
  t.match((await failed)[0], { code: 'HOPLITE_DNS_MASTER_LIST', message: /ENOENT/ });
  t.same(s.routes, [{ zone: 'mesos', kind: 'masters' }], 'the zone is routed to the masters even while the list is missing');
  t.equal(rcodeOf((await ask(s, { name: 'leader.mesos' })).buf), 'SERVFAIL');
  t.equal(outcome(ctx, 'no_masters'), 1);
  const loaded = once(s.events, 'masters');
  writeFileSync(file, `${a!.key}\n`);
  t.same((await loaded)[0], [a!.key]);
  t.equal(rcodeOf((await ask(s, { name: 'leader.mesos' })).buf), 'NOERROR');
});

t.test('master list file: the periodic stat finds a file in a directory created later', async (t) => {
  const [a] = await startFakeUpstreams(t, 1);
  const root = tmp();
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'later');
  const file = join(dir, 'master_list');
  const s = createMastersStage({ masters: { file, pollInterval: 30 } }, context());
  t.teardown(() => s.close());
  await s.start();
  const loaded = once(s.events, 'masters');
  mkdirSync(dir);
  writeFileSync(file, `${a!.key}\n`);
  t.same((await loaded)[0], [a!.key]);
});

t.test('master list file: a list naming our own listen address is refused', async (t) => {
  const dir = tmp();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'master_list');
  writeFileSync(file, '127.0.0.1\n');
  const listenAddresses = [{ transport: 'udp' as const, address: '127.0.0.1', port: 61053, family: 'IPv4' as const }];
  const s = createMastersStage({ masters: { file } }, context({ listenAddresses }));
  t.teardown(() => s.close());
  const failed = once(s.events, 'masters-error');
  await s.start();
  t.match((await failed)[0], { code: 'HOPLITE_DNS_MASTER_LIST', message: /own listen address/ });
  t.same(s.masterKeys, []);
});
