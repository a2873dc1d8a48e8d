/**
 * UDP endpoints: the sockets the server listens on and the sockets its exchanges go out of, behind
 * one small interface with two implementations.
 *
 * - `native`: the udp_batch addon (packages/dns/native). A readable socket is drained with
 *   recvmmsg into one receive arena, and JavaScript runs once per batch, not once per datagram;
 *   sends are queued and handed to the kernel with one sendmmsg per socket when the current
 *   callback ends (a nextTick). This removes Node's per-datagram costs (a 64 KiB receive
 *   allocation, an rinfo object, a callback, a SendWrap per send) and most system calls under load.
 * - `dgram`: Node's own sockets; used when the addon is not built (no compiler at install time,
 *   a platform other than Linux) or when asked for.
 *
 * `auto` (the default) picks native when the addon loads. Every message handed to `onMessage`
 * is the handler's own Buffer (the native path copies it out of the shared arena).
 */
import { Buffer } from 'node:buffer';
import dgram from 'node:dgram';
import { createRequire } from 'node:module';
import { nextTick } from 'node:process';
import { literalLookup, type Family } from '../exchange/address.js';
import { ipv4Bytes, ipv6Bytes } from '../wire/ip.js';

export type UdpIo = 'auto' | 'native' | 'dgram';
export const UDP_IO_VALUES: readonly UdpIo[] = ['auto', 'native', 'dgram'];

/** A datagram received: its bytes (owned by the handler), source address (canonical text) and port. */
export type DatagramHandler = (msg: Buffer, address: string, port: number) => void;

export interface UdpOpenOptions {
  readonly family: Family;
  /** Bind here (a listener). Without it the socket gets a kernel-chosen port when it connects. */
  readonly bind?: { readonly address: string; readonly port: number };
  /** Connect to this peer: sends take no address, and only its datagrams are received. */
  readonly connect?: { readonly address: string; readonly port: number };
  readonly recvBufferSize?: number;
  readonly sendBufferSize?: number;
  readonly onMessage: DatagramHandler;
  /** Socket errors other than datagrams refused by the kernel (those go to onSendFailed). */
  readonly onError: (err: NodeJS.ErrnoException) => void;
  /** `count` datagrams were not sent; `code` is the (last) error code, e.g. EAGAIN. */
  readonly onSendFailed?: (code: string, count: number) => void;
}

export interface UdpEndpoint {
  readonly io: 'native' | 'dgram';
  readonly family: Family;
  /**
   * Send a datagram: to the connected peer, or to `port`/`address` (an IP literal). Throws when
   * the endpoint is closed. The bytes are copied (native) or owned by the socket until sent
   * (dgram): the caller must not change them afterwards.
   */
  send(msg: Uint8Array, port?: number, address?: string): void;
  localPort(): number;
  /** Datagrams accepted by send() and not yet handed to the kernel. */
  queued(): number;
  close(): Promise<void>;
}

// ---- the native addon ---------------------------------------------------------------------------

interface Addon {
  readonly META: number;
  init(recvData: Buffer, slotSize: number, recvMeta: Int32Array, sendData: Buffer, sendMeta: Int32Array): number;
  open(
    family: 4 | 6,
    bindAddress: string | null,
    bindPort: number,
    connectAddress: string | null,
    connectPort: number,
    rcvbuf: number,
    sndbuf: number,
    onRecv: (count: number) => void,
  ): object;
  send(handle: object, count: number): number;
  close(handle: object): void;
  localPort(handle: object): number;
  errName(code: number): string;
}

/** The largest UDP payload: every receive slot holds a whole datagram. */
const SLOT_SIZE = 65536;
/** Received datagrams up to this size are copied out of the arena by a loop (see deliver()). */
const SMALL_COPY = 512;
/** Datagrams read per recvmmsg. */
const RECV_SLOTS = 32;
/** Datagrams per sendmmsg, and the send arena (a flush is made early when either fills). */
const SEND_SLOTS = 64;
const SEND_ARENA = 1024 * 1024;

let addon: Addon | undefined;
let addonError: Error | undefined;
let loaded = false;

