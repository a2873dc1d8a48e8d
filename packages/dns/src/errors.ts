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
