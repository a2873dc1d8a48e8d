/** The pure interval arithmetic and problem finding behind the Redis store's check(). */
import t from 'tap';
import { expectedFree, findProblems, normalize, subtract, type Dump } from '../src/redis/check.js';

t.test('normalize merges overlapping and touching intervals', async (t) => {
  t.same(normalize([[5, 9], [1, 3], [4, 4], [20, 30], [25, 26], [8, 2]]), [[1, 9], [20, 30]]);
  t.same(normalize([]), []);
});

t.test('subtract', async (t) => {
  t.same(subtract([[1, 10]], [[3, 4], [7, 7]]), [[1, 2], [5, 6], [8, 10]]);
  t.same(subtract([[1, 10]], [[0, 20]]), []);
  t.same(subtract([[1, 10], [20, 30]], [[5, 25]]), [[1, 4], [26, 30]]);
  t.same(subtract([[1, 3]], []), [[1, 3]]);
  t.same(subtract([[1, 3]], [[4, 9]]), [[1, 3]]);
});

t.test('expectedFree: layout minus taken addresses', async (t) => {
  t.same(expectedFree([[1, 6], [10, 12]], [1, 3, 11, 99]), [[2, 2], [4, 6], [10, 10], [12, 12]]);
});

const base: Dump = {
  revision: 2,
  schema: '1',
  layout: 'L',
  vips: [
    ['a', JSON.stringify({ name: 'a', kind: 'named', label: 'a', framework: 'f', a: 1, ports: [], pinned: false, cr: 1, ur: 1 })],
    ['b', JSON.stringify({ name: 'b', kind: 'named', label: 'b', framework: 'f', a: 2, ports: {}, pinned: false, cr: 2, ur: 2 })],
  ],
  used: [
    ['a', 1],
    ['b', 2],
  ],
  free: [[4, 6]],
  ranges: [[1, 6]],
  quarantine: [[3, 100]],
  qname: [['3', 'c']],
  qbyname: [['c', '3']],
  feedRevision: 2,
  pools: '',
};

t.test('a consistent dump has no problems', async (t) => {
  t.same(findProblems(base), []);
});

t.test('each kind of damage', async (t) => {
  const codes = (d: Partial<Dump>) => findProblems({ ...base, ...d }).map((p) => p.code).sort();
  // Stored pools that describe another layout (an older Hoplite rewrote the layout): LAYOUT_DIFFERS.
  const fingerprint = JSON.stringify([[1, 6, '0.0.0.0/29']]);
  const pools = (layout: string) => JSON.stringify({ v: 1, layout, key: 'k', config: { pools: ['0.0.0.0/29'], exclude: [], allowNonPrivate: true } });
  t.same(codes({ layout: fingerprint, pools: pools('[[1,2,"0.0.0.0/29"]]') }), ['LAYOUT_DIFFERS']);
  t.same(codes({ layout: fingerprint, pools: 'not json' }), ['LAYOUT_DIFFERS']);
  t.same(codes({ layout: fingerprint, pools: '' }), [], 'no stored pools (an older Hoplite): nothing to compare');
  t.same(codes({ schema: '', layout: '' }), ['NOT_INITIALIZED']);
  t.same(codes({ vips: [...base.vips, ['x', 'not json']] }), ['RECORD_UNREADABLE']);
  t.same(codes({ vips: [...base.vips, ['d', base.vips[0]![1].replace('"a"', '"d"').replace('"label":"a"', '"label":"d"')]], used: [...base.used, ['d', 1]] }), ['DUPLICATE_ADDRESS']);
  t.same(codes({ used: [['a', 1]] }), ['INDEX_MISMATCH']);
  t.same(codes({ qname: [] }), ['FREE_LEAK', 'QUARANTINE_MISMATCH']);
  t.same(codes({ free: [[3, 6]] }), ['FREE_OVERLAP']);
  t.same(codes({ free: [[4, 6], [5, 5]] }), ['FREE_FRAGMENTED']);
  t.same(codes({ free: [[4, 7]] }), ['FREE_OUTSIDE_POOL']);
  t.same(codes({ free: [[5, 6]] }), ['FREE_LEAK']);
  t.same(codes({ revision: 1 }), ['REVISION_BEHIND']);
  t.same(codes({ ranges: [[2, 6]], free: [[4, 6]] }), ['OUTSIDE_POOL']);
});
