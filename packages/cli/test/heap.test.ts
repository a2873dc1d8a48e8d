import t from 'tap';
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { HEAP_DEFAULTS, heapFlags } from '../src/serve/heap.js';

const DIST_HEAP = fileURLToPath(new URL('../dist/serve/heap.js', import.meta.url));
const YOUNG = HEAP_DEFAULTS[0]!.flag;
const GROWING = HEAP_DEFAULTS[1]!.flag;

t.test('each default is set unless the node flags replace it', async (t) => {
  t.same(heapFlags([], undefined), [YOUNG, GROWING]);
  t.same(heapFlags(['--enable-source-maps'], '--conditions=x'), [YOUNG, GROWING]);
  t.same(heapFlags(['--max-semi-space-size=8'], undefined), [GROWING]);
  t.same(heapFlags(['--max_semi_space_size', '8'], undefined), [GROWING]);
  t.same(heapFlags([], '--min-semi-space-size=4 --enable-source-maps'), [GROWING]);
  t.same(heapFlags(['--semi-space-growth-factor=2'], undefined), [GROWING]);
  t.same(heapFlags([], '--max-young-generation-size=32'), [GROWING]);
  t.same(heapFlags(['--heap-growing-percent=50'], undefined), [YOUNG]);
  t.same(heapFlags(['--heap_growing_percent=50', '--max-semi-space-size=2'], undefined), []);
});

// The V8 behaviour serve relies on, in a fresh Node (the built module, as the binary runs it):
// with the defaults set, a process keeping some of what it allocates stays at the young
// generation it had then (1-2 MB semi-spaces: V8 may grow once while Node starts); without them
// V8 grows to its maximum (16 MB semi-spaces); a user's flag is left alone.
t.test('a fresh node keeps a small young generation', async (t) => {
  const script = `
    import v8 from 'node:v8';
    const { applyHeapDefaults } = await import(${JSON.stringify(pathToFileURL(DIST_HEAP).href)});
    const flags = process.env.APPLY === '1' ? applyHeapDefaults(process.execArgv, undefined) : [];
    const keep = [];
    for (let i = 0; i < 2e6; i++) { const o = { a: i, b: 'x' + i }; if (i % 3 === 0) keep.push(o); if (keep.length > 200000) keep.length = 0; }
    const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
    console.log(JSON.stringify({ flags, newSpaceMB: s.space_size / 1048576 }));`;
  const run = (apply: boolean, nodeArgs: string[] = []) =>
    JSON.parse(execFileSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], { env: { PATH: process.env['PATH'] ?? '', APPLY: apply ? '1' : '0' }, encoding: 'utf8', timeout: 60000 })) as { flags: string[]; newSpaceMB: number };
  const limited = run(true);
  t.same(limited.flags, [YOUNG, GROWING]);
  t.ok(limited.newSpaceMB <= 4, `new space ${limited.newSpaceMB} MB with the defaults`);
  const grown = run(false);
  t.ok(grown.newSpaceMB > 4, `new space ${grown.newSpaceMB} MB without them (V8's default grows)`);
  const user = run(true, ['--max-semi-space-size=4']);
  t.same(user.flags, [GROWING], "the user's young-generation flag wins");
  t.ok(user.newSpaceMB > 2 && user.newSpaceMB <= 8, `new space ${user.newSpaceMB} MB with --max-semi-space-size=4`);
});
