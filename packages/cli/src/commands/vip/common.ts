/** Options and helpers shared by the vip subcommands. */
import { isIP } from 'node:net';
import type { Options } from 'yargs';
import { vipName } from '@hoplite/vip';

export const FRAMEWORK_OPTION: Options = {
  type: 'string',
  requiresArg: true,
  describe: 'Framework part of the DNS name (default marathon)',
};

export const PORT_OPTION: Options = {
  // Not `array: true`: an array option would swallow the positional arguments after it.
  // Repeated flags still come as a list.
  type: 'string',
  requiresArg: true,
  describe: 'A port of the VIP: 5555, 5555/tcp, 53/udp (repeat, or comma-separate)',
};

/** `--port 80 --port 53/udp,443` -> ['80', '53/udp', '443']. The library checks each. */
export function portList(ports: unknown): string[] {
  if (ports === undefined || ports === null) return [];
  return (Array.isArray(ports) ? ports : [ports])
    .flatMap((p) => String(p).split(','))
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

/**
 * The name (or address) to pass to the allocator: with `--framework`, a name becomes its full DNS
 * name (release and get take no framework of their own). Addresses pass through.
 */
export function qualify(target: string, framework: string | undefined): string {
  if (framework === undefined || looksLikeAddress(target)) return target;
  return vipName(target, framework).name;
}

export function looksLikeAddress(s: string): boolean {
  const t = s.trim();
  // Also a malformed dotted quad (`172.16.0.300`): the allocator then says what is wrong with it.
  return isIP(t) !== 0 || isIP(t.replace(/^\[(.*)\]$/, '$1')) !== 0 || (/^[0-9.]+$/.test(t) && t.includes('.'));
}
