/**
 * Value kinds of the config schema: how a value is read from a string (environment, flags) and
 * checked when it comes typed (config file). Each returns the value or the text of what is accepted.
 */
import { isIP } from 'node:net';

export type Checked<T> = { ok: true; value: T } | { ok: false; expected: string };

const ok = <T>(value: T): Checked<T> => ({ ok: true, value });
const bad = <T>(expected: string): Checked<T> => ({ ok: false, expected });

export interface Kind<T> {
  /** Short description of what is accepted, used in messages and docs. */
  readonly accepts: string;
  /** From a config file (JSON value). */
  check(v: unknown): Checked<T>;
  /** From an environment variable or a flag (a string; lists may also come as repeated flags). */
  parse(s: string | readonly string[]): Checked<T>;
}

export function stringKind(accepts = 'a string', test?: (s: string) => boolean): Kind<string> {
  const check = (v: unknown): Checked<string> =>
    typeof v === 'string' && (!test || test(v)) ? ok(v) : bad(accepts);
  return { accepts, check, parse: (s) => check(Array.isArray(s) ? s[s.length - 1] : s) };
}

export function enumKind<T extends string>(values: readonly T[]): Kind<T> {
  const accepts = `one of ${values.join(', ')}`;
  const check = (v: unknown): Checked<T> => (typeof v === 'string' && (values as readonly string[]).includes(v) ? ok(v as T) : bad(accepts));
  return { accepts, check, parse: (s) => check(Array.isArray(s) ? s[s.length - 1] : s) };
}

export function intKind(min: number, max: number): Kind<number> {
  const accepts = `an integer from ${min} to ${max}`;
  const check = (v: unknown): Checked<number> =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? ok(v) : bad(accepts);
  return {
    accepts,
    check,
    parse: (s) => {
      const str = (Array.isArray(s) ? s[s.length - 1] : s) as string;
      return /^-?\d+$/.test(str.trim()) ? check(Number(str.trim())) : bad(accepts);
    },
  };
}

export const boolKind: Kind<boolean> = {
  accepts: 'true or false',
  check: (v) => (typeof v === 'boolean' ? ok(v) : bad('true or false')),
  parse: (s) => {
    const str = String(Array.isArray(s) ? s[s.length - 1] : s).trim().toLowerCase();
    if (['true', '1', 'yes', 'on', ''].includes(str)) return ok(true);
    if (['false', '0', 'no', 'off'].includes(str)) return ok(false);
    return bad('true or false');
  },
};

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration in milliseconds: `250ms`, `5s`, `10m`, `1h`, `2d`, or a bare number of milliseconds. */
export function durationKind(minMs: number, maxMs: number): Kind<number> {
  const accepts = `a duration from ${fmtMs(minMs)} to ${fmtMs(maxMs)} (e.g. 250ms, 5s, 10m, 1h)`;
  const fromString = (str: string): Checked<number> => {
    const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(str);
    if (!m) return bad(accepts);
    const ms = Math.round(Number(m[1]) * UNITS[m[2] ?? 'ms']!);
    return ms >= minMs && ms <= maxMs ? ok(ms) : bad(accepts);
  };
  return {
    accepts,
    check: (v) => {
      if (typeof v === 'number') return Number.isFinite(v) && v >= minMs && v <= maxMs ? ok(Math.round(v)) : bad(accepts);
      if (typeof v === 'string') return fromString(v);
      return bad(accepts);
    },
    parse: (s) => fromString((Array.isArray(s) ? s[s.length - 1] : s) as string),
  };
}

export function fmtMs(ms: number): string {
  if (ms % 86_400_000 === 0 && ms >= 86_400_000) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0 && ms >= 3_600_000) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms >= 1000) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** A list of items; from a string: comma-separated; from flags: repeated and/or comma-separated. */
export function listKind<T>(item: Kind<T>, opts: { min?: number } = {}): Kind<T[]> {
  const accepts = `a list of ${item.accepts}${opts.min ? ` (at least ${opts.min})` : ''}`;
  const checkAll = (items: readonly unknown[], fromString: boolean): Checked<T[]> => {
    const out: T[] = [];
    for (const it of items) {
      const r = fromString ? item.parse(String(it)) : item.check(it);
      if (!r.ok) return bad(accepts);
      out.push(r.value);
    }
    if (opts.min && out.length < opts.min) return bad(accepts);
    return ok(out);
  };
  return {
    accepts,
    check: (v) => (Array.isArray(v) ? checkAll(v, false) : bad(accepts)),
    parse: (s) => {
      const parts = (Array.isArray(s) ? s : [s])
        .flatMap((x: string) => x.split(','))
        .map((x: string) => x.trim())
        .filter((x: string) => x.length > 0);
      return checkAll(parts, true);
    },
  };
}

/**
 * A map from names to lists, e.g. forward zones. From a string: `zone=a,b;zone2=c`; from flags:
 * repeated `zone=a,b`.
 */
export function mapOfListsKind<T>(key: Kind<string>, item: Kind<T>): Kind<Record<string, T[]>> {
  const accepts = `a map of ${key.accepts} to lists of ${item.accepts} (string form: "zone=a,b;zone2=c")`;
  const list = listKind(item, { min: 1 });
  return {
    accepts,
    check: (v) => {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad(accepts);
      const out: Record<string, T[]> = {};
      for (const [k, val] of Object.entries(v)) {
        const kr = key.check(k);
        const vr = list.check(val);
        if (!kr.ok || !vr.ok) return bad(accepts);
        out[kr.value] = vr.value;
      }
      return ok(out);
    },
    parse: (s) => {
      const entries = (Array.isArray(s) ? s : [s]).flatMap((x: string) => x.split(';')).map((x: string) => x.trim()).filter(Boolean);
      const out: Record<string, T[]> = {};
      for (const e of entries) {
        const eq = e.indexOf('=');
        if (eq <= 0) return bad(accepts);
        const kr = key.parse(e.slice(0, eq).trim());
        const vr = list.parse(e.slice(eq + 1));
        if (!kr.ok || !vr.ok) return bad(accepts);
        out[kr.value] = [...(out[kr.value] ?? []), ...vr.value];
      }
      return ok(out);
    },
  };
}

/** `ip:port`, `[v6]:port`, or a bare ip when `defaultPort` is given. */
export function hostPortKind(defaultPort?: number): Kind<string> {
  const accepts = defaultPort === undefined ? 'an address ip:port or [ipv6]:port' : `an address ip[:port] or [ipv6]:port (port defaults to ${defaultPort})`;
  return stringKind(accepts, (s) => parseHostPort(s, defaultPort) !== undefined);
}

export function parseHostPort(s: string, defaultPort?: number): { address: string; port: number } | undefined {
  let host: string;
  let port: string | undefined;
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (v6) {
    host = v6[1]!;
    port = v6[2];
  } else if (isIP(s) === 6) {
    host = s;
  } else {
    const i = s.lastIndexOf(':');
    if (i >= 0) {
      host = s.slice(0, i);
      port = s.slice(i + 1);
    } else host = s;
  }
  if (!isIP(host)) return undefined;
  if (port === undefined) return defaultPort === undefined ? undefined : { address: host, port: defaultPort };
  if (!/^\d{1,5}$/.test(port)) return undefined;
  const p = Number(port);
  if (p > 65535) return undefined;
  return { address: host, port: p };
}
