/**
 * The README's `npx hoplite ...` commands: npm links `node_modules/.bin/hoplite` at install time,
 * before anything is built, so the bin must be a tracked file (packages/cli/bin/hoplite.js) that
 * runs the compiled CLI. On a fresh clone, `npm ci` (as .ci/run does) then `npm run build` must
 * give a working `npx hoplite`.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, realpathSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: ROOT, env, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

t.test('the bin npm links is tracked by git and points at the compiled CLI', async (t) => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'packages/cli/package.json'), 'utf8')) as { bin: Record<string, string> };
  t.same(Object.keys(pkg.bin), ['hoplite']);
  const rel = join('packages/cli', pkg.bin['hoplite']!);
  const tracked = await run('git', ['ls-files', '--error-unmatch', rel]);
  t.equal(tracked.code, 0, `${rel} is in git, so it exists before the build (${tracked.stderr.trim()})`);
  const linked = join(ROOT, 'node_modules/.bin/hoplite');
  t.ok(existsSync(linked), 'npm linked node_modules/.bin/hoplite');
  t.equal(realpathSync(linked), realpathSync(join(ROOT, rel)), 'the link is the tracked bin');
});

t.test('npx hoplite runs the built CLI (the README commands)', async (t) => {
  const home = mkdtempSync(join(tmpdir(), 'hoplite-readme-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const env = { ...process.env, HOME: home, npm_config_cache: join(home, '.npm') };
  const help = await run('npx', ['--no-install', 'hoplite', '--help'], env);
  t.equal(help.code, 0, help.stderr);
  t.match(help.stdout, /serve/);
  t.match(help.stdout, /vip/);
  const alloc = await run('npx', ['--no-install', 'hoplite', 'vip', 'allocate', '/myapp', '--port', '5555/tcp', '--json'], env);
  t.equal(alloc.code, 0, alloc.stderr);
  t.match(JSON.parse(alloc.stdout), { vip: { name: 'myapp.marathon.l4lb.thisdcos.directory' } });
  const bad = await run('npx', ['--no-install', 'hoplite', 'vip', 'allocate', ''], env);
  t.equal(bad.code, 2, 'bad input still exits 2 through the bin');
});
