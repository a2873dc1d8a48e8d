/**
 * Coded errors of @hoplite/dns. One class per code; `code` is stable (tests and docs use it),
 * the message names the option at fault, echoes the value received and says what is accepted.
 * docs/dns.md lists every code; a test keeps that list true.
 *
 * Nothing here is thrown on the query path: a query gets FORMERR / SERVFAIL / REFUSED instead.
 */

export class HopliteDnsError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'HopliteDnsError';
  }
}

/** One problem found while validating a config; all problems are reported at once. */
export interface ConfigProblem {
  /** Dotted path of the key, e.g. `upstreams.servers[1]`. */
  readonly key: string;
  /** The value received (as given). */
  readonly value: unknown;
  /** What is accepted. */
  readonly expected: string;
}

function describe(p: ConfigProblem): string {
  let v: string;
  try {
    v = JSON.stringify(p.value) ?? String(p.value);
  } catch {
    v = String(p.value);
  }
  return `${p.key}: got ${v}, expected ${p.expected}`;
}

/** Invalid server configuration: carries every problem found. */
export class ConfigError extends HopliteDnsError {
  readonly problems: readonly ConfigProblem[];
  constructor(problems: readonly ConfigProblem[]) {
    super('HOPLITE_DNS_CONFIG', `invalid DNS server config: ${problems.map(describe).join('; ')}`);
    this.problems = problems;
  }
}

// ---- server (listeners, stages) ----

/** A listen address could not be bound (in use, not local, no permission). */
export class ListenError extends HopliteDnsError {
  readonly address: string;
  readonly port: number;
  readonly transport: 'udp' | 'tcp';
  constructor(transport: 'udp' | 'tcp', address: string, port: number, cause: unknown) {
    const reason = cause instanceof Error ? ((cause as NodeJS.ErrnoException).code ?? cause.message) : String(cause);
    super(
      'HOPLITE_DNS_LISTEN',
      `cannot listen on ${transport} ${address} port ${port} (${reason}); change listen[].address / listen[].port ` +
        'to an address of this host and a free port (ports below 1024 need privileges)',
      { cause },
    );
    this.address = address;
    this.port = port;
    this.transport = transport;
  }
}

/** A stage could not be created or started (its cause says why). */
export class StageError extends HopliteDnsError {
  readonly stage: string;
  constructor(stage: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super('HOPLITE_DNS_STAGE', `stage "${stage}" failed to start: ${reason}`, { cause });
    this.stage = stage;
  }
}

// ---- forwarding (masters, upstreams, forward zones) ----

/** One server that is this server's own listen address. */
export interface SelfServer {
  /** The config key, e.g. `upstreams.servers[1]`, `forwardZones.corp.example[0]`, `masters.servers[0]`. */
  readonly key: string;
  /** The server as configured (`ip:port`). */
  readonly server: string;
  /** The listen address it matches (`ip:port`). */
  readonly listen: string;
}

/**
 * An upstream, forward-zone server or master is one of this server's own listen addresses (or a
 * local address while we listen on 0.0.0.0 / ::): every query would loop back to us. Refused at
 * start (the reference queried itself forever).
 */
export class SelfForwardError extends HopliteDnsError {
  readonly servers: readonly SelfServer[];
  constructor(servers: readonly SelfServer[]) {
    const list = servers.map((s) => `${s.key}: got ${s.server}, which is our own listen address ${s.listen}`).join('; ');
    super(
      'HOPLITE_DNS_FORWARD_TO_SELF',
      `forwarding to ourselves would loop: ${list}; expected servers other than this server's listen addresses ` +
        '(remove them from upstreams / forwardZones / masters, or change listen)',
    );
    this.servers = servers;
  }
}

/** The master-list file could not be read or parsed (logged and counted; the last good list stays). */
export class MasterListError extends HopliteDnsError {
  readonly file: string;
  constructor(file: string, reason: string, options?: { cause?: unknown }) {
    super(
      'HOPLITE_DNS_MASTER_LIST',
      `master list ${file}: ${reason}; expected one "ip[:port]" per line (# comments allowed) or a JSON array of them ` +
        '(masters.file)',
      options,
    );
    this.file = file;
  }
}
