/**
 * Redis URL forms accepted for the Redis store, parsed into plain connection options:
 *
 *   redis://[user:pass@]host[:port][/db]              standalone (port 6379, db 0 by default)
 *   rediss://...                                       the same over TLS
 *   redis+sentinel://[user:pass@]host[:port][,host[:port]...]/<master>[/db]
 *                                                      Sentinel (port 26379 by default); the
 *                                                      credentials are the master's
 *   redis+cluster://[user:pass@]host[:port][,host[:port]...]
 *                                                      Cluster seed nodes (port 6379 by default)
 *   rediss+sentinel://, rediss+cluster://              the same over TLS
 *
 * `pass@` alone (no colon) is a password. Hosts may be names, IPv4, or IPv6 in brackets.
 * Percent-escapes in user and password are decoded. One query parameter is accepted:
 * `sentinelPassword=...` (Sentinel only, when the sentinels themselves need a password).
 */
import { BadStoreUrlError } from '../errors.js';

export type RedisMode = 'standalone' | 'sentinel' | 'cluster';

export interface RedisHost {
  readonly host: string;
  readonly port: number;
}

/** Where and how to connect; what `parseRedisUrl` returns and `createRedisStore({ url })` accepts. */
export interface RedisConnectionOptions {
  readonly mode: RedisMode;
  /** standalone: exactly one; sentinel: the sentinels; cluster: seed nodes. */
  readonly hosts: readonly RedisHost[];
  readonly username?: string;
  readonly password?: string;
  /** Database number (standalone and Sentinel; Cluster has only 0). */
  readonly db?: number;
  readonly tls?: boolean;
  /** Sentinel: the master group name. */
  readonly masterName?: string;
  /** Sentinel: password of the sentinels themselves. */
  readonly sentinelPassword?: string;
}

const SCHEMES: Readonly<Record<string, { mode: RedisMode; tls: boolean }>> = {
  'redis:': { mode: 'standalone', tls: false },
  'rediss:': { mode: 'standalone', tls: true },
  'redis+sentinel:': { mode: 'sentinel', tls: false },
  'rediss+sentinel:': { mode: 'sentinel', tls: true },
  'redis+cluster:': { mode: 'cluster', tls: false },
  'rediss+cluster:': { mode: 'cluster', tls: true },
};

const SCHEME_RE = /^([a-z][a-z0-9+.-]*:)\/\/(.*)$/i;

/** True when the string starts with one of the Redis schemes above (the rest may still be wrong). */
export function isRedisUrl(url: string): boolean {
  const m = SCHEME_RE.exec(url);
  return m !== null && (m[1] as string).toLowerCase() in SCHEMES;
}

function decode(url: string, part: string, what: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new BadStoreUrlError(redact(url), `bad percent-escape in the ${what}`);
  }
}

/** The URL with its password replaced, for messages and logs. */
export function redact(url: string): string {
  const m = SCHEME_RE.exec(url);
  if (m === null) return url;
  const rest = m[2] as string;
  const end = rest.search(/[/?]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  const at = authority.lastIndexOf('@');
  if (at < 0) return url;
  const userinfo = rest.slice(0, at);
  const colon = userinfo.indexOf(':');
  const shown = colon < 0 ? '***' : `${userinfo.slice(0, colon)}:***`;
  return `${m[1]}//${shown}${rest.slice(at)}`;
}

function parseHost(url: string, text: string, defaultPort: number): RedisHost {
  let host: string;
  let portText: string | undefined;
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) throw new BadStoreUrlError(redact(url), `unclosed "[" in host "${text}"`);
    host = text.slice(1, close);
    const after = text.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw new BadStoreUrlError(redact(url), `unexpected "${after}" after host "[${host}]"`);
    portText = after === '' ? undefined : after.slice(1);
  } else {
    const colon = text.indexOf(':');
    host = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
  }
  if (host === '' || !/^[A-Za-z0-9._:%-]+$/.test(host)) {
    throw new BadStoreUrlError(redact(url), `bad host "${host}" in "${text}"`);
  }
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
      throw new BadStoreUrlError(redact(url), `bad port "${portText}" for host "${host}" (1-65535)`);
    }
    port = Number(portText);
  }
  return { host, port };
}

