/**
 * Coded errors of @hoplite/cli. The binary prints them as `error [CODE]: message` and exits
 * with the error's exit code (2 bad input, 1 runtime failure). docs/cli.md lists every code.
 */

export class HopliteCliError extends Error {
  readonly code: string;
  /** Process exit code: 2 for bad input (usage, config), 1 for runtime failures. */
  readonly exitCode: number;
  constructor(code: string, message: string, exitCode: number, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.exitCode = exitCode;
    this.name = 'HopliteCliError';
  }
}

/** One problem in the merged configuration. */
export interface ConfigIssue {
  /** Dotted key, e.g. `dns.listen`. */
  readonly key: string;
  /** Where the value came from: `default`, `file <path>`, `env HOPLITE_X`, `flag --x`. */
  readonly source: string;
  readonly value: unknown;
  /** What is accepted. */
  readonly expected: string;
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

export function formatIssue(i: ConfigIssue): string {
  return `${i.key} = ${show(i.value)} (from ${i.source}): expected ${i.expected}`;
}

/** Every problem of a configuration, reported at once. */
export class ConfigError extends HopliteCliError {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: readonly ConfigIssue[]) {
    const lines = issues.map(formatIssue);
    super(
      'HOPLITE_CONFIG',
      issues.length === 1 ? `invalid config: ${lines[0]}` : `invalid config (${issues.length} problems):\n  ${lines.join('\n  ')}`,
      2,
    );
    this.issues = issues;
  }
}

/** A config file that cannot be read or parsed. */
export class ConfigFileError extends HopliteCliError {
  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super('HOPLITE_CONFIG_FILE', `cannot use config file ${JSON.stringify(path)}: ${reason}`, 2, options);
  }
}

/** Bad command-line usage (unknown command, missing argument). */
export class UsageError extends HopliteCliError {
  constructor(message: string) {
    super('HOPLITE_USAGE', message, 2);
  }
}
