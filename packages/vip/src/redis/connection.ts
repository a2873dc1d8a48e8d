/**
 * ioredis clients for the store, set to fail fast: no offline queue (a command while disconnected
 * fails at once), no resend of in-flight commands after a disconnect (maxRetriesPerRequest 0; our
 * mutations are idempotent or report what they did, so the caller may retry), a command timeout
 * and a socket timeout so that a half-open connection cannot hang a call. ioredis keeps
 * reconnecting in the background with a capped backoff.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { StoreIncompatibleError, StoreUnavailableError, VipError } from '../errors.js';
import type { RedisClient } from './scripts.js';
import type { RedisConnectionOptions } from './url.js';

export interface ClientSettings {
  /** A command without a reply after this long fails (and the socket is recycled). */
  readonly commandTimeoutMs: number;
  /** One connection attempt gives up after this long. */
  readonly connectTimeoutMs: number;
  /** CLIENT SETNAME, to find our connections in CLIENT LIST. */
  readonly connectionName: string;
  /** Extra slack for blocking commands (XREAD BLOCK) on the watch connection. */
  readonly blockingMs?: number;
}

/** Reconnect backoff: 50 ms doubling to 2 s, forever (until close). */
export function reconnectDelay(times: number): number {
  return Math.min(50 * 2 ** Math.min(Math.max(times - 1, 0), 6), 2000);
}

export function createClient(conn: RedisConnectionOptions, s: ClientSettings): RedisClient {
  // No ioredis socketTimeout: its timer outlives disconnect() and holds the process open. A
  // command that times out recycles the connection instead (recycleOnTimeout).
  const base: RedisOptions & { disconnectTimeout: number } = {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: s.commandTimeoutMs + (s.blockingMs ?? 0),
    connectTimeout: s.connectTimeoutMs,
    disconnectTimeout: 500,
    keepAlive: 10_000,
    connectionName: s.connectionName,
    ...(conn.username !== undefined ? { username: conn.username } : {}),
    ...(conn.password !== undefined ? { password: conn.password } : {}),
    ...(conn.tls ? { tls: {} } : {}),
  };
  switch (conn.mode) {
    case 'standalone': {
      const host = conn.hosts[0];
      return new Redis({
        ...base,
        host: host?.host ?? '127.0.0.1',
        port: host?.port ?? 6379,
        db: conn.db ?? 0,
        retryStrategy: reconnectDelay,
      });
    }
    case 'sentinel':
      return new Redis({
        ...base,
        sentinels: conn.hosts.map((h) => ({ host: h.host, port: h.port })),
        name: conn.masterName ?? 'mymaster',
        role: 'master',
        db: conn.db ?? 0,
        ...(conn.sentinelPassword !== undefined ? { sentinelPassword: conn.sentinelPassword } : {}),
        ...(conn.tls ? { enableTLSForSentinelMode: true } : {}),
        sentinelRetryStrategy: reconnectDelay,
        retryStrategy: reconnectDelay,
      });
    case 'cluster': {
      const { lazyConnect: _l, enableOfflineQueue: _e, ...redisOptions } = base;
      const options: ClusterOptions = {
        lazyConnect: true,
        enableOfflineQueue: false,
        clusterRetryStrategy: reconnectDelay,
        retryDelayOnFailover: 100,
        retryDelayOnClusterDown: 100,
        redisOptions,
      };
      return new Cluster(
        conn.hosts.map((h) => ({ host: h.host, port: h.port })),
        options,
      );
    }
  }
}

/** After "Command timed out" the connection may be half-open: drop it and let ioredis reconnect. */
export function recycleOnTimeout(client: RedisClient, err: unknown): void {
  if (err instanceof Error && err.message === 'Command timed out' && client.status === 'ready') {
    client.disconnect(true);
  }
}

/** Connect and wait for 'ready' (ioredis retries meanwhile); StoreUnavailableError after timeoutMs. */
export async function connectClient(client: RedisClient, store: string, timeoutMs: number): Promise<void> {
  if (client.status === 'ready') return;
  let lastError: Error | undefined;
  const onError = (err: Error): void => {
    lastError = err;
  };
  client.on('error', onError);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.off('ready', onReady);
        reject(new StoreUnavailableError(store, `not ready after ${timeoutMs} ms${lastError ? ` (${lastError.message})` : ''}`, { cause: lastError }));
      }, timeoutMs);
      const onReady = (): void => {
        clearTimeout(timer);
        resolve();
      };
      client.once('ready', onReady);
      if (client.status === 'wait') {
        // The first failure rejects connect(); ioredis goes on retrying and 'ready' still comes.
        client.connect().catch((err: Error) => {
          lastError = err;
        });
      }
    });
  } finally {
    client.off('error', onError);
  }
}

const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|READONLY|OOM|NOREPLICAS|MOVED|ASK)\b/;

/** Turn what ioredis throws into our coded errors; anything unexpected passes through. */
export function toStoreError(err: unknown, store: string): Error {
  if (err instanceof VipError) return err;
  if (!(err instanceof Error)) return new StoreUnavailableError(store, String(err), { cause: err });
  if (err.name === 'ReplyError') {
    if (UNAVAILABLE_REPLY.test(err.message)) return new StoreUnavailableError(store, err.message, { cause: err });
    if (/^WRONGTYPE\b/.test(err.message)) {
      return new StoreIncompatibleError(store, `a key under its prefix holds another type of data (${err.message}); choose another keyPrefix`);
    }
    return err;
  }
  // Connection closed, stream not writeable, max retries, command timed out, ECONNREFUSED...
  return new StoreUnavailableError(store, err.message, { cause: err });
}