function parseDb(url: string, text: string): number {
  if (!/^[0-9]{1,9}$/.test(text)) throw new BadStoreUrlError(redact(url), `bad database number "${text}" (a non-negative integer)`);
  return Number(text);
}

/** Parse one of the URL forms above; throws BadStoreUrlError (code HOPLITE_VIP_BAD_STORE_URL). */
export function parseRedisUrl(url: string): RedisConnectionOptions {
  const m = SCHEME_RE.exec(url);
  const scheme = m === null ? undefined : SCHEMES[(m[1] as string).toLowerCase()];
  if (m === null || scheme === undefined) {
    throw new BadStoreUrlError(redact(url), 'not a Redis URL (redis://, rediss://, redis+sentinel://, redis+cluster://)');
  }
  let rest = m[2] as string;

  // Query string.
  let sentinelPassword: string | undefined;
  const q = rest.indexOf('?');
  if (q >= 0) {
    const params = new URLSearchParams(rest.slice(q + 1));
    rest = rest.slice(0, q);
    for (const [key, value] of params) {
      if (key === 'sentinelPassword' && scheme.mode === 'sentinel') sentinelPassword = value;
      else throw new BadStoreUrlError(redact(url), `unknown query parameter "${key}" (only sentinelPassword, for Sentinel URLs)`);
    }
  }

  // Path.
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash + 1);

  // Credentials: the last "@" of the authority.
  let username: string | undefined;
  let password: string | undefined;
  let hostList = authority;
  const at = authority.lastIndexOf('@');
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    hostList = authority.slice(at + 1);
    const colon = userinfo.indexOf(':');
    if (colon < 0) {
      password = decode(url, userinfo, 'password');
    } else {
      const user = decode(url, userinfo.slice(0, colon), 'user name');
      if (user !== '') username = user;
      password = decode(url, userinfo.slice(colon + 1), 'password');
    }
    if (password === '') password = undefined;
  }

  if (hostList === '') throw new BadStoreUrlError(redact(url), 'no host');
  const defaultPort = scheme.mode === 'sentinel' ? 26379 : 6379;
  const hosts = hostList.split(',').map((h) => parseHost(url, h, defaultPort));

  let db: number | undefined;
  let masterName: string | undefined;
  const segments = path === '' ? [] : path.split('/');
  if (segments.length > 0 && segments[segments.length - 1] === '') segments.pop(); // trailing slash
  switch (scheme.mode) {
    case 'standalone':
      if (hosts.length !== 1) throw new BadStoreUrlError(redact(url), `${hosts.length} hosts in a standalone URL; use redis+sentinel:// or redis+cluster:// for several`);
      if (segments.length > 1) throw new BadStoreUrlError(redact(url), `unexpected path "/${path}" (only /<db>)`);
      if (segments.length === 1) db = parseDb(url, segments[0] as string);
      break;
    case 'sentinel':
      if (segments.length === 0 || segments[0] === '') throw new BadStoreUrlError(redact(url), 'no master name (redis+sentinel://host:port/<master>[/db])');
      if (segments.length > 2) throw new BadStoreUrlError(redact(url), `unexpected path "/${path}" (only /<master>[/<db>])`);
      masterName = decode(url, segments[0] as string, 'master name');
      if (segments.length === 2) db = parseDb(url, segments[1] as string);
      break;
    case 'cluster':
      if (segments.length > 0) throw new BadStoreUrlError(redact(url), `unexpected path "/${path}" (a Cluster has no database number)`);
      break;
  }

  return {
    mode: scheme.mode,
    hosts,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(db !== undefined ? { db } : {}),
    ...(scheme.tls ? { tls: true } : {}),
    ...(masterName !== undefined ? { masterName } : {}),
    ...(sentinelPassword !== undefined ? { sentinelPassword } : {}),
  };
}

/** Text form for logs (never the password). */
export function describeConnection(c: RedisConnectionOptions): string {
  const hosts = c.hosts.map((h) => (h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`)).join(',');
  const scheme = `${c.tls ? 'rediss' : 'redis'}${c.mode === 'standalone' ? '' : `+${c.mode}`}`;
  const path = c.mode === 'sentinel' ? `/${c.masterName ?? ''}${c.db !== undefined ? `/${c.db}` : ''}` : c.db !== undefined ? `/${c.db}` : '';
  return `${scheme}://${hosts}${path}`;
}
