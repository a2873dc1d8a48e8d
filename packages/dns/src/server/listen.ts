/**
 * Binding the listen addresses: each address gets UDP and TCP on the same port. With port 0, UDP
 * binds first (the kernel picks a port), then TCP binds that port; if TCP finds it taken, both are
 * released and the pair is tried again (a few times).
 */
import { createServer as createTcpServer, isIPv6, type Server as TcpServer, type Socket } from 'node:net';
import { ListenError } from '../errors.js';
import type { ListenAddress } from '../config.js';
import { listenUdp, type DatagramHandler, type UdpEndpoint, type UdpIo } from '../io/udp.js';

const PORT_ZERO_ATTEMPTS = 20;
/** Socket buffers asked for (the kernel caps them at net.core.rmem_max / wmem_max). */
const UDP_BUFFER_BYTES = 4 * 1024 * 1024;

export interface Listener {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
  readonly udp: UdpEndpoint;
  readonly tcp: TcpServer;
}

/** What the UDP side of each listener is wired to. */
export interface UdpWiring {
  readonly io: UdpIo;
  /** The handler for one listener; `endpoint()` is that listener's socket (set once bound). */
  handler(endpoint: () => UdpEndpoint): DatagramHandler;
  onError(err: NodeJS.ErrnoException): void;
  onSendFailed(code: string, count: number): void;
}

async function bindUdp(address: string, port: number, wiring: UdpWiring): Promise<UdpEndpoint> {
  let ep: UdpEndpoint | undefined;
  const self = (): UdpEndpoint => ep!;
  ep = await listenUdp(wiring.io, {
    family: isIPv6(address) ? 'IPv6' : 'IPv4',
    bind: { address, port },
    recvBufferSize: UDP_BUFFER_BYTES,
    sendBufferSize: UDP_BUFFER_BYTES,
    onMessage: wiring.handler(self),
    onError: (err) => wiring.onError(err),
    onSendFailed: (code, count) => wiring.onSendFailed(code, count),
  });
  return ep;
}

function bindTcp(address: string, port: number, onConnection: (s: Socket) => void): Promise<TcpServer> {
  return new Promise((resolve, reject) => {
    const server = createTcpServer({ allowHalfOpen: true, noDelay: true }, onConnection);
    const onError = (err: Error): void => {
      server.close();
      reject(err);
    };
    server.once('error', onError);
    server.listen({ host: address, port, exclusive: true, ipv6Only: isIPv6(address), backlog: 1024 }, () => {
      server.off('error', onError);
      resolve(server);
    });
  });
}

export function closeTcp(s: TcpServer): Promise<void> {
  return new Promise((resolve) => {
    if (!s.listening) {
      resolve();
      return;
    }
    s.close(() => resolve());
  });
}

async function bindPair(l: ListenAddress, onConnection: (s: Socket) => void, wiring: UdpWiring): Promise<Listener> {
  const attempts = l.port === 0 ? PORT_ZERO_ATTEMPTS : 1;
  for (let i = 0; ; i++) {
    let udp: UdpEndpoint;
    try {
      udp = await bindUdp(l.address, l.port, wiring);
    } catch (err) {
      throw new ListenError('udp', l.address, l.port, err);
    }
    const port = udp.localPort();
    try {
      const tcp = await bindTcp(l.address, port, onConnection);
      return { address: l.address, port, family: isIPv6(l.address) ? 'IPv6' : 'IPv4', udp, tcp };
    } catch (err) {
      await udp.close();
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && i + 1 < attempts) continue;
      throw new ListenError('tcp', l.address, port, err);
    }
  }
}

/** Bind every address (UDP + TCP); on any failure, release what was bound and throw ListenError. */
export async function bindAll(addresses: readonly ListenAddress[], onConnection: (s: Socket) => void, wiring: UdpWiring): Promise<Listener[]> {
  const out: Listener[] = [];
  try {
    for (const l of addresses) out.push(await bindPair(l, onConnection, wiring));
    return out;
  } catch (err) {
    await releaseAll(out);
    throw err;
  }
}

export async function releaseAll(listeners: readonly Listener[]): Promise<void> {
  await Promise.all(listeners.map(async (l) => Promise.all([l.udp.close(), closeTcp(l.tcp)])));
}
