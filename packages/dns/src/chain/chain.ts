/**
 * Compose the chain once, at start-up, from an ordered list of stages (CoreDNS style): each
 * stage answers the query or hands it to the next; after the last stage, `terminal` answers.
 */
import type { Answer, Next, Query, Stage, ZoneRoute } from './stage.js';
import { errorResponse } from '../wire/response.js';
import { Rcode } from '../wire/constants.js';

/** The query path: `(query) => Answer`, composed from `stages` in order. */
export function composeChain(stages: readonly Stage[], terminal: Next): Next {
  let next: Next = terminal;
  for (let i = stages.length - 1; i >= 0; i--) {
    const stage = stages[i]!;
    const after = next;
    next = (q: Query): Answer => stage.handle(q, after);
  }
  return next;
}

/** The routes every stage declares, in stage order (the router's table). */
export function collectRoutes(stages: readonly Stage[]): ZoneRoute[] {
  const out: ZoneRoute[] = [];
  for (const s of stages) if (s.routes) out.push(...s.routes);
  return out;
}

/**
 * The end of the chain: no stage answered (no stage serves that route, e.g. no upstreams
 * configured): REFUSED, with an OPT record advertising `udpSize` when the query had EDNS.
 */
export function refusedTerminal(udpSize: number): Next {
  return (q: Query): Answer => errorResponse(q, Rcode.REFUSED, udpSize);
}
