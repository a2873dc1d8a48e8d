/**
 * `hoplite vip ...` exit codes and error lines (built binary, embedded store in a temp HOME):
 * 2 for bad input, 1 for runtime failures, `error [CODE]: message`, a stack only with --debug,
 * and --help from the binary.
 */
import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { cliHome, runCli, type RunResult } from './helpers/run-cli.js';

const home = cliHome(t);
const vip = (args: string[], stdin?: string): Promise<RunResult> => runCli(['vip', ...args], { home, ...(stdin !== undefined ? { stdin } : {}) });

/** One error line (plus the usage hint for usage errors), no stack. */
function assertError(t: Test, r: RunResult, code: number, errorCode: string, what: string): void {
  t.equal(r.code, code, `${what}: exit ${code} (stderr: ${r.stderr.trim()})`);
  t.equal(r.stdout, '', `${what}: nothing on stdout`);
  t.match(r.stderr, new RegExp(`^error \\[${errorCode}\\]: `), `${what}: ${errorCode}`);
  t.notMatch(r.stderr, /\n\s+at /, `${what}: no stack without --debug`);
}

t.test('bad input: exit 2', async (t) => {
  // Something to collide with first.
  t.equal((await vip(['reserve', 'holder', '172.16.0.10'])).code, 0);
  const cases: [string, string[], string, string?][] = [
    ['no subcommand', [], 'HOPLITE_USAGE'],
    ['unknown subcommand', ['alocate', 'x'], 'HOPLITE_USAGE'],
    ['missing name', ['allocate'], 'HOPLITE_USAGE'],
    ['unknown flag', ['allocate', 'x', '--prot', '80'], 'HOPLITE_USAGE'],
    ['reserve without an address', ['reserve', 'myapp'], 'HOPLITE_USAGE'],
    ['malformed name', ['allocate', '///'], 'HOPLITE_VIP_BAD_NAME'],
    ['malformed framework', ['allocate', 'x', '--framework', '..'], 'HOPLITE_VIP_BAD_NAME'],
    ['bad port', ['allocate', 'x', '--port', '70000/tcp'], 'HOPLITE_VIP_BAD_PORT'],
    ['bad protocol', ['allocate', 'x', '--port', '80/sctp'], 'HOPLITE_VIP_BAD_PORT'],
    ['address outside the pools', ['reserve', 'x', '10.1.2.3'], 'HOPLITE_VIP_ADDRESS_OUTSIDE_POOL'],
    ['network address', ['reserve', 'x', '172.16.0.0'], 'HOPLITE_VIP_ADDRESS_OUTSIDE_POOL'],
    ['bad address', ['reserve', 'x', '172.16.0.300'], 'HOPLITE_VIP_BAD_ADDRESS'],
    ['bad store', ['list', '--store', 'mysql://db'], 'HOPLITE_CONFIG'],
    ['public pool', ['stats', '--pool', '8.8.8.0/24'], 'HOPLITE_VIP_BAD_POOL'],
    ['bad quarantine', ['stats', '--quarantine', 'forever'], 'HOPLITE_CONFIG'],
    ['bad list filter', ['list', '--pool', '172.16.0.0/33'], 'HOPLITE_VIP_BAD_OPTION'],
    ['bad kind', ['list', '--kind', 'other'], 'HOPLITE_USAGE'],
    ['missing file', ['import', '/nonexistent/vips.json'], 'HOPLITE_INPUT_FILE'],
    ['malformed label', ['from-app', '-'], 'HOPLITE_BAD_APP', '{"id": "/a", "portDefinitions": [{"labels": {"VIP_0": "/a"}}]}'],
  ];
  const results = await Promise.all(cases.map(([, args, , stdin]) => vip(args, stdin)));
  cases.forEach(([what, , code], i) => assertError(t, results[i]!, 2, code, what));
  t.match(results[0]!.stderr, /name a vip command: allocate, release, reserve, get, list, from-app, stats, export, import, check/);
  t.match(results[9]!.stderr, /address 10\.1\.2\.3 is not inside any VIP pool \(172\.16\.0\.0\/16\)/, 'the message names the pools');
  t.match(results[12]!.stderr, /store = "mysql:\/\/db" \(from flag --store\)/, 'the message names the flag');
  t.match(results[18]!.stderr, /portDefinitions\[0\]\.labels\.VIP_0: bad VIP label "VIP_0=\/a": no ":<port>"/, 'the message names the label');
  const list = await vip(['list', '--json']);
  t.same(JSON.parse(list.stdout).vips.map((v: { name: string }) => v.name), ['holder.marathon.l4lb.thisdcos.directory'], 'bad input changed nothing');
});

