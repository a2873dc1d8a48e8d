/**
 * Binding the listen addresses: each address gets UDP and TCP on the same port. With port 0, UDP
 * binds first (the kernel picks a port), then TCP binds that port; if TCP finds it taken, both are
 * released and the pair is tried again (a few times).
 */
import { createSocket, type SocketOptions, type Socket as UdpSocket } from 'node:dgram';
import { createServer as createTcpServer, isIPv6, type Server as TcpServer, type Socket } from 'node:net';
import { ListenError } from '../errors.js';
import type { ListenAddress } from '../config.js';
import { literalLookup } from '../exchange/address.js';

const PORT_ZERO_ATTEMPTS = 20;
/** Socket buffers asked for (the kernel caps them at net.core.rmem_max / wmem_max). */
const UDP_BUFFER_BYTES = 4 * 1024 * 1024;

export interface Listener {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
  readonly udp: UdpSocket;
  readonly tcp: TcpServer;
}

function bindUdp(address: string, port: number): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    // Answers go to rinfo.address, always an IP literal: no dns.lookup (and nextTick) per answer.
    const socket = createSocket({
      type: isIPv6(address) ? 'udp6' : 'udp4',
      ipv6Only: isIPv6(address),
      lookup: literalLookup as unknown as SocketOptions['lookup'],
    });
    const onError = (err: Error): void => {
      socket.close();
      reject(err);
    };
    socket.once('error', onError);
    socket.bind({ address, port, exclusive: true }, () => {
      socket.off('error', onError);
      try {
        socket.setRecvBufferSize(UDP_BUFFER_BYTES);
        socket.setSendBufferSize(UDP_BUFFER_BYTES);
      } catch {
        // Best effort: the kernel may refuse a larger buffer.
      }
      resolve(socket);
    });
  });
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

function closeUdp(s: UdpSocket): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve();
    }
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

async function bindPair(l: ListenAddress, onConnection: (s: Socket) => void): Promise<Listener> {
  const attempts = l.port === 0 ? PORT_ZERO_ATTEMPTS : 1;
  for (let i = 0; ; i++) {
    let udp: UdpSocket;
    try {
      udp = await bindUdp(l.address, l.port);
    } catch (err) {
      throw new ListenError('udp', l.address, l.port, err);
    }
    const port = udp.address().port;
    try {
      const tcp = await bindTcp(l.address, port, onConnection);
      return { address: l.address, port, family: isIPv6(l.address) ? 'IPv6' : 'IPv4', udp, tcp };
    } catch (err) {
      await closeUdp(udp);
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && i + 1 < attempts) continue;
      throw new ListenError('tcp', l.address, port, err);
    }
  }
}

/** Bind every address (UDP + TCP); on any failure, release what was bound and throw ListenError. */
export async function bindAll(addresses: readonly ListenAddress[], onConnection: (s: Socket) => void): Promise<Listener[]> {
  const out: Listener[] = [];
  try {
    for (const l of addresses) out.push(await bindPair(l, onConnection));
    return out;
  } catch (err) {
    await releaseAll(out);
    throw err;
  }
}

export async function releaseAll(listeners: readonly Listener[]): Promise<void> {
  await Promise.all(listeners.map(async (l) => Promise.all([closeUdp(l.udp), closeTcp(l.tcp)])));
}

export { closeUdp };
