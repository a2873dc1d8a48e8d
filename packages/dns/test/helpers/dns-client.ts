/**
 * Test clients for the server: one-shot UDP queries, and a TCP connection with length framing
 * that can pipeline. Built on dns-packet (tests only). Every wait has a generous timeout.
 */
import { createSocket } from 'node:dgram';
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import * as dnsPacket from 'dns-packet';
import type { BoundAddress, DnsServer } from '../../src/index.js';

export type Decoded = dnsPacket.Packet & { rcode?: string; flag_aa?: boolean; flag_tc?: boolean };

export interface QueryOptions {
  id?: number;
  type?: dnsPacket.RecordType;
  /** Numeric qtype when dns-packet has no name for it. */
  qtype?: number;
  class?: dnsPacket.RecordClass;
  /** EDNS UDP size; undefined: no OPT record. */
  edns?: number;
  dnssecOk?: boolean;
  rd?: boolean;
  cd?: boolean;
}

/** Encode a query with dns-packet. */
export function encodeQuery(name: string, opts: QueryOptions = {}): Buffer {
  const flags = (opts.rd === false ? 0 : dnsPacket.RECURSION_DESIRED) | (opts.cd ? dnsPacket.CHECKING_DISABLED : 0);
  const packet: dnsPacket.Packet = {
    type: 'query',
    id: opts.id ?? 4242,
    flags,
    questions: [{ name, type: opts.type ?? 'A', class: opts.class ?? 'IN' }],
  };
  if (opts.edns !== undefined) {
    packet.additionals = [
      { type: 'OPT', name: '.', udpPayloadSize: opts.edns, flags: opts.dnssecOk ? dnsPacket.DNSSEC_OK : 0, options: [] } as unknown as dnsPacket.Answer,
    ];
  }
  const buf = dnsPacket.encode(packet);
  if (opts.qtype !== undefined) {
    // Patch the qtype (the question ends 4 bytes before the OPT record / the end).
    const qEnd = 12 + encodedNameLength(name) + 4;
    buf.writeUInt16BE(opts.qtype, qEnd - 4);
  }
  return buf;
}

function encodedNameLength(name: string): number {
  const n = name.replace(/\.$/, '');
  return n === '' ? 1 : Buffer.byteLength(n) + 2;
}

export function decode(buf: Buffer): Decoded {
  return dnsPacket.decode(buf) as Decoded;
}

export function udpAddress(server: DnsServer): BoundAddress {
  return server.addresses().find((a) => a.transport === 'udp')!;
}

/** Send raw bytes over UDP and wait for one reply (undefined after `timeoutMs` without one). */
export async function udpRaw(port: number, msg: Buffer, timeoutMs = 5000, address = '127.0.0.1'): Promise<Buffer | undefined> {
  const sock = createSocket(address.includes(':') ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve) => sock.bind(0, address.includes(':') ? '::1' : '127.0.0.1', resolve));
    const reply = new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      sock.once('message', (m: Buffer) => {
        clearTimeout(timer);
        resolve(m);
      });
    });
    sock.send(msg, port, address);
    return await reply;
  } finally {
    sock.close();
  }
}

/** A UDP query that must be answered. */
export async function udpQuery(port: number, name: string, opts: QueryOptions = {}): Promise<{ raw: Buffer; msg: Decoded }> {
  const raw = await udpRaw(port, encodeQuery(name, opts));
  if (!raw) throw new Error(`no UDP answer for ${name}`);
  return { raw, msg: decode(raw) };
}

/** A TCP connection with 2-byte framing; collects every reply in arrival order. */
export class TcpClient {
  readonly replies: Buffer[] = [];
  closed = false;
  private buffered = Buffer.alloc(0);
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      while (this.buffered.length >= 2) {
        const len = this.buffered.readUInt16BE(0);
        if (this.buffered.length < 2 + len) break;
        this.replies.push(this.buffered.subarray(2, 2 + len));
        this.buffered = this.buffered.subarray(2 + len);
      }
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static async connect(port: number, address = '127.0.0.1'): Promise<TcpClient> {
    const socket = connect({ port, host: address });
    await once(socket, 'connect');
    return new TcpClient(socket);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves when `cond()` holds (checked on every reply and on close), or rejects after timeoutMs. */
  async until(cond: () => boolean, timeoutMs = 10000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('timed out waiting on the TCP connection');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  send(msg: Buffer): void {
    const framed = Buffer.alloc(msg.length + 2);
    framed.writeUInt16BE(msg.length, 0);
    msg.copy(framed, 2);
    this.socket.write(framed);
  }

  writeRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  async query(name: string, opts: QueryOptions = {}): Promise<Decoded> {
    const n = this.replies.length;
    this.send(encodeQuery(name, opts));
    await this.until(() => this.replies.length > n || this.closed);
    if (this.replies.length <= n) throw new Error('connection closed before the reply');
    return decode(this.replies[n]!);
  }

  waitClosed(timeoutMs = 10000): Promise<void> {
    return this.until(() => this.closed, timeoutMs);
  }

  close(): void {
    this.socket.destroy();
  }
}
