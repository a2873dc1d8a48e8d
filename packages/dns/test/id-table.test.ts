import t from 'tap';
import { IdTable, TombstoneRing } from '../src/exchange/id-table.js';

/** A small deterministic PRNG (xorshift32), so that a failure can be replayed. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

t.test('IdTable: random set/delete/get against a Map, through growth and wrap-around probe chains', async (t) => {
  for (const seed of [1, 2, 3, 4]) {
    const rnd = prng(seed);
    const table = new IdTable<number>();
    const model = new Map<number, number>();
    // IDs drawn from a narrow range half the time, so that probe chains collide and wrap.
    const id = () => (rnd() < 0.5 ? Math.floor(rnd() * 65536) : 65500 + Math.floor(rnd() * 36) + (rnd() < 0.5 ? 0 : -65500));
    let mismatches = 0;
    for (let step = 0; step < 60_000; step++) {
      const k = id();
      const op = rnd();
      // Grow to a few thousand entries, then shrink back, then grow again.
      const phase = Math.floor(step / 15_000) % 2;
      if (op < (phase === 0 ? 0.6 : 0.35)) {
        table.set(k, step);
        model.set(k, step);
      } else {
        if (table.delete(k) !== model.delete(k)) mismatches++;
      }
      const probe = id();
      if (table.get(probe) !== model.get(probe) || table.has(probe) !== model.has(probe)) mismatches++;
      if (table.size !== model.size) mismatches++;
    }
    t.equal(mismatches, 0, `seed ${seed}: every get/has/delete/size agreed with a Map`);
    for (const [k, v] of model) if (table.get(k) !== v) mismatches++;
    t.equal(mismatches, 0, `seed ${seed}: every key of the Map found with its value`);
    t.same(table.values().sort((a, b) => a - b), [...model.values()].sort((a, b) => a - b), `seed ${seed}: values()`);
    table.clear();
    t.equal(table.size, 0);
    t.equal(table.get([...model.keys()][0]!), undefined, 'clear() forgets');
  }
});

t.test('IdTable: keys 0 and 65535, replacing a value, deleting what is not there', async (t) => {
  const table = new IdTable<string>(4);
  t.equal(table.delete(0), false);
  table.set(0, 'a');
  table.set(65535, 'b');
  table.set(0, 'c');
  t.equal(table.size, 2);
  t.equal(table.get(0), 'c');
  t.equal(table.get(65535), 'b');
  t.equal(table.delete(65535), true);
  t.equal(table.delete(65535), false);
  t.equal(table.has(65535), false);
  // Every ID at once: the table holds all 65536.
  for (let i = 0; i < 65536; i++) table.set(i, String(i));
  t.equal(table.size, 65536);
  let wrong = 0;
  for (let i = 0; i < 65536; i++) if (table.get(i) !== String(i)) wrong++;
  t.equal(wrong, 0);
  for (let i = 0; i < 65536; i += 2) table.delete(i);
  for (let i = 0; i < 65536; i++) if (table.has(i) !== (i % 2 === 1)) wrong++;
  t.equal(wrong, 0, 'half deleted, the other half still found');
});

t.test('TombstoneRing: FIFO through growth while wrapped; fields kept per sequence number', async (t) => {
  const ring = new TombstoneRing(16);
  const rnd = prng(9);
  const model: Array<[number, number, number, number, number]> = [];
  let head = 0;
  let wrong = 0;
  let most = 0;
  for (let step = 0; step < 20_000; step++) {
    // Pushes outnumber shifts for a while (the ring grows while its head is mid-array), then not.
    const pushP = step < 10_000 ? 0.6 : 0.4;
    if (rnd() < pushP || ring.length === 0) {
      const rec: [number, number, number, number, number] = [0, Math.floor(rnd() * 65536), 1000 + step + rnd(), Math.floor(rnd() * 0x7fffffff) - 0x3fffffff, 17 + Math.floor(rnd() * 300)];
      rec[0] = ring.push(rec[1], rec[2], rec[3], rec[4]);
      if (rec[0] !== model.length) wrong++;
      model.push(rec);
    } else {
      ring.head++;
      head++;
    }
    if (ring.length !== model.length - head) wrong++;
    most = Math.max(most, ring.length);
    if (ring.length > 0) {
      const k = head + Math.floor(rnd() * ring.length);
      const [seq, id, expiry, hash, qe] = model[k]!;
      if (ring.id(seq) !== id || ring.expiry(seq) !== expiry || ring.hash(seq) !== hash || ring.questionEnd(seq) !== qe) wrong++;
    }
  }
  t.equal(wrong, 0, 'every tombstone read back as written, in order');
  t.ok(most > 1000, `the ring grew far past its first capacity (to ${most}) and emptied again`);
  t.ok(ring.length < most, 'and shrank in use');
});
