/**
 * Policy only: which servers a query asks, in which order, and how many at once. The mechanics
 * (sending, checking replies, TCP retry) are in exchange/, health bookkeeping in health/.
 *
 * - parallel: `parallelism` (default 2) healthy servers at once, the ones with the fewest recent
 *   failures first (ties broken at random); each failed or bad answer starts the next server.
 * - sequential: healthy servers in the configured order, one at a time.
 * - random: healthy servers in a random order, one at a time.
 *
 * Servers marked down are left out; when every server is down the query fails fast (SERVFAIL)
 * while probes find out when they are back.
 */
import type { HealthTracked } from '../health/checker.js';
import { shuffle, type RandomSource } from '../exchange/random.js';
import type { ForwardPolicy } from './config.js';

/** The servers to ask, in order (do not modify it: it may be `servers` itself); empty when every server is down. */
export function orderServers<S extends HealthTracked>(policy: ForwardPolicy, servers: readonly S[], random: RandomSource, now: number): readonly S[] {
  if (servers.length === 1 && servers[0]!.health.up) return servers;
  const up: S[] = [];
  for (const s of servers) if (s.health.up) up.push(s);
  if (policy === 'sequential' || up.length <= 1) return up;
  shuffle(up, random);
  if (policy === 'random') return up;
  // parallel: fewest recent failures first (whole failures: a server that failed once a while ago
  // and one that never failed are equals).
  let ranked = false;
  const rank = new Array<number>(up.length);
  for (let i = 0; i < up.length; i++) {
    rank[i] = Math.round(up[i]!.health.failureScore(now));
    if (rank[i] !== 0) ranked = true;
  }
  if (!ranked) return up;
  const idx = up.map((_, i) => i).sort((a, b) => rank[a]! - rank[b]! || a - b);
  return idx.map((i) => up[i]!);
}

/** How many servers a query asks at once. */
export function concurrency(policy: ForwardPolicy, parallelism: number): number {
  return policy === 'parallel' ? parallelism : 1;
}
