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
