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

// ---------------------------------------------------------------- hoplite vip

/** A file (or standard input) given to a command that cannot be read or is not valid JSON. */
export class InputFileError extends HopliteCliError {
  constructor(path: string, what: string, reason: string, options?: { cause?: unknown }) {
    super('HOPLITE_INPUT_FILE', `cannot use ${path} as ${what}: ${reason}`, 2, options);
  }
}

/** A Marathon app definition (`hoplite vip from-app`) of the wrong shape or with malformed VIP labels; nothing was allocated. */
export class BadAppError extends HopliteCliError {
  readonly problems: readonly string[];
  constructor(source: string, problems: readonly string[]) {
    const shown = problems.slice(0, 20).map((p) => `\n  ${p}`).join('') + (problems.length > 20 ? `\n  ... and ${problems.length - 20} more` : '');
    super('HOPLITE_BAD_APP', `app definition ${source} refused, nothing allocated (${problems.length} problem(s)):${shown}`, 2);
    this.problems = problems;
  }
}

/** `hoplite vip get` of a name or address that holds no VIP. */
export class VipNotFoundError extends HopliteCliError {
  constructor(what: string, hint: string) {
    super('HOPLITE_NOT_FOUND', `no VIP ${what}${hint ? `; ${hint}` : ''}`, 1);
  }
}

/** `hoplite vip check` found problems that remain (after `--repair`, those it could not mend). */
export class CheckFailedError extends HopliteCliError {
  constructor(remaining: number, advice: string) {
    super('HOPLITE_CHECK_FAILED', `the VIP table has ${remaining} problem(s); ${advice}`, 1);
  }
}

/** `hoplite vip export --output FILE` could not write the file. */
export class OutputFileError extends HopliteCliError {
  constructor(path: string, reason: string, options?: { cause?: unknown }) {
    super('HOPLITE_OUTPUT_FILE', `cannot write ${path}: ${reason}; choose another --output`, 1, options);
  }
}
