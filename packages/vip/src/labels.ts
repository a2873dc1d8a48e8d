/**
 * `VIP*` port labels, as Marathon apps carry them: key `VIP_0` (any key starting with `VIP`),
 * value `<name-or-ip>:<port>`, split at the LAST colon.
 *
 *   /myapp:5555          named VIP "/myapp" (normalized later by names.ts)
 *   myapp:5555           named VIP "myapp"
 *   10.1.2.3:80          IPv4 IP VIP
 *   [fd00::1]:80         IPv6 IP VIP (brackets required)
 *
 * The protocol comes from the port definition, not the label: "tcp" (default), "udp", or
 * Marathon's "udp,tcp" / "tcp,udp" (both).
 */
import { Address6 } from 'ip-address';
import { parseIpv4 } from './addr.js';
import { BadLabelError, BadNameError, BadPortError } from './errors.js';
import { normalizePart } from './names.js';
import type { Protocol, VipPort } from './types.js';

export type VipLabel =
  | {
      readonly kind: 'named';
      /** The name as written in the label (e.g. `/mygroup/myapp`), not yet normalized. */
      readonly name: string;
      readonly port: number;
      readonly protocols: readonly Protocol[];
      /** The label value as given. */
      readonly value: string;
    }
  | {
      readonly kind: 'ip';
      readonly family: 4 | 6;
      /** Canonical address text (`10.1.2.3`, `fd00::1`). */
      readonly address: string;
      readonly port: number;
      readonly protocols: readonly Protocol[];
      readonly value: string;
    };

export interface ParseLabelOptions {
  /** The label's key (e.g. `VIP_0`); when given it must start with `VIP`. */
  key?: string;
  /** The port's protocol: `tcp` (default), `udp`, `udp,tcp`. */
  protocol?: string;
}

/** True for label keys that declare a VIP (`VIP`, `VIP_0`, `VIP_web`...). Case-sensitive, as the reference. */
export function isVipLabelKey(key: string): boolean {
  return key.startsWith('VIP');
}

const PORT = /^[0-9]{1,5}$/;

/** Parse a protocol field: `tcp`, `udp`, `udp,tcp`, `tcp,udp` (case-insensitive). Undefined -> tcp. */
export function parseProtocols(protocol: string | undefined): Protocol[] | undefined {
  if (protocol === undefined || protocol.trim() === '') return ['tcp'];
  const out = new Set<Protocol>();
  for (const raw of protocol.split(',')) {
    const p = raw.trim().toLowerCase();
    if (p === 'tcp' || p === 'udp') out.add(p);
    else return undefined;
  }
  return [...out].sort();
}

/** Parse one VIP label value. Throws BadLabelError (HOPLITE_VIP_BAD_LABEL) quoting the label. */
export function parseVipLabel(value: string, opts: ParseLabelOptions = {}): VipLabel {
  const fail = (reason: string, cause?: unknown): never => {
    throw new BadLabelError(String(value), reason, {
      ...(opts.key !== undefined ? { key: opts.key } : {}),
      ...(cause !== undefined ? { cause } : {}),
    });
  };
  if (typeof value !== 'string') fail('the value is not a string');
  if (opts.key !== undefined && !isVipLabelKey(opts.key)) fail(`the key "${opts.key}" does not start with "VIP"`);
  const protocols = parseProtocols(opts.protocol);
  if (protocols === undefined) fail(`protocol "${opts.protocol}" is not tcp, udp or udp,tcp`);
  const text = value.trim();
  const colon = text.lastIndexOf(':');
  if (colon < 0) fail('no ":<port>"');
  const left = text.slice(0, colon);
  const portText = text.slice(colon + 1);
  if (!PORT.test(portText)) fail(`port "${portText}" is not a number 1-65535`);
  const port = Number(portText);
  if (port < 1 || port > 65535) fail(`port ${port} is outside 1-65535`);
  if (left === '') fail('empty name');
  const base = { port, protocols: protocols as Protocol[], value };

  if (left.startsWith('[')) {
    if (!left.endsWith(']')) fail('"[" without a closing "]"');
    const inner = left.slice(1, -1);
    if (inner.includes('/') || inner.includes('%') || !Address6.isValid(inner)) fail(`"${inner}" is not an IPv6 address`);
    return { kind: 'ip', family: 6, address: new Address6(inner).correctForm(), ...base };
  }
  if (left.includes(':')) fail('an IPv6 address must be written in brackets, e.g. "[fd00::1]:80"');
  if (/^[0-9.]+$/.test(left) && left.includes('.')) {
    const n = parseIpv4(left);
    if (n === undefined) fail(`"${left}" looks like an IPv4 address but is not one`);
    return { kind: 'ip', family: 4, address: left, ...base };
  }
  try {
    normalizePart(left, 'name');
  } catch (err) {
    if (err instanceof BadNameError) fail(`the name "${left}" has no letter, digit, "-" or "_"`, err);
    throw err;
  }
  return { kind: 'named', name: left, ...base };
}

/** The VipPorts a label declares (one per protocol). */
export function labelPorts(label: VipLabel): VipPort[] {
  return label.protocols.map((protocol) => ({ port: label.port, protocol }));
}

/**
 * A port as written on a command line or in config: `5555` (tcp), `5555/tcp`, `53/udp`, or a
 * `{ port, protocol }` object. Throws BadPortError (HOPLITE_VIP_BAD_PORT).
 */
export function parsePortSpec(spec: string | number | VipPort): VipPort {
  if (typeof spec === 'object' && spec !== null) {
    const { port, protocol } = spec;
    if (Number.isInteger(port) && port >= 1 && port <= 65535 && (protocol === 'tcp' || protocol === 'udp')) return { port, protocol };
    throw new BadPortError('port', spec, 'not a { port: 1-65535, protocol: "tcp" | "udp" }');
  }
  const text = String(spec).trim();
  const m = /^([0-9]{1,5})(?:\/([A-Za-z]+))?$/.exec(text);
  if (m === null) throw new BadPortError('port', spec, 'expected <port> or <port>/<tcp|udp>, e.g. "5555/tcp"');
  const port = Number(m[1]);
  const protocol = (m[2] ?? 'tcp').toLowerCase();
  if (port < 1 || port > 65535) throw new BadPortError('port', spec, `port ${port} is outside 1-65535`);
  if (protocol !== 'tcp' && protocol !== 'udp') throw new BadPortError('port', spec, `protocol "${m[2]}" is not tcp or udp`);
  return { port, protocol };
}
