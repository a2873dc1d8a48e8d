/**
 * Deferred answers (chain/deferred.ts): the relay stages' answers reach the server without a
 * Promise, and still behave as the Promise they are typed as for anyone else (a stage placed
 * before them, a test).
 */
import t from 'tap';
import * as dnsPacket from 'dns-packet';
import { Deferred, type DeferredSink, type DeferredTarget } from '../src/chain/deferred.js';
import type { Answer, Next, Query, Stage } from '../src/chain/stage.js';
import { createServer } from '../src/server.js';
import { forwardStageFactory } from '../src/upstream/forward.js';
import { makeQuery, startFakeUpstream, udpAsk } from './helpers/fake-upstream.js';

class TestDeferred extends Deferred {
  settle(b: Buffer): void {
    this.resolveWith(b);
  }
}

const NO_SINK: DeferredSink = { reply: () => undefined };

t.test('a Deferred delivers once to its target and also works as a Promise', async (t) => {
  const d = new TestDeferred();
  const q = makeQuery({ name: 'a.example' });
  const got: Array<[Query, Buffer]> = [];
  const target: DeferredTarget = { deferredDone: (query, _sink, answer) => void got.push([query, answer]) };
  d.deliverTo(target, q, NO_SINK);
  const viaThen = d.then((b) => b.toString());
  const viaAwait = (async () => (await d).toString())();
  const viaFinally = d.finally(() => undefined);
  t.equal(got.length, 0, 'nothing before it settles');
  t.equal(d.value, undefined);
  d.settle(Buffer.from('one'));
  d.settle(Buffer.from('two'));
  t.equal(got.length, 1, 'delivered once');
  t.equal(got[0]![0], q, 'with the query the target gave');
  t.equal(got[0]![1].toString(), 'one');
  t.equal(await viaThen, 'one');
  t.equal(await viaAwait, 'one');
  t.equal((await viaFinally).toString(), 'one');
  t.equal(d.value!.toString(), 'one');
  // Used after it settled: a resolved Promise.
  t.equal((await d.catch(() => Buffer.from('x'))).toString(), 'one');
  t.equal(Object.prototype.toString.call(d), '[object Deferred]');
});

t.test('server: a stage before the forward stage may await next() or pass its answer on', async (t) => {
  const up = await startFakeUpstream();
  t.teardown(() => up.close());
  const many = (name: string): dnsPacket.Answer[] => Array.from({ length: 60 }, (_, i) => ({ name, type: 'A', ttl: 30, data: `10.2.0.${i + 1}` }));
  up.handler = (q) => ({ answers: q.name.startsWith('big') ? many(q.name) : [{ name: q.name, type: 'A', ttl: 30, data: '198.51.100.7' }] });
  const seen: string[] = [];
  // Awaits what the forward stage returns and hands back a copy: the server gets a real Promise.
  const awaiting: Stage = {
    name: 'awaiting',
    handle(q: Query, next: Next): Answer {
      if (!q.lookupName.startsWith('await')) return next(q);
      return (async () => {
        const b = await next(q);
        seen.push('awaited');
        return Buffer.from(b);
      })();
    },
  };
  // Asks with the client's limit lifted and returns the forward stage's answer as it is: the server
  // must still fit it to the client (its own query), not to the query the stage passed on.
  const lifting: Stage = {
    name: 'lifting',
    handle(q: Query, next: Next): Answer {
      if (!q.lookupName.startsWith('big')) return next(q);
      const ans = next({ ...q, maxResponseSize: 65535 });
      seen.push(ans instanceof Deferred ? 'deferred' : 'other');
      return ans;
    },
  };
  const cfg = { listen: [{ address: '127.0.0.1', port: 0 }], upstreams: [up.key] };
  const server = await createServer(cfg, {
    stages: [{ name: 'awaiting', create: () => awaiting }, { name: 'lifting', create: () => lifting }, forwardStageFactory(cfg)],
  });
  t.teardown(() => server.close({ timeoutMs: 100 }));
  const port = server.addresses()[0]!.port;

  const plain = await udpAsk(port, { name: 'plain.example', id: 7 });
  t.equal(plain.id, 7);
  t.equal((plain.answers![0] as dnsPacket.StringAnswer).data, '198.51.100.7', 'straight from the forward stage');
  const awaited = await udpAsk(port, { name: 'await.example', id: 8 });
  t.equal(awaited.id, 8);
  t.equal((awaited.answers![0] as dnsPacket.StringAnswer).data, '198.51.100.7', 'through a stage that awaited it');
  const big = await udpAsk(port, { name: 'big.example', id: 9 });
  t.equal(big.id, 9);
  t.ok(big.flag_tc, 'fitted to the client (512 bytes, no EDNS): truncated');
  t.equal(big.answers?.length ?? 0, 0);
  t.same(seen, ['awaited', 'deferred']);
  t.equal(server.inFlight, 0);
});