t.test('runtime failures: exit 1', async (t) => {
  // A /30 has two allocatable addresses.
  const small = ['--store', `embedded:${home}/small.db`, '--pool', '10.99.0.0/30'];
  t.equal((await vip(['allocate', 'a', ...small])).code, 0);
  t.equal((await vip(['allocate', 'b', ...small])).code, 0);
  const [exhausted, taken, notFound, unwritable] = await Promise.all([
    vip(['allocate', 'c', ...small]),
    vip(['reserve', 'other', '172.16.0.10']),
    vip(['get', 'nothing-here']),
    vip(['export', '--output', '/nonexistent-dir/x.json']),
  ]);
  assertError(t, exhausted, 1, 'HOPLITE_VIP_POOL_EXHAUSTED', 'pool exhausted');
  t.match(exhausted.stderr, /10\.99\.0\.0\/30 \(2 addresses\)/);
  assertError(t, taken, 1, 'HOPLITE_VIP_ADDRESS_TAKEN', 'address taken');
  t.match(taken.stderr, /already the VIP of "holder\.marathon\.l4lb\.thisdcos\.directory"/);
  assertError(t, notFound, 1, 'HOPLITE_NOT_FOUND', 'not found');
  assertError(t, unwritable, 1, 'HOPLITE_OUTPUT_FILE', 'unwritable output');

  // A file that is not a store is refused and left alone.
  const notStore = `${home}/not-a-store.db`;
  writeFileSync(notStore, 'hello, not SQLite');
  const incompatible = await vip(['list', '--store', `embedded:${notStore}`]);
  t.equal(incompatible.code, 1, incompatible.stderr);
  t.match(incompatible.stderr, /^error \[HOPLITE_VIP_STORE_(INCOMPATIBLE|UNAVAILABLE)\]/);
  t.equal(readFileSync(notStore, 'utf8'), 'hello, not SQLite');
});

t.test('--debug adds the stack; --json keeps stdout empty on errors', async (t) => {
  const [debug, envDebug, json] = await Promise.all([
    vip(['allocate', '///', '--debug']),
    runCli(['vip', 'allocate', '///'], { home, env: { HOPLITE_DEBUG: '1' } }),
    vip(['allocate', '///', '--json']),
  ]);
  t.equal(debug.code, 2);
  t.match(debug.stderr, /(^|\n)error \[HOPLITE_VIP_BAD_NAME\]: .*\nBadNameError: .*\n\s+at /);
  t.match(debug.stderr, /^info: vip store open store=embedded/m, "--debug also shows the library's info logs");
  t.equal(envDebug.code, 2);
  t.match(envDebug.stderr, /\n\s+at /);
  t.equal(json.code, 2);
  t.equal(json.stdout, '');
});

t.test('--help from the binary: exit 0, on stdout (every command: vip-cmd-docs.test.ts, in-process)', async (t) => {
  const r = await vip(['allocate', '--help']);
  t.equal(r.code, 0);
  t.equal(r.stderr, '');
  t.match(r.stdout, /^hoplite vip allocate <name>\n[\s\S]*\nExamples:\n\s+hoplite vip allocate/);
});