function loadAddon(): Addon | undefined {
  if (loaded) return addon;
  loaded = true;
  if (process.platform !== 'linux') {
    addonError = new Error(`the udp_batch addon is for Linux (this is ${process.platform})`);
    return undefined;
  }
  try {
    // src/io and dist/io are both two levels under the package.
    const req = createRequire(import.meta.url);
    addon = req('../../native/build/Release/udp_batch.node') as Addon;
  } catch (err) {
    addonError = err as Error;
  }
  return addon;
}

/** Whether the native addon loads here, and if not, why. */
export function nativeUdpStatus(): { available: boolean; reason?: string } {
  const a = loadAddon();
  return a !== undefined ? { available: true } : { available: false, reason: addonError?.message ?? 'not loaded' };
}

/** The implementation `io` selects here; throws a coded error when `native` is asked for and absent. */
export function resolveUdpIo(io: UdpIo): 'native' | 'dgram' {
  if (io === 'dgram') return 'dgram';
  if (loadAddon() !== undefined) return 'native';
  if (io === 'native') {
    const err = new Error(`udp.io is native but the udp_batch addon did not load: ${addonError?.message ?? 'unknown'}`) as NodeJS.ErrnoException;
    err.code = 'ERR_UDP_NATIVE_UNAVAILABLE';
    throw err;
  }
  return 'dgram';
}

/** The arenas shared by every native endpoint of this thread. */
class Arena {
  readonly recvData = Buffer.allocUnsafeSlow(SLOT_SIZE * RECV_SLOTS);
  readonly recvMeta: Int32Array;
  readonly recvBytes: Uint8Array;
  readonly sendData = Buffer.allocUnsafeSlow(SEND_ARENA);
  readonly sendMeta: Int32Array;
  readonly sendBytes: Uint8Array;
  readonly meta: number;
  /** Endpoints with queued sends, and a second list that flushAll() swaps in while it flushes
   *  the first (both kept: no array made per flush). */
  dirty: NativeEndpoint[] = [];
  spare: NativeEndpoint[] = [];
  scheduled = false;
  /** Inside a receive batch: sends are flushed when it ends, without a nextTick. */
  inBatch = false;

  constructor(readonly addon: Addon) {
    this.meta = addon.META;
    this.recvMeta = new Int32Array(this.meta * RECV_SLOTS);
    this.recvBytes = new Uint8Array(this.recvMeta.buffer);
    this.sendMeta = new Int32Array(this.meta * SEND_SLOTS);
    this.sendBytes = new Uint8Array(this.sendMeta.buffer);
    addon.init(this.recvData, SLOT_SIZE, this.recvMeta, this.sendData, this.sendMeta);
  }

  schedule(ep: NativeEndpoint): void {
    this.dirty.push(ep);
    if (!this.scheduled && !this.inBatch) {
      this.scheduled = true;
      nextTick(flushAll, this);
    }
  }
}

function flushAll(arena: Arena): void {
  arena.scheduled = false;
  const dirty = arena.dirty;
  arena.dirty = arena.spare;
  for (let i = 0; i < dirty.length; i++) dirty[i]!.flush();
  // Emptied by popping: setting length to 0 would give up the backing store.
  while (dirty.length > 0) dirty.pop();
  arena.spare = dirty;
}

let arena: Arena | undefined;

// ---- address text <-> bytes, cached ----------------------------------------------------------

const MAX_CACHED = 4096;
const v4Text = new Map<number, string>();
/** Send addresses already parsed (text -> 4 or 16 bytes). */
const sendAddresses = new Map<string, Buffer>();
const v6Text = new Map<string, string>();

function ipv4FromMeta(bytes: Uint8Array, at: number): string {
  const key = ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
  let s = v4Text.get(key);
  if (s === undefined) {
    s = `${bytes[at]}.${bytes[at + 1]}.${bytes[at + 2]}.${bytes[at + 3]}`;
    if (v4Text.size >= MAX_CACHED) v4Text.clear();
    v4Text.set(key, s);
  }
  return s;
}

