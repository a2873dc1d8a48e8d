import t from 'tap';
import { applyRenames, composeChain, collectRoutes, errorResponse, parseQuery, Rcode, refusedTerminal, renameSuffixes, Router, UPSTREAM_ROUTE } from '../src/index.js';
import type { Answer, Next, Query, Stage } from '../src/index.js';
import { encodeQuery, decode } from './helpers/dns-client.js';

t.test('longest label suffix wins, case-insensitive zones, order within a zone', async (t) => {
  const r = new Router([
    { zone: 'mesos', kind: 'masters' },
    { zone: 'l4lb.thisdcos.directory', kind: 'local' },
    { zone: 'thisdcos.directory', kind: 'forward' },
    { zone: 'Corp.Example.', kind: 'forward' },
    { zone: 'example', kind: 'forward' },
  ]);
  t.same(r.route('leader.mesos'), { kind: 'masters', zone: 'mesos' });
  t.same(r.route('mesos'), { kind: 'masters', zone: 'mesos' });
  t.same(r.route('notmesos'), UPSTREAM_ROUTE, 'a label suffix, not a string suffix');
  t.same(r.route('app.marathon.l4lb.thisdcos.directory'), { kind: 'local', zone: 'l4lb.thisdcos.directory' });
  t.same(r.route('x.thisdcos.directory'), { kind: 'forward', zone: 'thisdcos.directory' });
  t.same(r.route('a.corp.example'), { kind: 'forward', zone: 'corp.example' }, 'zones normalized');
  t.same(r.route('other.example'), { kind: 'forward', zone: 'example' });
  t.same(r.route('example.com'), UPSTREAM_ROUTE);
  t.same(r.route(''), UPSTREAM_ROUTE);
  t.same(r.route('a\\.mesos'), UPSTREAM_ROUTE, 'an escaped dot is not a label boundary');
  t.same(r.route('b.a\\.mesos'), UPSTREAM_ROUTE);
  t.same(r.route('a\\.b.mesos'), { kind: 'masters', zone: 'mesos' });
  t.same(
    r.zones().map((z) => z.zone),
    ['mesos', 'l4lb.thisdcos.directory', 'thisdcos.directory', 'corp.example', 'example'],
  );
});

t.test('a name whose last label ends no zone goes upstream at once; escaped dots cut alike', async (t) => {
  const r = new Router([
    { zone: 'b\\.c', kind: 'forward' },
    { zone: 'x.y\\.', kind: 'forward' },
    { zone: 'l4lb.thisdcos.directory', kind: 'local' },
  ]);
  t.same(r.route('a.b\\.c'), { kind: 'forward', zone: 'b\\.c' });
  t.same(r.route('b\\.c'), { kind: 'forward', zone: 'b\\.c' });
  t.same(r.route('a.c'), UPSTREAM_ROUTE);
  t.same(r.route('w.x.y\\.'), { kind: 'forward', zone: 'x.y\\.' });
  t.same(r.route('directory'), UPSTREAM_ROUTE);
  t.same(r.route('thisdcos.directory'), UPSTREAM_ROUTE);
  // Local names are remembered; asking again gives the same route object.
  const first = r.route('app.l4lb.thisdcos.directory');
  t.same(first, { kind: 'local', zone: 'l4lb.thisdcos.directory' });
  t.equal(r.route('app.l4lb.thisdcos.directory'), first);
  // Past cacheSize names no more are remembered; routes stay right.
  const small = new Router([{ zone: 'z', kind: 'local' }], { cacheSize: 2 });
  for (let i = 0; i < 10; i++) t.same(small.route(`n${i % 3}.z`), { kind: 'local', zone: 'z' });
});

t.test('owns() filters a zone: other names fall through to shorter suffixes', async (t) => {
  const r = new Router([
    { zone: '10.in-addr.arpa', kind: 'local', owns: (n: string) => n.endsWith('.0.0.10.in-addr.arpa') },
    { zone: 'in-addr.arpa', kind: 'forward' },
  ]);
  t.same(r.route('5.0.0.10.in-addr.arpa'), { kind: 'local', zone: '10.in-addr.arpa' });
  t.same(r.route('5.9.0.10.in-addr.arpa'), { kind: 'forward', zone: 'in-addr.arpa' });
  const r2 = new Router([{ zone: '10.in-addr.arpa', kind: 'local', owns: () => false }]);
  t.same(r2.route('5.0.0.10.in-addr.arpa'), UPSTREAM_ROUTE);
  // A root route (forward zone '.') catches everything else.
  const r3 = new Router([{ zone: '.', kind: 'forward' }, { zone: 'mesos', kind: 'masters' }]);
  t.same(r3.route('example.com'), { kind: 'forward', zone: '' });
  t.same(r3.route('a.mesos'), { kind: 'masters', zone: 'mesos' });
});

