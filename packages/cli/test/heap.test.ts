import t from 'tap';
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { YOUNG_GENERATION_FLAG, youngGenerationFlag } from '../src/serve/heap.js';

const DIST_HEAP = fileURLToPath(new URL('../dist/serve/heap.js', import.meta.url));

t.test('the flag is set unless the node flags speak of the young generation', async (t) => {
  t.equal(youngGenerationFlag([], undefined), YOUNG_GENERATION_FLAG);
  t.equal(youngGenerationFlag(['--enable-source-maps'], '--conditions=x'), YOUNG_GENERATION_FLAG);
  t.equal(youngGenerationFlag(['--max-semi-space-size=8'], undefined), undefined);
  t.equal(youngGenerationFlag(['--max_semi_space_size', '8'], undefined), undefined);
  t.equal(youngGenerationFlag([], '--min-semi-space-size=4 --enable-source-maps'), undefined);
  t.equal(youngGenerationFlag(['--semi-space-growth-factor=2'], undefined), undefined);
  t.equal(youngGenerationFlag([], '--max-young-generation-size=32'), undefined);
});

// The V8 behaviour serve relies on, in a fresh Node (the built module, as the binary runs it):
// with the flag set, a process keeping some of what it allocates stays at the size it had then
// (1-2 MB semi-spaces: V8 may grow once while Node starts); without it V8 grows to its maximum
// (16 MB semi-spaces); a user's flag is left alone.
t.test('a fresh node keeps a small young generation', async (t) => {
  const script = `
    import v8 from 'node:v8';
    const { limitYoungGeneration } = await import(${JSON.stringify(pathToFileURL(DIST_HEAP).href)});
    const flag = process.env.APPLY === '1' ? limitYoungGeneration(process.execArgv, undefined) : undefined;
    const keep = [];
    for (let i = 0; i < 2e6; i++) { const o = { a: i, b: 'x' + i }; if (i % 3 === 0) keep.push(o); if (keep.length > 200000) keep.length = 0; }
    const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
    console.log(JSON.stringify({ flag: flag ?? null, newSpaceMB: s.space_size / 1048576 }));`;
  const run = (apply: boolean, nodeArgs: string[] = []) =>
    JSON.parse(execFileSync(process.execPath, [...nodeArgs, '--input-type=module', '-e', script], { env: { PATH: process.env['PATH'] ?? '', APPLY: apply ? '1' : '0' }, encoding: 'utf8', timeout: 60000 })) as { flag: string | null; newSpaceMB: number };
  const limited = run(true);
  t.equal(limited.flag, YOUNG_GENERATION_FLAG);
  t.ok(limited.newSpaceMB <= 4, `new space ${limited.newSpaceMB} MB with the flag`);
  const grown = run(false);
  t.ok(grown.newSpaceMB > 2, `new space ${grown.newSpaceMB} MB without it (V8's default grows)`);
  const user = run(true, ['--max-semi-space-size=4']);
  t.equal(user.flag, null, "the user's flag wins");
  t.ok(user.newSpaceMB > 2 && user.newSpaceMB <= 8, `new space ${user.newSpaceMB} MB with --max-semi-space-size=4`);
});
