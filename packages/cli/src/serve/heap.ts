/**
 * V8's heap, kept small for the resolver (issue 4: 100,000 VIPs under 150 MB RSS). Two defaults,
 * set by the binary at start with `v8.setFlagsFromString`, so that every way of starting it
 * (`npm start`, `node packages/cli/dist/bin.js serve`, the systemd unit) gets them:
 *
 * - The young generation stays at its initial size (1-2 MB semi-spaces). V8 doubles it, up to
 *   16 MB per semi-space (32 MB for the pair on 64-bit), each time the bytes surviving scavenges
 *   since the last growth exceed its size: streaming a 100k-VIP snapshot grows it to the maximum
 *   within a second, and V8 gives the pages back only when it judges the process idle, which a
 *   resolver answering queries rarely is. How: `--semi-space-growth-factor=1`. V8 reads the factor
 *   each time it would grow; the command line cannot say 1 (V8 raises a value below 2 to 2 when it
 *   sets up the heap), set afterwards the value is used as is. Cost: more, smaller scavenges, about
 *   0.5 us of CPU per DNS query under load (bench/vip-zone, `--trace-gc`).
 * - The old generation grows by 20 % of what survived the last full GC before the next one
 *   (`--heap-growing-percent=20`) instead of V8's dynamic factor (up to 4x when allocating fast).
 *   A resync builds a whole new table beside the one answering (about 15 MB of maps that become
 *   garbage at the swap); with V8's factor each resync after a Redis blip added 20-40 MB of RSS
 *   before a full GC came. Cost: a few more full GCs, each a few ms with a 100k table.
 *
 * Node flags about the same things given by the user (`node --max-semi-space-size=N`, in
 * NODE_OPTIONS too) win: then that default is left alone. A Node whose V8 ignores the call keeps
 * V8's defaults.
 */
import { setFlagsFromString } from 'node:v8';

/** The V8 flags serve sets, each with the user flags that replace it. */
export const HEAP_DEFAULTS: ReadonlyArray<{ readonly flag: string; readonly userFlags: RegExp }> = [
  {
    flag: '--semi-space-growth-factor=1',
    userFlags: /--(?:max|min)[-_]semi[-_]space[-_]size|--semi[-_]space[-_]growth[-_]factor|--(?:max|min)[-_]young[-_]generation[-_]size/,
  },
  {
    flag: '--heap-growing-percent=20',
    userFlags: /--heap[-_]growing[-_]percent/,
  },
];

/** The flags to set: the defaults the user's node flags (argv, NODE_OPTIONS) do not replace. */
export function heapFlags(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const given = [...execArgv, nodeOptions ?? ''].join(' ');
  return HEAP_DEFAULTS.filter((d) => !d.userFlags.test(given)).map((d) => d.flag);
}

/** Set the heap defaults (see above). Returns the flags set. */
export function applyHeapDefaults(execArgv: readonly string[], nodeOptions: string | undefined): string[] {
  const flags = heapFlags(execArgv, nodeOptions);
  for (const f of flags) setFlagsFromString(f);
  return flags;
}
