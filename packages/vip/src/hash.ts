/**
 * The preferred address of a VIP: reproducible from the name alone, so that a store rebuilt from
 * nothing gives most names their old addresses.
 *
 *   h     = the first 6 bytes (48 bits) of SHA-256(UTF-8 normalized DNS name), read big-endian
 *   index = h mod layout.size
 *   preferred = the address at `index` in the pool ranges laid end to end in address order
 *               (network, broadcast and exclusions already removed)
 *
 * On a collision the allocator takes the next free address above, wrapping to the start of the
 * first range. docs/vip.md has a worked example that test/hash.test.ts checks.
 */
import { createHash } from 'node:crypto';
import { addressAt } from './pools.js';
import type { PoolLayout } from './types.js';

/** The first 48 bits of SHA-256(name), as a non-negative integer below 2^48. */
export function nameHash(name: string): number {
  return createHash('sha256').update(name, 'utf8').digest().readUIntBE(0, 6);
}

/** The preferred IPv4 address (unsigned integer) of a normalized VIP name under a layout. */
export function preferredAddress(name: string, layout: PoolLayout): number {
  return addressAt(layout, nameHash(name) % layout.size);
}
