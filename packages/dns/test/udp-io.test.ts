/**
 * The UDP endpoint layer (src/io/udp.ts) on real sockets over loopback, for both implementations:
 * `native` (the udp_batch addon: recvmmsg/sendmmsg) and `dgram` (Node's sockets). Where the two
 * should behave the same, one test body runs for each; native-only behaviour (batch sizes, the
 * send queue before its flush tick, sends the kernel refused) is tested for native alone.
 *
 * The addon must be built on this machine (`npm run build` builds it; `npm test` runs the build):
 * a missing addon fails this file instead of quietly testing dgram twice.
 */
import t from 'tap';
import dgram from 'node:dgram';
import { SocketAddress } from 'node:net';
import { nextTick } from 'node:process';
import {
  formatIpv6,
  listenUdp,
  nativeUdpStatus,
  openUdp,
  resolveUdpIo,
  type DatagramHandler,
  type UdpEndpoint,
  type UdpOpenOptions,
} from '../src/io/udp.js';
import type { Family } from '../src/exchange/address.js';

/** How long any single wait may take on a busy 2-core machine. */
const WAIT_MS = 20_000;
const IOS = ['native', 'dgram'] as const;
type Io = (typeof IOS)[number];
/** Asked of the kernel for sockets that must hold a burst unread (capped at rmem_max). */
const BIG_BUFFER = 4 * 1024 * 1024;

interface Teardown {
  teardown(fn: () => unknown): void;
}

interface Datagram {
  readonly msg: Buffer;
  readonly address: string;
  readonly port: number;
}

/** Datagrams (or anything) collected in arrival order, with event-driven waits. */
class Inbox<T = Datagram> {
  readonly items: T[] = [];
  private readonly waiters = new Set<() => void>();

  push(item: T): void {
    this.items.push(item);
    for (const w of [...this.waiters]) w();
  }

  /** Resolves when `cond` holds (checked on every arrival); rejects after `timeoutMs`. */
  until(cond: (items: readonly T[]) => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
    if (cond(this.items)) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (!cond(this.items)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`timed out waiting for ${what} (have ${this.items.length})`));
      }, timeoutMs);
      this.waiters.add(check);
    });
  }

  count(n: number): Promise<void> {
    return this.until((items) => items.length >= n, `${n} items`);
  }
}

/** A plain node:dgram socket bound on loopback, collecting what it receives. */
interface Plain {
  readonly socket: dgram.Socket;
  readonly inbox: Inbox;
  readonly port: number;
  readonly address: string;
  send(msg: Uint8Array, port: number, address?: string): Promise<void>;
}

async function plain(t: Teardown, address = '127.0.0.1', port = 0): Promise<Plain> {
  const socket = dgram.createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', recvBufferSize: BIG_BUFFER });
  const inbox = new Inbox();
  socket.on('message', (msg, rinfo) => inbox.push({ msg, address: rinfo.address, port: rinfo.port }));
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, address, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  t.teardown(() => new Promise<void>((r) => socket.close(() => r())));
  return {
    socket,
    inbox,
    port: socket.address().port,
    address,
    send: (msg, toPort, toAddress = address) =>
      new Promise<void>((resolve, reject) => socket.send(msg, toPort, toAddress, (err) => (err ? reject(err) : resolve()))),
  };
}

