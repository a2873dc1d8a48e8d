/**
 * V8's young generation, kept small for the resolver (issue 4: 100,000 VIPs under 150 MB RSS).
 *
 * V8 starts the young generation at 1 MB per semi-space and doubles it, up to 16 MB per
 * semi-space (32 MB for the pair on 64-bit), each time the bytes surviving scavenges since the last
 * growth exceed its size. A long-running process always gets there: streaming a 100k-VIP snapshot
 * grows it to the maximum within a second, and V8 gives the pages back only when it judges the
 * process idle after a full GC, which a resolver answering queries rarely is. Those 32 MB were a
 * fifth of serve's RSS; the resolver's garbage is short-lived (one query, one feed event), so a
 * 1 MB semi-space costs a few more scavenges and no measurable CPU per query (bench/vip-zone).
 *
 * How: the growth factor set to 1 at start (`v8.setFlagsFromString`), so the young generation stays
 * at its initial size. V8 reads the factor each time it would grow (the command line cannot say 1:
 * V8 raises a value below 2 to 2 when it sets up the heap; set afterwards, the value is used as is).
 * Node flags about the young generation given by the user (`node --max-semi-space-size=N`, in
 * NODE_OPTIONS too) win: then nothing is changed. A Node whose V8 ignores the call keeps V8's default.
 */
import { setFlagsFromString } from 'node:v8';

/** The V8 flag serve sets, when the user said nothing about the young generation. */
export const YOUNG_GENERATION_FLAG = '--semi-space-growth-factor=1';

const USER_FLAG = /--(max|min)[-_]semi[-_]space[-_]size|--semi[-_]space[-_]growth[-_]factor|--max[-_]young[-_]generation[-_]size|--min[-_]young[-_]generation[-_]size/;

/** The flag to set, or undefined when the node flags already speak of the young generation. */
export function youngGenerationFlag(execArgv: readonly string[], nodeOptions: string | undefined): string | undefined {
  if (execArgv.some((a) => USER_FLAG.test(a)) || USER_FLAG.test(nodeOptions ?? '')) return undefined;
  return YOUNG_GENERATION_FLAG;
}

/** Keep the young generation at its initial size (see above). Returns the flag set, if any. */
export function limitYoungGeneration(execArgv: readonly string[], nodeOptions: string | undefined): string | undefined {
  const flag = youngGenerationFlag(execArgv, nodeOptions);
  if (flag !== undefined) setFlagsFromString(flag);
  return flag;
}
