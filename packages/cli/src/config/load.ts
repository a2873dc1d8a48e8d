/**
 * Config loading: defaults < config file < environment (HOPLITE_*) < flags. Every problem is
 * collected and reported at once (ConfigError), each naming the key, where the value came from,
 * the value and what is accepted. The result is frozen.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, ConfigFileError, type ConfigIssue } from '../errors.js';
import { DEFAULT_LISTEN, FIELDS, envName, type Field, type HopliteConfig } from './schema.js';
import { parseHostPort } from './values.js';

export interface LoadOptions {
  /** Flag values as parsed by yargs, keyed by flag name (without dashes). Absent = not given. */
  readonly flags?: Readonly<Record<string, unknown>>;
  /** The environment (process.env in the binary; a plain object in tests). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Path of a JSON config file (--config or HOPLITE_CONFIG). */
  readonly file?: string;
  /** Path of resolv.conf for the default upstreams. */
  readonly resolvConf?: string;
}

export interface LoadedConfig {
  readonly config: Readonly<HopliteConfig>;
  /** Where each key's value came from. */
  readonly sources: Readonly<Record<string, string>>;
}

/** Environment variables of ours that are not config keys. */
const OTHER_ENV = new Set(['HOPLITE_CONFIG', 'HOPLITE_DEBUG']);

function getPath(obj: Record<string, unknown>, key: string): unknown {
  let cur: unknown = obj;
  for (const part of key.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let cur = obj;
  for (const part of parts.slice(0, -1)) {
    if (typeof cur[part] !== 'object' || cur[part] === null) cur[part] = {};
    cur = cur[part] as Record<string, unknown>;
  }
  cur[parts[parts.length - 1]!] = value;
}

/** Keys present in a config file object that the schema does not know. */
function unknownFileKeys(obj: Record<string, unknown>, prefix = ''): string[] {
  const known = new Set(FIELDS.map((f) => f.key));
  const groups = new Set(FIELDS.flatMap((f) => f.key.split('.').slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join('.'))));
  const out: string[] = [];
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (known.has(key)) continue;
    if (groups.has(key) && typeof v === 'object' && v !== null && !Array.isArray(v)) out.push(...unknownFileKeys(v as Record<string, unknown>, key));
    else out.push(key);
  }
  return out;
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigFileError(path, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message, { cause: err });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigFileError(path, `not valid JSON (${(err as Error).message})`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigFileError(path, 'the top level must be a JSON object');
  return parsed as Record<string, unknown>;
}

/** Nameservers of resolv.conf, as ip:53 strings; [] when the file is missing. */
export function resolvConfNameservers(path = '/etc/resolv.conf'): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    const addr = m[1]!.replace(/%.*$/, '');
    const hp = parseHostPort(addr, 53);
    if (hp) out.push(hp.address.includes(':') ? `[${hp.address}]:53` : `${hp.address}:53`);
  }
  return out;
}

function sameEndpoint(a: string, b: string, defaultPort: number): boolean {
  const x = parseHostPort(a, defaultPort);
  const y = parseHostPort(b, defaultPort);
  return !!x && !!y && x.port === y.port && (x.address === y.address || x.address === '0.0.0.0' || y.address === '0.0.0.0');
}

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? {};
  const flags = opts.flags ?? {};
  const issues: ConfigIssue[] = [];
  const config: Record<string, unknown> = {};
  const sources: Record<string, string> = {};

  const fileObj = opts.file ? readConfigFile(opts.file) : undefined;
  if (fileObj) {
    for (const key of unknownFileKeys(fileObj)) {
      issues.push({ key, source: `file ${opts.file}`, value: getPath(fileObj, key), expected: `a known key (${FIELDS.map((f) => f.key).join(', ')})` });
    }
  }
  const knownEnv = new Set(FIELDS.map((f) => envName(f.key)));
  for (const name of Object.keys(env)) {
    if (name.startsWith('HOPLITE_') && !knownEnv.has(name) && !OTHER_ENV.has(name)) {
      issues.push({ key: name, source: `env ${name}`, value: env[name], expected: `a known variable (${[...knownEnv, ...OTHER_ENV].join(', ')})` });
    }
  }

  const take = (f: Field): void => {
    let value: unknown = typeof f.default === 'function' ? undefined : f.default;
    let source = 'default';
    const fromFile = fileObj ? getPath(fileObj, f.key) : undefined;
    if (fromFile !== undefined) {
      const r = f.kind.check(fromFile);
      if (r.ok) {
        value = r.value;
        source = `file ${opts.file}`;
      } else issues.push({ key: f.key, source: `file ${opts.file}`, value: fromFile, expected: r.expected });
    }
    const ev = env[envName(f.key)];
    if (ev !== undefined) {
      const r = f.kind.parse(ev);
      if (r.ok) {
        value = r.value;
        source = `env ${envName(f.key)}`;
      } else issues.push({ key: f.key, source: `env ${envName(f.key)}`, value: ev, expected: r.expected });
    }
    const fv = f.flag ? flags[f.flag] : undefined;
    if (fv !== undefined) {
      const raw = Array.isArray(fv) ? fv.map(String) : String(fv);
      const r = f.kind.parse(raw);
      if (r.ok) {
        value = r.value;
        source = `flag --${f.flag}`;
      } else issues.push({ key: f.key, source: `flag --${f.flag}`, value: fv, expected: r.expected });
    }
    setPath(config, f.key, value);
    sources[f.key] = source;
  };
  for (const f of FIELDS) take(f);

  const cfg = config as unknown as HopliteConfig;
  // Computed default: upstreams from resolv.conf, without Hoplite's own addresses (the
  // reference queried itself forever when they were listed).
  if (cfg.dns.upstreams === null) {
    cfg.dns.upstreams = resolvConfNameservers(opts.resolvConf).filter(
      (u) => !(cfg.dns.listen ?? [DEFAULT_LISTEN]).some((l) => sameEndpoint(u, l, 53)),
    );
    sources['dns.upstreams'] = `default (${opts.resolvConf ?? '/etc/resolv.conf'})`;
  }
  if (issues.length > 0) throw new ConfigError(issues);
  return { config: deepFreeze(cfg), sources };
}

function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null) {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** The config as logged at start: secrets masked (passwords in store URLs). */
export function maskedConfig(config: HopliteConfig): HopliteConfig {
  const copy = JSON.parse(JSON.stringify(config)) as HopliteConfig;
  for (const f of FIELDS) {
    if (!f.secret) continue;
    const v = getPath(copy as unknown as Record<string, unknown>, f.key);
    if (typeof v === 'string') setPath(copy as unknown as Record<string, unknown>, f.key, maskUrl(v));
  }
  return copy;
}

/** `redis://user:secret@host` -> `redis://user:***@host`. */
export function maskUrl(s: string): string {
  return s.replace(/^([a-z+]+:\/\/)([^@/]*)@/i, (_m, scheme: string, cred: string) => {
    const i = cred.indexOf(':');
    return `${scheme}${i >= 0 ? `${cred.slice(0, i)}:***` : '***'}@`;
  });
}