/** A free UDP port on `address` (bound, then released). */
async function freePort(address = '127.0.0.1'): Promise<number> {
  const s = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((r) => s.bind(0, address, () => r()));
  const port = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Opened {
  readonly ep: UdpEndpoint;
  readonly inbox: Inbox;
  readonly errors: Inbox<NodeJS.ErrnoException>;
  readonly sendFailed: Array<{ code: string; count: number }>;
}

type ExtraOptions = Partial<Omit<UdpOpenOptions, 'family' | 'onError' | 'onSendFailed'>> & {
  onMessage?: DatagramHandler;
};

function callbacks(extra: ExtraOptions): { o: Pick<UdpOpenOptions, 'onMessage' | 'onError' | 'onSendFailed'>; opened: Omit<Opened, 'ep'> } {
  const inbox = new Inbox();
  const errors = new Inbox<NodeJS.ErrnoException>();
  const sendFailed: Array<{ code: string; count: number }> = [];
  const user = extra.onMessage;
  return {
    o: {
      onMessage: (msg, address, port) => {
        inbox.push({ msg, address, port });
        user?.(msg, address, port);
      },
      onError: (err) => errors.push(err),
      onSendFailed: (code, count) => sendFailed.push({ code, count }),
    },
    opened: { inbox, errors, sendFailed },
  };
}

/** A listener bound on `address` port 0 (closed at teardown). */
async function listener(t: Teardown, io: Io, address = '127.0.0.1', extra: ExtraOptions = {}): Promise<Opened> {
  const { o, opened } = callbacks(extra);
  const family: Family = address.includes(':') ? 'IPv6' : 'IPv4';
  const ep = await listenUdp(io, { ...extra, ...o, family, bind: { address, port: 0 } });
  t.teardown(() => ep.close());
  return { ep, ...opened };
}

/** An endpoint connected to `port` on 127.0.0.1 (or ::1), not bound first. */
async function connected(t: Teardown, io: Io, port: number, address = '127.0.0.1', extra: ExtraOptions = {}): Promise<Opened> {
  const { o, opened } = callbacks(extra);
  const family: Family = address.includes(':') ? 'IPv6' : 'IPv4';
  const ep = openUdp(io, { ...extra, ...o, family, connect: { address, port } });
  t.teardown(() => ep.close());
  await ep.ready;
  return { ep, ...opened };
}

/** Datagram `i` of a burst: its index (4 bytes) then a pattern, 4 to 303 bytes long. */
function numbered(i: number, tag = 0): Buffer {
  const b = Buffer.alloc(4 + ((i * 7) % 300));
  b.writeUInt32BE(i, 0);
  for (let j = 4; j < b.length; j++) b[j] = (i + j + tag) & 0xff;
  return b;
}

function pattern(length: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** One turn of the event loop (not a sleep: lets queued callbacks and ticks run). */
function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

// ---- the addon is here -------------------------------------------------------------------------

t.test('the native addon is built and loads here; auto picks it', async (t) => {
  const status = nativeUdpStatus();
  t.equal(status.available, true, `udp_batch addon loads (${status.reason ?? 'ok'}); build it with npm run build`);
  t.equal(resolveUdpIo('auto'), 'native');
  t.equal(resolveUdpIo('native'), 'native');
  t.equal(resolveUdpIo('dgram'), 'dgram');
});

for (const io of IOS) {
  // ---- listeners ---------------------------------------------------------------------------------

  t.test(`${io}: a listener on 127.0.0.1 sees each client's address and port; its replies reach them`, async (t) => {
    let self: UdpEndpoint | undefined;
    const l = await listener(t, io, '127.0.0.1', { onMessage: (msg, address, port) => self!.send(Buffer.concat([Buffer.from('re:'), msg]), port, address) });
    self = l.ep;
    t.equal(l.ep.io, io);
    t.equal(l.ep.family, 'IPv4');
    t.ok(l.ep.localPort() > 0, 'bound to a kernel-chosen port');
    // Two clients, one on another loopback address, so that the address text is really read.
    const a = await plain(t, '127.0.0.1');
    const b = await plain(t, '127.1.2.3');
    await a.send(Buffer.from('from a'), l.ep.localPort(), '127.0.0.1');
    await b.send(Buffer.from('from b'), l.ep.localPort(), '127.0.0.1');
    await l.inbox.count(2);
    const byText = new Map(l.inbox.items.map((d) => [d.msg.toString(), d]));
    t.same({ address: byText.get('from a')?.address, port: byText.get('from a')?.port }, { address: '127.0.0.1', port: a.port });
    t.same({ address: byText.get('from b')?.address, port: byText.get('from b')?.port }, { address: '127.1.2.3', port: b.port });
    await a.inbox.count(1);
    await b.inbox.count(1);
    t.equal(a.inbox.items[0]!.msg.toString(), 're:from a');
    t.equal(b.inbox.items[0]!.msg.toString(), 're:from b');
    t.same([a.inbox.items[0]!.address, a.inbox.items[0]!.port], ['127.0.0.1', l.ep.localPort()], 'the reply comes from the listener');
    t.same(l.errors.items, []);
  });

  t.test(`${io}: an IPv6 listener on ::1 reports the source as node:dgram does`, async (t) => {
    let self: UdpEndpoint | undefined;
    const l = await listener(t, io, '::1', { onMessage: (msg, address, port) => self!.send(msg, port, address) });
    self = l.ep;
    t.equal(l.ep.family, 'IPv6');
    const reference = await plain(t, '::1');
    const client = await plain(t, '::1');
    await client.send(Buffer.from('six'), l.ep.localPort());
    await client.send(Buffer.from('six'), reference.port);
    await l.inbox.count(1);
    await reference.inbox.count(1);
    t.equal(l.inbox.items[0]!.address, reference.inbox.items[0]!.address, 'the same text as rinfo.address');
    t.equal(l.inbox.items[0]!.address, '::1');
    t.equal(l.inbox.items[0]!.port, client.port);
    await client.inbox.count(1);
    t.equal(client.inbox.items[0]!.msg.toString(), 'six');
    t.equal(client.inbox.items[0]!.port, l.ep.localPort());
  });

  // ---- connected endpoints -----------------------------------------------------------------------

  t.test(`${io}: a connected endpoint talks to its peer only; the kernel drops other sources`, async (t) => {
    const peer = await plain(t);
    const foreign = await plain(t);
    const c = await connected(t, io, peer.port);
    const port = c.ep.localPort();
    t.ok(port > 0 && port !== peer.port, 'bound to a kernel-chosen port by connect');
    c.ep.send(Buffer.from('q1'));
    await peer.inbox.count(1);
    t.equal(peer.inbox.items[0]!.msg.toString(), 'q1');
    t.same([peer.inbox.items[0]!.address, peer.inbox.items[0]!.port], ['127.0.0.1', port], 'sent from the endpoint');
    await peer.send(Buffer.from('r1'), port);
    await c.inbox.count(1);
    t.same({ msg: c.inbox.items[0]!.msg.toString(), address: c.inbox.items[0]!.address, port: c.inbox.items[0]!.port }, { msg: 'r1', address: '127.0.0.1', port: peer.port });
    // A datagram from another port to the endpoint's port, then one from the peer: only the
    // peer's arrives (the foreign one was sent, and queued by now if it was going to be).
    await foreign.send(Buffer.from('foreign'), port);
    await peer.send(Buffer.from('r2'), port);
    await c.inbox.count(2);
    await turn();
    t.same(
      c.inbox.items.map((d) => d.msg.toString()),
      ['r1', 'r2'],
      'the foreign datagram was not delivered',
    );
    t.same(c.errors.items, []);
  });

  t.test(`${io}: a connected endpoint survives ICMP port unreachable (ECONNREFUSED) and reads on`, async (t) => {
    const port = await freePort();
    const c = await connected(t, io, port);
    // Nobody listens on `port` yet: the kernel answers with ICMP port unreachable, which a
    // connected socket reports as ECONNREFUSED.
    c.ep.send(Buffer.from('anyone?'));
    await c.errors.count(1);
    t.same(
      c.errors.items.map((e) => e.code),
      ['ECONNREFUSED'],
      'the error is reported as ECONNREFUSED',
    );
    // The peer comes up on that port: the endpoint still receives and sends.
    const peer = await plain(t, '127.0.0.1', port);
    await peer.send(Buffer.from('back'), c.ep.localPort());
    await c.inbox.count(1);
    t.equal(c.inbox.items[0]!.msg.toString(), 'back');
    c.ep.send(Buffer.from('again'));
    await peer.inbox.count(1);
    t.equal(peer.inbox.items[0]!.msg.toString(), 'again');
    t.equal(c.errors.items.length, 1, 'no further errors');
  });

  // ---- bursts ------------------------------------------------------------------------------------

  t.test(`${io}: 200 datagrams in a burst all arrive in order; 200 replies sent in one tick all arrive`, async (t) => {
    // Batches seen by the handler: calls made without a tick in between belong to one batch.
    const batches: number[] = [];
    let inBatch = false;
    const l = await listener(t, io, '127.0.0.1', {
      recvBufferSize: BIG_BUFFER,
      onMessage: () => {
        if (!inBatch) {
          inBatch = true;
          batches.push(0);
          nextTick(() => {
            inBatch = false;
          });
        }
        batches[batches.length - 1]!++;
      },
    });
    const client = await plain(t);
    const N = 200;
    // Sent in one synchronous loop: all are queued on the listener before it first reads.
    for (let i = 0; i < N; i++) client.socket.send(numbered(i), l.ep.localPort(), '127.0.0.1');
    await l.inbox.count(N);
    const got = l.inbox.items;
    let wrong = 0;
    for (let i = 0; i < N; i++) {
      const d = got[i]!;
      if (!d.msg.equals(numbered(i)) || d.port !== client.port || d.address !== '127.0.0.1') wrong++;
    }
    t.equal(wrong, 0, 'every datagram in order, with its bytes, address and port');
    if (io === 'native') {
      t.equal(Math.max(...batches), 32, 'read 32 at a time (one recvmmsg fills every slot)');
      t.ok(batches.length >= Math.ceil(N / 32), `several batches (${batches.join(', ')})`);
    }
    // Every reply sent from one tick: more than one sendmmsg group (64) for native.
    for (let i = 0; i < N; i++) l.ep.send(numbered(i, 1), client.port, '127.0.0.1');
    if (io === 'native') t.equal(l.ep.queued(), N, 'queued until the flush tick');
    await client.inbox.count(N);
    wrong = 0;
    for (let i = 0; i < N; i++) {
      const d = client.inbox.items[i]!;
      if (!d.msg.equals(numbered(i, 1)) || d.port !== l.ep.localPort()) wrong++;
    }
    t.equal(wrong, 0, 'every reply in order, with its bytes');
    t.equal(l.ep.queued(), 0, 'nothing left queued');
    t.same(l.sendFailed, []);
    t.same(l.errors.items, []);
  });

  // ---- sizes -------------------------------------------------------------------------------------

  t.test(`${io}: the largest datagrams (65507 bytes over IPv4, 65527 over IPv6) and empty ones round-trip`, async (t) => {
    for (const address of ['127.0.0.1', '::1']) {
      let self: UdpEndpoint | undefined;
      const l = await listener(t, io, address, { onMessage: (msg, from, port) => self!.send(msg, port, from) });
      self = l.ep;
      const client = await plain(t, address);
      const max = address === '::1' ? 65527 : 65507;
      const big = pattern(max, 7);
      await client.send(big, l.ep.localPort());
      await l.inbox.count(1);
      t.equal(l.inbox.items[0]!.msg.length, max, `${address}: received whole`);
      t.ok(l.inbox.items[0]!.msg.equals(big), `${address}: same bytes`);
      await client.inbox.count(1);
      t.ok(client.inbox.items[0]!.msg.equals(big), `${address}: echoed whole`);
      await client.send(Buffer.alloc(0), l.ep.localPort());
      await l.inbox.count(2);
      t.equal(l.inbox.items[1]!.msg.length, 0, `${address}: an empty datagram`);
      t.equal(l.inbox.items[1]!.port, client.port);
      await client.inbox.count(2);
      t.equal(client.inbox.items[1]!.msg.length, 0, `${address}: an empty reply`);
      t.same(l.sendFailed, []);
    }
  });

  t.test(`${io}: a received message is the handler's own (later datagrams do not change it)`, async (t) => {
    const l = await listener(t, io);
    const client = await plain(t);
    await client.send(pattern(1000, 1), l.ep.localPort());
    await l.inbox.count(1);
    const first = l.inbox.items[0]!.msg;
    for (let i = 0; i < 40; i++) client.socket.send(pattern(1000, 2 + i), l.ep.localPort(), '127.0.0.1');
    await l.inbox.count(41);
    t.ok(first.equals(pattern(1000, 1)), 'the first message still holds its bytes');
    t.ok(l.inbox.items[40]!.msg.equals(pattern(1000, 41)));
  });

  // ---- closing -----------------------------------------------------------------------------------

  t.test(`${io}: send after close throws; close twice is fine`, async (t) => {
    const peer = await plain(t);
    const c = await connected(t, io, peer.port);
    await c.ep.close();
    t.throws(() => c.ep.send(Buffer.from('late')), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
    const l = await listener(t, io);
    await l.ep.close();
    t.throws(() => l.ep.send(Buffer.from('late'), peer.port, '127.0.0.1'), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
    await l.ep.close();
    t.pass('second close resolved');
  });

  t.test(`${io}: close() inside onMessage stops the rest of the batch; other endpoints go on`, async (t) => {
    let calls = 0;
    let self: UdpEndpoint | undefined;
    const first = new Inbox<number>();
    const l = await listener(t, io, '127.0.0.1', {
      onMessage: () => {
        calls++;
        if (calls === 1) {
          void self!.close();
          first.push(calls);
        }
      },
    });
    self = l.ep;
    const other = await listener(t, io);
    const client = await plain(t);
    // Ten datagrams queued on the listener before it reads (one batch), then a marker to another
    // endpoint: once the marker is in, the listener had its chance to deliver more.
    for (let i = 0; i < 10; i++) client.socket.send(numbered(i), l.ep.localPort(), '127.0.0.1');
    await client.send(Buffer.from('marker'), other.ep.localPort());
    await first.count(1);
    await other.inbox.count(1);
    await turn();
    t.equal(calls, 1, 'no onMessage after close()');
    t.equal(other.inbox.items[0]!.msg.toString(), 'marker');
    t.same(l.errors.items, []);
    // The other endpoint still sends and receives.
    other.ep.send(Buffer.from('still here'), client.port, '127.0.0.1');
    await client.inbox.count(1);
    t.equal(client.inbox.items[0]!.msg.toString(), 'still here');
  });

  t.test(`${io}: queued() is 0 once the sends went out`, async (t) => {
    const peer = await plain(t);
    const c = await connected(t, io, peer.port);
    c.ep.send(Buffer.from('a'));
    c.ep.send(Buffer.from('b'));
    c.ep.send(Buffer.from('c'));
    if (io === 'native') t.equal(c.ep.queued(), 3, 'three sends queued before the flush tick');
    await peer.inbox.count(3);
    t.same(
      peer.inbox.items.map((d) => d.msg.toString()),
      ['a', 'b', 'c'],
    );
    t.equal(c.ep.queued(), 0);
  });

  // ---- errors ------------------------------------------------------------------------------------

  t.test(`${io}: binding a port already bound fails with EADDRINUSE`, async (t) => {
    for (const address of ['127.0.0.1', '::1']) {
      const holder = await plain(t, address);
      const family: Family = address.includes(':') ? 'IPv6' : 'IPv4';
      const o = { family, bind: { address, port: holder.port }, onMessage: () => {}, onError: () => {} };
      await t.rejects(listenUdp(io, o), { code: 'EADDRINUSE' }, `${address}: listenUdp rejects`);
      if (io === 'native') {
        t.throws(() => openUdp(io, o), { code: 'EADDRINUSE' }, `${address}: native openUdp throws at once`);
      } else {
        const ep = openUdp(io, o);
        await t.rejects(ep.ready!, { code: 'EADDRINUSE' }, `${address}: dgram openUdp's ready rejects`);
        await ep.close();
      }
    }
  });

  t.test(`${io}: a send to a malformed address is not thrown; the good ones go out`, async (t) => {
    const l = await listener(t, io);
    const client = await plain(t);
    t.doesNotThrow(() => {
      l.ep.send(Buffer.from('bad 1'), client.port, 'not-an-ip');
      l.ep.send(Buffer.from('good 1'), client.port, '127.0.0.1');
      l.ep.send(Buffer.from('bad 2'), client.port, '300.1.1.1');
      l.ep.send(Buffer.from('bad 3'), client.port, '::1');
      l.ep.send(Buffer.from('good 2'), client.port, '127.0.0.1');
    });
    await client.inbox.count(2);
    await turn();
    t.same(
      client.inbox.items.map((d) => d.msg.toString()),
      ['good 1', 'good 2'],
    );
  });
}

// ---- native only: what the kernel (or the address parser) refused is counted -------------------

t.test('native: malformed addresses are counted through onSendFailed (ERR_INVALID_ADDRESS), once per flush', async (t) => {
  const l4 = await listener(t, 'native');
  const c4 = await plain(t);
  l4.ep.send(Buffer.from('x'), c4.port, 'not-an-ip');
  l4.ep.send(Buffer.from('good'), c4.port, '127.0.0.1');
  l4.ep.send(Buffer.from('x'), c4.port, '1.2.3');
  l4.ep.send(Buffer.from('x'), c4.port, '::1');
  t.same(l4.sendFailed, [], 'nothing reported before the flush');
  await c4.inbox.count(1);
  t.same(l4.sendFailed, [{ code: 'ERR_INVALID_ADDRESS', count: 3 }]);
  t.equal(c4.inbox.items[0]!.msg.toString(), 'good');

  const l6 = await listener(t, 'native', '::1');
  const c6 = await plain(t, '::1');
  l6.ep.send(Buffer.from('x'), c6.port, '127.0.0.1');
  l6.ep.send(Buffer.from('x'), c6.port, '1::2::3');
  l6.ep.send(Buffer.from('x'), c6.port, 'fe80::1%lo');
  l6.ep.send(Buffer.from('full form'), c6.port, '0:0:0:0:0:0:0:1');
  l6.ep.send(Buffer.from('short form'), c6.port, '::1');
  await c6.inbox.count(2);
  t.same(l6.sendFailed, [{ code: 'ERR_INVALID_ADDRESS', count: 3 }]);
  t.same(
    c6.inbox.items.map((d) => d.msg.toString()),
    ['full form', 'short form'],
  );
});

t.test('native: a datagram the kernel refuses (EMSGSIZE) is counted; the rest of the group goes out', async (t) => {
  const l = await listener(t, 'native');
  const client = await plain(t);
  l.ep.send(Buffer.from('before'), client.port, '127.0.0.1');
  l.ep.send(Buffer.alloc(65508), client.port, '127.0.0.1');
  l.ep.send(Buffer.from('after'), client.port, '127.0.0.1');
  await client.inbox.count(2);
  t.same(
    client.inbox.items.map((d) => d.msg.toString()),
    ['before', 'after'],
  );
  t.same(l.sendFailed, [{ code: 'EMSGSIZE', count: 1 }]);
});

// ---- IPv6 text ---------------------------------------------------------------------------------

/** 16 bytes from a full 8-group form (no `::`): independent of the parsers under test. */
function bytesOfFull(full: string): Uint8Array {
  const groups = full.split(':');
  if (groups.length !== 8) throw new Error(`not a full form: ${full}`);
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const v = parseInt(g, 16);
    out[2 * i] = v >> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

const nodeText = (full: string): string => new SocketAddress({ address: full, family: 'ipv6' }).address;

t.test('formatIpv6 writes what Node writes (net.SocketAddress), for a table of addresses', async (t) => {
  const table: Array<[string, string]> = [
    ['0:0:0:0:0:0:0:0', '::'],
    ['0:0:0:0:0:0:0:1', '::1'],
    ['1:0:0:0:0:0:0:0', '1::'],
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // equal runs: the first is shortened
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run, not the first
    ['fe80:0:0:0:1:2:3:4', 'fe80::1:2:3:4'],
    ['0:0:0:0:0:ffff:102:304', '::ffff:1.2.3.4'],
    ['0:0:0:0:0:ffff:0:0', '::ffff:0.0.0.0'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['0:0:1:0:0:0:0:0', '0:0:1::'],
    ['1:0:2:3:4:5:6:7', '1:0:2:3:4:5:6:7'], // a single zero group is not shortened
    ['abcd:ef01:0:0:0:0:0:0', 'abcd:ef01::'],
    ['0:0:0:0:0:0:0:2', '::2'],
    ['0:0:0:0:0:0:0:100', '::100'],
    ['0:0:0:0:0:0:102:304', '::1.2.3.4'], // IPv4-compatible: dotted, as inet_ntop writes it
    ['0:0:0:0:0:fffe:102:304', '::fffe:102:304'],
    ['0:0:0:0:1:ffff:102:304', '::1:ffff:102:304'],
    ['64:ff9b:0:0:0:0:102:304', '64:ff9b::102:304'],
  ];
  for (const [full, expected] of table) {
    t.equal(nodeText(full), expected, `Node writes ${full} as ${expected}`);
    t.equal(formatIpv6(bytesOfFull(full)), expected, `formatIpv6(${full})`);
  }
  // At an offset inside a larger buffer, as the receive metadata is read.
  const framed = new Uint8Array(20);
  framed.set(bytesOfFull('2001:db8:0:0:1:0:0:1'), 4);
  t.equal(formatIpv6(framed, 4), '2001:db8::1:0:0:1');
});

t.test('formatIpv6 agrees with Node on 5000 addresses with random zero runs', async (t) => {
  // A fixed-seed generator: the same addresses on every run.
  let seed = 0x2545f491;
  const rand = (n: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % n;
  };
  let mismatches = 0;
  const examples: string[] = [];
  for (let k = 0; k < 5000; k++) {
    const groups = Array.from({ length: 8 }, () => [0, 0, 1, 0xffff, rand(0x10000)][rand(5)]!);
    // Sometimes the IPv4-mapped / -compatible prefixes.
    if (rand(8) === 0) groups.splice(0, 6, 0, 0, 0, 0, 0, rand(2) === 0 ? 0xffff : 0);
    const full = groups.map((g) => g.toString(16)).join(':');
    const want = nodeText(full);
    const got = formatIpv6(bytesOfFull(full));
    if (got !== want) {
      mismatches++;
      if (examples.length < 5) examples.push(`${full}: ${got} vs ${want}`);
    }
  }
  t.equal(mismatches, 0, examples.join('; '));
});
