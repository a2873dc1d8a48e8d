// One filler process: node fill-worker.mjs <@hoplite/vip module path> <store> <pool,pool> <from> <to> <inflight>
// Allocates vip<from> .. vip<to-1> (framework marathon, port 80/tcp), `inflight` at a time, then
// closes the allocator and exits 0. Allocation is idempotent: a name that exists is left as it is.
import { pathToFileURL } from 'node:url';

const [vipModule, store, pools, fromS, toS, inflightS] = process.argv.slice(2);
const { createAllocator } = await import(pathToFileURL(vipModule).href);
const from = Number(fromS);
const to = Number(toS);
const inflight = Number(inflightS);
const alloc = await createAllocator({ store, pools: pools.split(','), quarantineMs: 0 });
let next = from;
async function lane() {
  while (next < to) {
    const i = next++;
    await alloc.allocate(`vip${i}`, { ports: ['80/tcp'] });
  }
}
try {
  await Promise.all(Array.from({ length: inflight }, lane));
} finally {
  await alloc.close();
}