t.test('renames as the reference', async (t) => {
  t.equal(applyRenames('app.marathon.dclb.thisdcos.global'), 'app.marathon.l4lb.thisdcos.directory');
  t.equal(applyRenames('app.dclb.thisdcos.directory'), 'app.l4lb.thisdcos.directory');
  t.equal(applyRenames('dclb.thisdcos.global'), 'l4lb.thisdcos.directory');
  t.equal(applyRenames('master.thisdcos.global'), 'master.thisdcos.directory');
  t.equal(applyRenames('thisdcos.global'), 'thisdcos.directory');
  t.equal(applyRenames('app.l4lb.thisdcos.directory'), 'app.l4lb.thisdcos.directory', 'already canonical');
  t.equal(applyRenames('app.notthisdcos.global'), 'app.notthisdcos.global');
  t.equal(applyRenames('app.xdclb.thisdcos.global'), 'app.xdclb.thisdcos.directory', 'xdclb is not dclb: the global rule applies');
  t.equal(applyRenames('thisdcos.global.example'), 'thisdcos.global.example');
  t.equal(applyRenames('example.com'), 'example.com');
  t.equal(applyRenames('xdclb.thisdcos.directory'), 'xdclb.thisdcos.directory', 'xdclb is not dclb');
  t.equal(applyRenames('a.dclb.xthisdcos.global'), 'a.dclb.xthisdcos.global', 'the label must be thisdcos');
  t.equal(applyRenames('a.dclb.thisdcosx.global'), 'a.dclb.thisdcosx.global');
  t.equal(applyRenames('dclbthisdcos.global'), 'dclbthisdcos.global');
  t.equal(applyRenames('vip1.marathon.l4lb.thisdcos.directory'), 'vip1.marathon.l4lb.thisdcos.directory');
  t.equal(applyRenames('x.dclb.thisdcos.globalx'), 'x.l4lb.thisdcos.directory', 'dclb: any last label');
  t.same(renameSuffixes('a.dclb.thisdcos.global'), ['dclb.thisdcos.global', 'l4lb.thisdcos.directory']);
  t.equal(renameSuffixes('example.com'), undefined);

  const on = new Router([]);
  t.equal(on.rename('a.dclb.thisdcos.global'), 'a.l4lb.thisdcos.directory');
  const off = new Router([], { renames: false });
  t.equal(off.rename('a.dclb.thisdcos.global'), 'a.dclb.thisdcos.global');
});

function fakeQuery(name: string): Query {
  const raw = encodeQuery(name);
  const p = parseQuery(raw);
  if (!p.ok) throw new Error('bad test query');
  return {
    raw,
    ...p.query,
    recursionDesired: true,
    checkingDisabled: false,
    lookupName: name,
    renamed: false,
    transport: 'udp',
    maxResponseSize: 512,
    clientAddress: '127.0.0.1',
    clientPort: 1,
    receivedAt: 0n,
    route: UPSTREAM_ROUTE,
  };
}

t.test('composeChain runs stages in order, each may answer or hand on', async (t) => {
  const seen: string[] = [];
  const stage = (name: string, answerFor?: string): Stage => ({
    name,
    routes: [{ zone: name, kind: 'forward' }],
    handle(q: Query, next: Next): Answer {
      seen.push(name);
      if (q.lookupName === answerFor) return errorResponse(q, Rcode.NXDOMAIN, 1232);
      return next(q);
    },
  });
  const stages = [stage('one'), stage('two', 'b'), stage('three')];
  const chain = composeChain(stages, refusedTerminal(1232));
  t.same(collectRoutes(stages).map((r) => r.zone), ['one', 'two', 'three']);
  const a = decode(chain(fakeQuery('b')) as Buffer);
  t.equal(a.rcode, 'NXDOMAIN');
  t.same(seen, ['one', 'two']);
  seen.length = 0;
  const z = decode(chain(fakeQuery('zzz')) as Buffer);
  t.equal(z.rcode, 'REFUSED', 'nobody answered: the terminal refuses');
  t.same(seen, ['one', 'two', 'three']);
});
