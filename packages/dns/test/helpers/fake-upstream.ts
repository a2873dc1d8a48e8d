/**
 * A real DNS server for tests, on UDP and TCP of 127.0.0.1 (same port), scriptable per test:
 * answer, delay, drop, SERVFAIL / NXDOMAIN / REFUSED / any rcode, truncate (TC over UDP, the full
 * answer over TCP), reply with a wrong ID, from a wrong port (a second socket), with a wrong
 * question, or with raw bytes. It records every query it receives and emits `'query'` for each.
 *
 * Also here: `makeQuery`, which builds a stage `Query` from a dns-packet-encoded message, and
 * `udpAsk` / `tcpAsk`, small dns-packet clients. Used by dns-server's, bench's and cli's tests too.
 *
 *   const up = await startFakeUpstream();
 *   up.handler = (q) => (q.name === 'gone.example' ? { rcode: 'NXDOMAIN' } : { delay: 20 });
 *   ...
 *   await up.close();
 */
import dgram from 'node:dgram';
import { EventEmitter, once } from 'node:events';
import net from 'node:net';
import * as dnsPacket from 'dns-packet';
import type { Query, Route, Transport } from '../../src/chain/stage.js';
import { parseQuery } from '../../src/wire/query.js';

export type RcodeText = 'NOERROR' | 'FORMERR' | 'SERVFAIL' | 'NXDOMAIN' | 'NOTIMP' | 'REFUSED' | 'YXDOMAIN';

const RCODES: Record<RcodeText, number> = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, YXDOMAIN: 6 };

export interface ReceivedQuery {
  readonly transport: Transport;
  readonly id: number;
  /** Question name as received (case kept), no trailing dot. */
  readonly name: string;
  readonly type: string;
  readonly packet: dnsPacket.DecodedPacket;
  readonly raw: Buffer;
  readonly from: { readonly address: string; readonly port: number };
  /** Index among all queries received. */
  readonly index: number;
}

/** What the fake does with one query. Fields combine: `{ delay: 50, rcode: 'NXDOMAIN' }`. */
export interface Reply {
  /** Never answer. */
  readonly drop?: boolean;
  /** Answer after this many milliseconds. */
  readonly delay?: number;
  /** Default NOERROR. */
  readonly rcode?: RcodeText;
  /** Answer records; default: one A 192.0.2.1 / AAAA 2001:db8::1 / TXT record for NOERROR. */
  readonly answers?: dnsPacket.Answer[];
  readonly authorities?: dnsPacket.Answer[];
  /** Extra header flags (dnsPacket.AUTHORITATIVE_ANSWER, ...). */
  readonly flags?: number;
  /** Over UDP: TC set and no records; over TCP: the full answer. */
  readonly truncate?: boolean;
  /** Reply with an ID that is not the query's. */
  readonly wrongId?: boolean;
  /** Reply from another UDP socket (another port). */
  readonly wrongPort?: boolean;
  /** Reply carrying another question name. */
  readonly wrongQuestion?: boolean;
  /** Send these bytes as they are (after `delay`). */
  readonly raw?: Buffer;
}

export type Handler = (q: ReceivedQuery) => Reply | Reply[] | undefined;

export interface FakeUpstream extends EventEmitter {
  readonly address: string;
  readonly port: number;
  /** `127.0.0.1:port` (or `[::1]:port`), as config lists servers. */
  readonly key: string;
  readonly received: ReceivedQuery[];
  /** UDP replies sent from the other socket (`wrongPort`), counted once the send completed. */
  readonly wrongPortSent: number;
  /** The script; the default answers every query NOERROR with one record. */
  handler: Handler;
  /** Resolve when `received.length >= n`. */
  waitForQueries(n: number): Promise<void>;
  close(): Promise<void>;
}

export function defaultAnswers(name: string, type: string): dnsPacket.Answer[] {
  if (type === 'A') return [{ name, type: 'A', ttl: 60, data: '192.0.2.1' }];
  if (type === 'AAAA') return [{ name, type: 'AAAA', ttl: 60, data: '2001:db8::1' }];
  if (type === 'NS') return [{ name, type: 'NS', ttl: 60, data: 'ns.fake.test' }];
  return [{ name, type: 'TXT', ttl: 60, data: 'fake' }];
}

function buildReply(q: ReceivedQuery, r: Reply, transport: Transport): Buffer {
  if (r.raw) return r.raw;
  const p = q.packet;
  const question = p.questions?.[0];
  const rcode = RCODES[r.rcode ?? 'NOERROR'];
  const truncated = r.truncate === true && transport === 'udp';
  const answers = truncated ? [] : (r.answers ?? (rcode === 0 ? defaultAnswers(q.name, q.type) : []));
  const opt = (p.additionals ?? []).find((a) => a.type === 'OPT') as dnsPacket.OptAnswer | undefined;
  const questions = question
    ? [r.wrongQuestion ? { ...question, name: `wrong-${question.name}` } : question]
    : [];
  const flags =
    (p.flags ?? 0) & (dnsPacket.RECURSION_DESIRED | dnsPacket.CHECKING_DISABLED) |
    dnsPacket.RECURSION_AVAILABLE |
    (truncated ? dnsPacket.TRUNCATED_RESPONSE : 0) |
    (r.flags ?? 0) |
    rcode;
  return dnsPacket.encode({
    type: 'response',
    id: r.wrongId ? ((p.id ?? 0) + 1) & 0xffff : p.id ?? 0,
    flags,
    questions,
    answers,
    authorities: truncated ? [] : r.authorities ?? [],
    additionals: opt
      ? [{ name: '.', type: 'OPT', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: opt.flags & dnsPacket.DNSSEC_OK, flag_do: opt.flag_do, options: [] } as dnsPacket.OptAnswer]
      : [],
  });
}

