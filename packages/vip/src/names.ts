/**
 * VIP names: `<name>.<framework>.l4lb.thisdcos.directory`, each part normalized as the reference
 * (dcos-l4lb) did, so that names stay what DC/OS users know:
 *
 *   1. lowercase;
 *   2. `_` becomes `-`;
 *   3. every character outside `[a-z0-9-]` is dropped (`/`, `.`, spaces, non-ASCII...);
 *   4. leading and trailing `-` trimmed;
 *   5. cut to 63 characters (one DNS label), then trailing `-` trimmed again so the label stays valid.
 *
 * `/mygroup/myapp` -> `mygroupmyapp.marathon.l4lb.thisdcos.directory`. The framework defaults to
 * `marathon`. A part that normalizes to nothing, or a DNS name past 253 characters, is refused
 * (HOPLITE_VIP_BAD_NAME). The normalized DNS name is the VIP's key: raw names that normalize alike
 * share one VIP.
 */
import { BadNameError } from './errors.js';

/** The zone VIP names live in. */
export const VIP_ZONE = 'l4lb.thisdcos.directory';
export const DEFAULT_FRAMEWORK = 'marathon';
const MAX_LABEL = 63;
const MAX_NAME = 253;

export interface VipName {
  /** Full DNS name, no trailing dot: `mygroupmyapp.marathon.l4lb.thisdcos.directory`. The key. */
  readonly name: string;
  /** Normalized name part: `mygroupmyapp`. */
  readonly label: string;
  /** Normalized framework: `marathon`. */
  readonly framework: string;
}

/** Normalize one part (name or framework) to a DNS label. Throws BadNameError when nothing is left. */
export function normalizePart(raw: string, what: 'name' | 'framework' = 'name'): string {
  if (typeof raw !== 'string') throw new BadNameError(what, raw, 'not a string');
  let s = raw
    .toLowerCase()
    .replace(/_/g, '-')
    .replace(/[^a-z0-9-]/g, '');
  s = s.replace(/^-+/, '').replace(/-+$/, '');
  if (s.length > MAX_LABEL) s = s.slice(0, MAX_LABEL).replace(/-+$/, '');
  if (s === '') throw new BadNameError(what, raw, 'normalizes to an empty label');
  return s;
}

const SUFFIX = `.${VIP_ZONE}`;

/**
 * The VIP name for a raw name (`/mygroup/myapp`, `myapp`) and framework (default `marathon`).
 * A full VIP DNS name (`myapp.marathon.l4lb.thisdcos.directory`, trailing dot allowed) is accepted
 * as well and taken apart; a `framework` given beside it must agree.
 */
export function vipName(raw: string, framework?: string): VipName {
  if (typeof raw !== 'string') throw new BadNameError('name', raw, 'not a string');
  const full = parseVipDnsName(raw);
  if (full !== undefined) {
    if (framework !== undefined && normalizePart(framework, 'framework') !== full.framework) {
      throw new BadNameError('framework', framework, `it differs from the framework "${full.framework}" inside the full name "${raw}"`);
    }
    return full;
  }
  const label = normalizePart(raw, 'name');
  const fw = normalizePart(framework ?? DEFAULT_FRAMEWORK, 'framework');
  const name = `${label}.${fw}${SUFFIX}`;
  if (name.length > MAX_NAME) throw new BadNameError('name', raw, `the DNS name "${name}" is longer than ${MAX_NAME} characters`);
  return { name, label, framework: fw };
}

/**
 * Take apart a full VIP DNS name `<label>.<framework>.l4lb.thisdcos.directory` (case-insensitive,
 * trailing dot allowed). Returns undefined when `text` does not end with the VIP zone. Throws
 * BadNameError when it does but is not exactly two labels in front of the zone.
 */
export function parseVipDnsName(text: string): VipName | undefined {
  let s = text.trim().toLowerCase();
  if (s.endsWith('.')) s = s.slice(0, -1);
  if (!s.endsWith(SUFFIX)) return undefined;
  if (s.length > MAX_NAME) throw new BadNameError('name', text, `longer than ${MAX_NAME} characters`);
  const head = s.slice(0, -SUFFIX.length).split('.');
  if (head.length !== 2) {
    throw new BadNameError('name', text, `a full VIP name is <name>.<framework>.${VIP_ZONE}, with exactly two labels before the zone`);
  }
  const label = normalizePart(head[0] as string, 'name');
  const framework = normalizePart(head[1] as string, 'framework');
  return { name: `${label}.${framework}${SUFFIX}`, label, framework };
}

/** True when `name` is already a normalized full VIP DNS name (the form stores keep). */
export function isNormalizedVipName(name: string): boolean {
  try {
    const parsed = parseVipDnsName(name);
    return parsed !== undefined && parsed.name === name;
  } catch {
    return false;
  }
}
