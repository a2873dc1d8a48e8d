/**
 * Every error @hoplite/vip throws on purpose. Each has a stable `code` (tests and callers match on
 * the code, never on the message) and a message that says what was wrong, the value received, what
 * is accepted and which option or argument to change.
 *
 * docs/vip.md lists every code; test/errors.test.ts keeps that list and `VIP_ERROR_CODES` equal.
 */

export const VIP_ERROR_CODES = [
  'HOPLITE_VIP_BAD_LABEL',
  'HOPLITE_VIP_BAD_NAME',
  'HOPLITE_VIP_BAD_ADDRESS',
  'HOPLITE_VIP_BAD_PORT',
  'HOPLITE_VIP_BAD_POOL',
  'HOPLITE_VIP_BAD_OPTION',
  'HOPLITE_VIP_BAD_STORE_URL',
  'HOPLITE_VIP_BAD_IMPORT',
  'HOPLITE_VIP_POOL_EXHAUSTED',
  'HOPLITE_VIP_ADDRESS_TAKEN',
  'HOPLITE_VIP_ADDRESS_OUTSIDE_POOL',
  'HOPLITE_VIP_STORE_UNAVAILABLE',
  'HOPLITE_VIP_STORE_INCOMPATIBLE',
  'HOPLITE_VIP_CLOSED',
] as const;

export type VipErrorCode = (typeof VIP_ERROR_CODES)[number];

/** Base class: `err instanceof VipError` and `err.code` identify every error of this package. */
export class VipError extends Error {
  readonly code: VipErrorCode;
  /** Structured data about the failure (option, value, pool, ...), safe to log. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: VipErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
  }
}

function quote(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A `VIP*` port label that cannot be parsed. The message quotes the label. */
export class BadLabelError extends VipError {
  constructor(label: string, reason: string, options?: { cause?: unknown; key?: string }) {
    const shown = options?.key !== undefined ? `${options.key}=${label}` : label;
    super(
      'HOPLITE_VIP_BAD_LABEL',
      `bad VIP label ${quote(shown)}: ${reason}; expected <name-or-ip>:<port>, e.g. "/myapp:5555", "10.1.2.3:80" or "[fd00::1]:80", port 1-65535`,
      { label, reason, ...(options?.key !== undefined ? { key: options.key } : {}) },
      options,
    );
  }
}

/** A VIP name (or framework) that normalizes to nothing or gives an invalid DNS name. */
export class BadNameError extends VipError {
  constructor(what: 'name' | 'framework', value: unknown, reason: string) {
    super(
      'HOPLITE_VIP_BAD_NAME',
      `bad VIP ${what} ${quote(value)}: ${reason}; a ${what} needs at least one letter, digit, "-" or "_" and gives a DNS name of at most 253 characters`,
      { what, value, reason },
    );
  }
}

/** An address argument (reserve, get, IP VIP) that is not a valid IPv4/IPv6 address. */
export class BadAddressError extends VipError {
  constructor(argument: string, value: unknown, reason: string) {
    super('HOPLITE_VIP_BAD_ADDRESS', `bad ${argument} ${quote(value)}: ${reason}; expected a dotted IPv4 address such as "10.1.2.3"`, {
      argument,
      value,
      reason,
    });
  }
}

/** A port or protocol outside what a VIP accepts. */
export class BadPortError extends VipError {
  constructor(argument: string, value: unknown, reason: string) {
    super('HOPLITE_VIP_BAD_PORT', `bad ${argument} ${quote(value)}: ${reason}; expected a port 1-65535 and protocol "tcp" or "udp"`, {
      argument,
      value,
      reason,
    });
  }
}

/** A pool option (`pools`, `ipv6Pool`, `exclude`) that is refused. Names the option and value. */
export class BadPoolError extends VipError {
  constructor(option: string, value: unknown, reason: string) {
    super('HOPLITE_VIP_BAD_POOL', `bad pool option ${option}=${quote(value)}: ${reason}`, { option, value, reason });
  }
}

/** Any other option of the factory or a store that is refused. */
export class BadOptionError extends VipError {
  constructor(option: string, value: unknown, accepted: string) {
    super('HOPLITE_VIP_BAD_OPTION', `bad option ${option}=${quote(value)}; accepted: ${accepted}`, { option, value, accepted });
  }
}

/** A `store` string that is neither "embedded", a path, nor a Redis URL form we accept. */
export class BadStoreUrlError extends VipError {
  constructor(value: string, reason: string) {
    super(
      'HOPLITE_VIP_BAD_STORE_URL',
      `bad store ${quote(value)}: ${reason}; accepted: "embedded", "embedded:<path>", a file path, ` +
        `redis://[user:pass@]host[:port][/db], rediss://..., redis+sentinel://[user:pass@]host:port[,host:port...]/<master>[/db], ` +
        `redis+cluster://host:port[,host:port...]`,
      { value, reason },
    );
  }
}

/** An import that fails validation. Nothing was changed. `problems` lists every problem found. */
export class BadImportError extends VipError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    const shown = problems.slice(0, 10).join('; ') + (problems.length > 10 ? `; ... and ${problems.length - 10} more` : '');
    super('HOPLITE_VIP_BAD_IMPORT', `import refused, nothing changed: ${problems.length} problem(s): ${shown}`, {
      problems,
    });
    this.problems = problems;
  }
}