/** `n` fakes with the default handler, each closed at the end of test `t`. */
export async function startFakeUpstreams(t: { teardown(fn: () => unknown): void }, n: number): Promise<FakeUpstream[]> {
  const out: FakeUpstream[] = [];
  for (let i = 0; i < n; i++) {
    const up = await startFakeUpstream();
    t.teardown(() => up.close());
    out.push(up);
  }
  return out;
}

export async function startFakeUpstream(options: { handler?: Handler; address?: '127.0.0.1' | '::1' } = {}): Promise<FakeUpstream> {
  const address = options.address ?? '127.0.0.1';
  const udpType = address.includes(':') ? 'udp6' : 'udp4';
  const ee = new EventEmitter();
  const received: ReceivedQuery[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const conns = new Set<net.Socket>();
  // UDP and TCP on the same port: bind UDP to port 0, then TCP to that port (retry on a clash).
  let udp: dgram.Socket | undefined;
  let tcp: net.Server | undefined;
  for (let attempt = 0; attempt < 20 && tcp === undefined; attempt++) {
    const u = dgram.createSocket(udpType);
    await new Promise<void>((resolve, reject) => {
      u.once('error', reject);
      u.bind(0, address, () => resolve());
    });
    const t = net.createServer();
    try {
      await new Promise<void>((resolve, reject) => {
        t.once('error', reject);
        t.listen(u.address().port, address, () => resolve());
      });
      udp = u;
      tcp = t;
    } catch {
      u.close();
    }
  }
  if (udp === undefined || tcp === undefined) throw new Error('fake upstream: could not bind UDP and TCP on one port');
  const port = udp.address().port;
  const other = dgram.createSocket(udpType);
  await new Promise<void>((resolve) => other.bind(0, address, () => resolve()));

  const api = Object.assign(ee, {
    address,
    port,
    key: address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`,
    received,
    wrongPortSent: 0,
    handler: options.handler ?? ((() => undefined) as Handler),
    async waitForQueries(n: number): Promise<void> {
      while (received.length < n) await once(ee, 'query');
    },
    async close(): Promise<void> {
      for (const t of timers) clearTimeout(t);
      for (const c of conns) c.destroy();
      await Promise.all([
        new Promise<void>((r) => udp.close(() => r())),
        new Promise<void>((r) => other.close(() => r())),
        new Promise<void>((r) => tcp.close(() => r())),
      ]);
    },
  }) as FakeUpstream;

  function record(raw: Buffer, transport: Transport, from: { address: string; port: number }): ReceivedQuery | undefined {
    let packet: dnsPacket.DecodedPacket;
    try {
      packet = dnsPacket.decode(raw);
    } catch {
      return undefined;
    }
    const q = packet.questions?.[0];
    const rq: ReceivedQuery = {
      transport,
      id: packet.id ?? 0,
      name: q?.name ?? '',
      type: q?.type ?? '',
      packet,
      raw: Buffer.from(raw),
      from,
      index: received.length,
    };
    received.push(rq);
    return rq;
  }

  function later(ms: number | undefined, fn: () => void): void {
    if (!ms) {
      fn();
      return;
    }
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    timers.add(t);
  }

  function replies(rq: ReceivedQuery): Reply[] {
    const r = api.handler(rq);
    if (r === undefined) return [{}];
    return Array.isArray(r) ? r : [r];
  }

  udp.on('message', (msg, rinfo) => {
    const rq = record(msg, 'udp', { address: rinfo.address, port: rinfo.port });
    if (!rq) return;
    const rs = replies(rq);
    ee.emit('query', rq);
    for (const r of rs) {
      if (r.drop) continue;
      later(r.delay, () => {
        const out = buildReply(rq, r, 'udp');
        if (r.wrongPort) other.send(out, rinfo.port, rinfo.address, (err) => {
          if (!err) (api as { wrongPortSent: number }).wrongPortSent++;
        });
        else udp.send(out, rinfo.port, rinfo.address);
      });
    }
  });

  tcp.on('connection', (sock) => {
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        const rq = record(msg, 'tcp', { address: sock.remoteAddress ?? '', port: sock.remotePort ?? 0 });
        if (!rq) continue;
        const rs = replies(rq);
        ee.emit('query', rq);
        for (const r of rs) {
          if (r.drop) continue;
          later(r.delay, () => {
            const out = buildReply(rq, r, 'tcp');
            const frame = Buffer.allocUnsafe(2 + out.length);
            frame.writeUInt16BE(out.length, 0);
            out.copy(frame, 2);
            if (!sock.destroyed) sock.write(frame);
          });
        }
      }
    });
  });

  return api;
}

// ---- queries and clients ---------------------------------------------------------------------

export interface MakeQueryOptions {
  readonly name: string;
  readonly type?: dnsPacket.RecordType;
  readonly id?: number;
  readonly route?: Route;
  readonly transport?: Transport;
  /** Add an OPT record with this UDP size. */
  readonly edns?: { readonly udpSize?: number; readonly dnssecOk?: boolean };
  /** The name after a rename (lowercase); `qname` stays `name`. */
  readonly lookupName?: string;
  /** Flags word; default RD. */
  readonly flags?: number;
}

export function encodeQuery(o: MakeQueryOptions): Buffer {
  return dnsPacket.encode({
    type: 'query',
    id: o.id ?? 4242,
    flags: o.flags ?? dnsPacket.RECURSION_DESIRED,
    questions: [{ name: o.name, type: o.type ?? 'A', class: 'IN' }],
    additionals: o.edns
      ? [{ name: '.', type: 'OPT', udpPayloadSize: o.edns.udpSize ?? 1232, extendedRcode: 0, ednsVersion: 0, flags: o.edns.dnssecOk ? dnsPacket.DNSSEC_OK : 0, flag_do: o.edns.dnssecOk ?? false, options: [] } as dnsPacket.OptAnswer]
      : [],
  });
}

/** A stage Query, as the server would hand it to the chain. */
export function makeQuery(o: MakeQueryOptions): Query {
  return queryFromRaw(encodeQuery(o), o);
}

/** A stage Query for a query message encoded by the caller (`name`, `type`... of `o` unused). */
export function queryFromRaw(raw: Buffer, o: Pick<MakeQueryOptions, 'route' | 'transport' | 'lookupName'> = {}): Query {
  const parsed = parseQuery(raw);
  if (!parsed.ok) throw new Error(`makeQuery: ${parsed.reason}`);
  const p = parsed.query;
  const transport = o.transport ?? 'udp';
  const lower = p.qname.toLowerCase();
  return {
    raw,
    id: p.id,
    flags: p.flags,
    opcode: p.opcode,
    recursionDesired: (p.flags & 0x0100) !== 0,
    checkingDisabled: (p.flags & 0x0010) !== 0,
    qname: p.qname,
    lookupName: o.lookupName ?? lower,
    renamed: o.lookupName !== undefined && o.lookupName !== lower,
    qtype: p.qtype,
    qclass: p.qclass,
    questionEnd: p.questionEnd,
    edns: p.edns,
    transport,
    maxResponseSize: transport === 'tcp' ? 65535 : p.edns ? Math.min(p.edns.udpSize, 1232) : 512,
    clientAddress: '127.0.0.1',
    clientPort: 5353,
    receivedAt: process.hrtime.bigint(),
    route: o.route ?? { kind: 'upstream', zone: '' },
  };
}

/** Ask over UDP with dns-packet; resolves with the decoded reply (rejects after `timeout` ms). */
export async function udpAsk(port: number, q: MakeQueryOptions, timeout = 10_000, address = '127.0.0.1'): Promise<dnsPacket.DecodedPacket> {
  const sock = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
  try {
    const reply = new Promise<Buffer>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`udpAsk: no reply in ${timeout} ms`)), timeout);
      sock.once('message', (m) => {
        clearTimeout(t);
        resolve(m);
      });
    });
    sock.send(encodeQuery(q), port, address);
    return dnsPacket.decode(await reply);
  } finally {
    sock.close();
  }
}

/** Ask over TCP with dns-packet. */
export async function tcpAsk(port: number, q: MakeQueryOptions, timeout = 10_000, address = '127.0.0.1'): Promise<dnsPacket.DecodedPacket> {
  const sock = net.connect({ host: address, port });
  try {
    const msg = encodeQuery(q);
    const frame = Buffer.allocUnsafe(2 + msg.length);
    frame.writeUInt16BE(msg.length, 0);
    msg.copy(frame, 2);
    sock.write(frame);
    const reply = await new Promise<Buffer>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`tcpAsk: no reply in ${timeout} ms`)), timeout);
      let buf = Buffer.alloc(0);
      sock.on('error', (e) => {
        clearTimeout(t);
        reject(e);
      });
      sock.on('data', (c) => {
        buf = Buffer.concat([buf, c]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          clearTimeout(t);
          resolve(buf.subarray(2, 2 + buf.readUInt16BE(0)));
        }
      });
    });
    return dnsPacket.decode(reply);
  } finally {
    sock.destroy();
  }
}

/** Decode an Answer buffer (a stage's output). */
export function decode(buf: Buffer): dnsPacket.DecodedPacket {
  return dnsPacket.decode(buf);
}

export const RCODE = RCODES;

/** The header rcode of a wire message, as text. */
export function rcodeOf(buf: Buffer): string {
  const r = buf[3]! & 0xf;
  return (Object.keys(RCODES) as RcodeText[]).find((k) => RCODES[k] === r) ?? String(r);
}