/** RFC 5952 text of 16 address bytes (what inet_ntop, and so Node's rinfo, gives). */
export function formatIpv6(bytes: Uint8Array, at = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push((bytes[at + 2 * i]! << 8) | bytes[at + 2 * i + 1]!);
  // IPv4-mapped ::ffff:a.b.c.d, and IPv4-compatible ::a.b.c.d (96 zero bits, then a seventh group
  // that is not zero: ::1 and ::100 stay hex), as inet_ntop and net.SocketAddress write them.
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0) {
    const dotted = `${bytes[at + 12]}.${bytes[at + 13]}.${bytes[at + 14]}.${bytes[at + 15]}`;
    if (groups[5] === 0xffff) return `::ffff:${dotted}`;
    if (groups[5] === 0 && groups[6] !== 0) return `::${dotted}`;
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function ipv6FromMeta(bytes: Uint8Array, at: number): string {
  let key = '';
  for (let i = 0; i < 16; i++) key += String.fromCharCode(bytes[at + i]!);
  let s = v6Text.get(key);
  if (s === undefined) {
    s = formatIpv6(bytes, at);
    if (v6Text.size >= MAX_CACHED) v6Text.clear();
    v6Text.set(key, s);
  }
  return s;
}

function badAddress(address: string): NodeJS.ErrnoException {
  const err = new TypeError(`not an IP address literal: ${JSON.stringify(address)}`) as NodeJS.ErrnoException;
  err.code = 'ERR_INVALID_ADDRESS';
  return err;
}

/**
 * The bytes of an address to send to, parsed once (wire/ip.ts: node:net's own check of the
 * literal) and cached; throws ERR_INVALID_ADDRESS on anything that is not an IP literal of `family`.
 */
function addressBytes(family: Family, address: string): Buffer {
  let b = sendAddresses.get(address);
  if (b === undefined) {
    b = family === 'IPv4' ? ipv4Bytes(address) : ipv6Bytes(address);
    if (b === undefined) throw badAddress(address);
    if (sendAddresses.size >= MAX_CACHED) sendAddresses.clear();
    sendAddresses.set(address, b);
  }
  // One cache for both families: an IPv6 text on an IPv4 socket (or the reverse) is no address.
  if (b.length !== (family === 'IPv4' ? 4 : 16)) throw badAddress(address);
  return b;
}

function codedError(code: string, message: string): NodeJS.ErrnoException {
  const err = new Error(message) as NodeJS.ErrnoException;
  err.code = code;
  return err;
}

class NativeEndpoint implements UdpEndpoint {
  readonly io = 'native' as const;
  private readonly handle: object;
  private closed = false;
  /** Queued sends (flushed together on the next tick). */
  private qMsgs: Uint8Array[] = [];
  private qPorts: number[] = [];
  private qAddrs: Array<string | undefined> = [];
  private qCount = 0;
  /** The last error code of the flush in progress (for onSendFailed). */
  private failCode = '';
  private readonly onMessage: DatagramHandler;
  private readonly onError: (err: NodeJS.ErrnoException) => void;
  private readonly onSendFailed: ((code: string, count: number) => void) | undefined;

  constructor(
    private readonly arena: Arena,
    readonly family: Family,
    o: UdpOpenOptions,
  ) {
    this.onMessage = o.onMessage;
    this.onError = o.onError;
    this.onSendFailed = o.onSendFailed;
    this.handle = arena.addon.open(
      family === 'IPv4' ? 4 : 6,
      o.bind?.address ?? null,
      o.bind?.port ?? 0,
      o.connect?.address ?? null,
      o.connect?.port ?? 0,
      o.recvBufferSize ?? 0,
      o.sendBufferSize ?? 0,
      (count) => this.onRecv(count),
    );
  }

  private onRecv(count: number): void {
    if (count < 0) {
      if (!this.closed) this.onError(codedError(this.arena.addon.errName(count), `udp receive failed: ${this.arena.addon.errName(count)}`));
      return;
    }
    const a = this.arena;
    // The answers this batch makes go out together when it ends (one sendmmsg per socket), not
    // from a nextTick: one JavaScript entry less per wake-up.
    a.inBatch = true;
    try {
      this.deliver(count);
    } finally {
      a.inBatch = false;
      if (a.dirty.length > 0) flushAll(a);
    }
  }

  private deliver(count: number): void {
    const a = this.arena;
    const meta = a.recvMeta;
    const bytes = a.recvBytes;
    const stride = a.meta;
    const data = a.recvData;
    for (let i = 0; i < count && !this.closed; i++) {
      const m = i * stride;
      const len = meta[m]!;
      // A datagram larger than a slot (64 KiB) cannot exist on IPv4/IPv6 without jumbograms: the
      // truncation flag is kept for completeness and the datagram is handed on as read.
      const start = i * SLOT_SIZE;
      const msg = Buffer.allocUnsafe(len);
      // A DNS datagram is mostly under 512 bytes: copied byte by byte, as Buffer#copy from an
      // offset first makes a Uint8Array view of the source (an allocation per datagram).
      if (len <= SMALL_COPY) for (let j = 0; j < len; j++) msg[j] = data[start + j]!;
      else data.copy(msg, 0, start, start + len);
      const fam = meta[m + 2];
      const address = fam === 4 ? ipv4FromMeta(bytes, (m + 5) * 4) : fam === 6 ? ipv6FromMeta(bytes, (m + 5) * 4) : '';
      this.onMessage(msg, address, meta[m + 1]!);
    }
  }

  send(msg: Uint8Array, port?: number, address?: string): void {
    if (this.closed) throw codedError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
    const n = this.qCount++;
    if (n === 0) this.arena.schedule(this);
    if (n < this.qMsgs.length) {
      this.qMsgs[n] = msg;
      this.qPorts[n] = port ?? 0;
      this.qAddrs[n] = address;
    } else {
      this.qMsgs.push(msg);
      this.qPorts.push(port ?? 0);
      this.qAddrs.push(address);
    }
  }

  /** Hand the queued datagrams to the kernel (sendmmsg, in arena-sized groups). */
  flush(): void {
    const count = this.qCount;
    if (count === 0) return;
    this.qCount = 0;
    if (this.closed) return;
    const a = this.arena;
    const meta = a.sendMeta;
    const bytes = a.sendBytes;
    const stride = a.meta;
    const data = a.sendData;
    let failed = 0;
    this.failCode = '';
    let k = 0;
    let off = 0;
    for (let i = 0; i < count; i++) {
      const msg = this.qMsgs[i]!;
      const address = this.qAddrs[i];
      this.qMsgs[i] = EMPTY;
      if (msg.length > data.length) {
        failed++;
        this.failCode = 'EMSGSIZE';
        continue;
      }
      if (k === SEND_SLOTS || off + msg.length > data.length) {
        failed += this.handOver(k);
        k = 0;
        off = 0;
      }
      const m = k * stride;
      data.set(msg, off);
      meta[m] = off;
      meta[m + 1] = msg.length;
      if (address === undefined) {
        meta[m + 3] = 0;
      } else {
        meta[m + 2] = this.qPorts[i]!;
        try {
          const b = addressBytes(this.family, address);
          bytes.set(b, (m + 5) * 4);
          meta[m + 3] = b.length === 4 ? 4 : 6;
          meta[m + 4] = 0;
        } catch {
          failed++;
          this.failCode = 'ERR_INVALID_ADDRESS';
          continue;
        }
      }
      off += msg.length;
      k++;
    }
    if (k > 0) failed += this.handOver(k);
    if (failed > 0) this.onSendFailed?.(this.failCode, failed);
  }

  /** sendmmsg the first `k` datagrams packed in the send arena; returns how many were refused. */
  private handOver(k: number): number {
    const a = this.arena;
    const refused = a.addon.send(this.handle, k);
    if (refused > 0) this.failCode = a.addon.errName(a.sendMeta[0]!);
    return refused;
  }

  localPort(): number {
    return this.arena.addon.localPort(this.handle);
  }

  queued(): number {
    return this.qCount;
  }

  close(): Promise<void> {
    if (!this.closed) {
      // What was accepted before close() still goes out, as with dgram.
      this.flush();
      this.closed = true;
      this.arena.addon.close(this.handle);
    }
    return Promise.resolve();
  }
}

const EMPTY = new Uint8Array(0);

// ---- dgram ----------------------------------------------------------------------------------------

class DgramEndpoint implements UdpEndpoint {
  readonly io = 'dgram' as const;
  readonly socket: dgram.Socket;
  readonly ready: Promise<void>;
  private closing: Promise<void> | undefined;
  private peer: { readonly address: string; readonly port: number } | undefined;
  private isConnected = false;

  constructor(
    readonly family: Family,
    o: UdpOpenOptions,
  ) {
    const v4 = family === 'IPv4';
    // Answers go to IP literals only: no dns.lookup (and nextTick) per send.
    const socket = dgram.createSocket({
      type: v4 ? 'udp4' : 'udp6',
      ipv6Only: !v4,
      lookup: literalLookup as unknown as dgram.SocketOptions['lookup'],
    });
    this.socket = socket;
    const onMessage = o.onMessage;
    const sizes = (): void => {
      try {
        if (o.recvBufferSize) socket.setRecvBufferSize(o.recvBufferSize);
        if (o.sendBufferSize) socket.setSendBufferSize(o.sendBufferSize);
      } catch {
        // Best effort: the kernel may refuse a larger buffer.
      }
    };
    if (o.bind !== undefined) {
      const bind = o.bind;
      this.ready = new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => {
          this.closing = Promise.resolve();
          socket.close();
          reject(err);
        };
        socket.once('error', onError);
        socket.bind({ address: bind.address, port: bind.port, exclusive: true }, () => {
          socket.off('error', onError);
          socket.on('error', o.onError);
          sizes();
          resolve();
        });
      });
    } else {
      socket.on('error', o.onError);
      socket.bind({ port: 0, address: v4 ? '0.0.0.0' : '::', exclusive: true }, sizes);
      this.ready = Promise.resolve();
    }
    if (o.connect !== undefined) {
      const peer = o.connect;
      this.peer = peer;
      // With the literal lookup, bind and connect complete before connect() returns; until then
      // (a Node that defers them) sends carry the address. A failed connect (e.g. no route)
      // leaves the socket unconnected: its sends carry the address.
      socket.connect(peer.port, peer.address, (err?: Error) => {
        if (err === undefined || err === null) this.isConnected = true;
      });
      this.isConnected = this.connected();
    }
    socket.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => onMessage(msg, rinfo.address, rinfo.port));
  }

  send(msg: Uint8Array, port?: number, address?: string): void {
    if (address !== undefined) this.socket.send(msg, port, address);
    else if (this.isConnected) this.socket.send(msg);
    else if (this.peer !== undefined) this.socket.send(msg, this.peer.port, this.peer.address);
    else throw codedError('ERR_SOCKET_BAD_ADDRESS', 'send() without an address on a socket that is not connected');
  }

  connected(): boolean {
    try {
      this.socket.remoteAddress();
      return true;
    } catch {
      return false;
    }
  }

  localPort(): number {
    return this.socket.address().port;
  }

  queued(): number {
    try {
      return this.socket.getSendQueueCount();
    } catch {
      return 0;
    }
  }

  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve();
      }
    });
    return this.closing;
  }
}

/**
 * Open an endpoint with the implementation `io` selects. Native endpoints are bound (and
 * connected) when this returns, or it throws (EADDRINUSE, ...); dgram ones may still be binding:
 * await `ready()` for a listener.
 */
export function openUdp(io: UdpIo, o: UdpOpenOptions): UdpEndpoint & { ready?: Promise<void> } {
  if (resolveUdpIo(io) === 'native') {
    arena ??= new Arena(loadAddon()!);
    return new NativeEndpoint(arena, o.family, o);
  }
  return new DgramEndpoint(o.family, o);
}

/** Open a listener and wait until it is bound. */
export async function listenUdp(io: UdpIo, o: UdpOpenOptions & { bind: { address: string; port: number } }): Promise<UdpEndpoint> {
  const ep = openUdp(io, o);
  if (ep instanceof DgramEndpoint) await ep.ready;
  return ep;
}