/** No free address left in any pool. Names the pools and their size. */
export class PoolExhaustedError extends VipError {
  constructor(name: string, pools: readonly { cidr: string; size: number }[]) {
    const total = pools.reduce((n, p) => n + p.size, 0);
    const list = pools.map((p) => `${p.cidr} (${p.size} addresses)`).join(', ');
    super(
      'HOPLITE_VIP_POOL_EXHAUSTED',
      `no free VIP address for ${quote(name)}: pool(s) ${list || '(none)'} exhausted, ${total} addresses in all ` +
        `(used or quarantined); add a pool (option pools), shorten quarantineMs or release VIPs`,
      { name, pools: pools.map((p) => ({ cidr: p.cidr, size: p.size })), size: total },
    );
  }
}

/** The address asked for (reserve, IP VIP) is held by another VIP or by another name's quarantine. */
export class AddressTakenError extends VipError {
  constructor(address: string, name: string, heldBy: string, reason: 'used' | 'quarantined', until?: number) {
    super(
      'HOPLITE_VIP_ADDRESS_TAKEN',
      reason === 'used'
        ? `address ${address} asked for ${quote(name)} is already the VIP of ${quote(heldBy)}; release it first or choose another address`
        : `address ${address} asked for ${quote(name)} is in quarantine for ${quote(heldBy)} until ${new Date(until ?? 0).toISOString()}; wait, or choose another address`,
      { address, name, heldBy, reason, ...(until !== undefined ? { until } : {}) },
    );
  }
}

/** The address asked for (reserve) is not inside any configured pool, or is excluded. */
export class AddressOutsidePoolError extends VipError {
  constructor(address: string, pools: readonly string[]) {
    super(
      'HOPLITE_VIP_ADDRESS_OUTSIDE_POOL',
      `address ${address} is not inside any VIP pool (${pools.join(', ') || 'none'}), or is a network, broadcast or excluded address; ` +
        `choose an address inside the pools or add a pool (option pools)`,
      { address, pools },
    );
  }
}

/** The store cannot be reached or locked in time (Redis down, SQLite busy past busyTimeoutMs, file unreadable). */
export class StoreUnavailableError extends VipError {
  constructor(store: string, reason: string, options?: { cause?: unknown }) {
    super('HOPLITE_VIP_STORE_UNAVAILABLE', `VIP store ${store} unavailable: ${reason}`, { store, reason }, options);
  }
}

/** The store holds data from a newer schema or another program. */
export class StoreIncompatibleError extends VipError {
  constructor(store: string, reason: string) {
    super('HOPLITE_VIP_STORE_INCOMPATIBLE', `VIP store ${store} cannot be used: ${reason}`, { store, reason });
  }
}

/** A method was called after close(). */
export class ClosedError extends VipError {
  constructor(what: string) {
    super('HOPLITE_VIP_CLOSED', `${what} is closed; create a new one`, { what });
  }
}

export function isVipError(err: unknown): err is VipError {
  return err instanceof VipError;
}
