/**
 * docs/cli.md kept true, and --help on every command: a section per vip command, the store/pool flags, every error code with
 * its exit code, and each documented `--json` shape equal (keys and value types) to what the
 * command prints. Runs main() in-process (no child process) on an embedded store in a temp dir.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VIP_ERROR_CODES, VipError, type VipErrorCode } from '@hoplite/vip';
import { exitCodeOf, main } from '../src/main.js';
import { VIP_SUBCOMMANDS } from '../src/commands/vip.js';
import { VIP_FIELDS } from '../src/vip/context.js';
import { envName } from '../src/config/schema.js';

const doc = readFileSync(fileURLToPath(new URL('../../../docs/cli.md', import.meta.url)), 'utf8');
const errorsSource = readFileSync(fileURLToPath(new URL('../src/errors.ts', import.meta.url)), 'utf8');

t.test('a section per vip command, in the order of --help', async (t) => {
  const headings = [...doc.matchAll(/^### hoplite vip (\S+)$/gm)].map((m) => m[1]);
  t.same(headings, [...VIP_SUBCOMMANDS]);
});

t.test('--help on every vip command, with examples and the store flags', async (t) => {
  for (const c of ['', ...VIP_SUBCOMMANDS]) {
    let out = '';
    let err = '';
    const args = ['vip', ...(c ? [c] : []), '--help'];
    const code = await main(args, { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: {} });
    t.equal(code, 0, `${args.join(' ')}: exit 0`);
    t.equal(err, '');
    t.match(out, new RegExp(`^hoplite vip${c ? ` ${c}` : ''}`), `${args.join(' ')}: usage line`);
    t.match(out, /\nExamples:\n\s+hoplite vip/, `${args.join(' ')}: examples`);
    if (c !== '') for (const f of VIP_FIELDS) if (c !== 'list' || f.key !== 'vip.pools') t.match(out, `--${f.flag} `, `${args.join(' ')}: --${f.flag}`);
  }
});

t.test('the store and pool flags, with their variables and keys', async (t) => {
  for (const f of VIP_FIELDS) {
    t.match(doc, new RegExp(`\\| \`--${f.flag}\` \\| \`${envName(f.key)}\` \\| \`${f.key.replace('.', '\\.')}\` \\|`), f.key);
  }
});

/** `| \`CODE\`, \`CODE\` | exit |` and `| \`CODE\` | exit | when |` rows of the error tables. */
function documentedExits(): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of doc.split('\n')) {
    const m = /^\| ((?:`HOPLITE_[A-Z_]+`(?:, )?)+) \| ([012]) \|/.exec(line);
    if (!m) continue;
    for (const c of m[1]!.matchAll(/`(HOPLITE_[A-Z_]+)`/g)) out.set(c[1]!, Number(m[2]));
  }
  return out;
}

t.test('every error code, with the exit code main() gives it', async (t) => {
  const documented = documentedExits();
  const cliCodes = [...errorsSource.matchAll(/super\(\s*'(HOPLITE_[A-Z_]+)',[\s\S]*?,\s*([12]),?\s*(?:options)?\s*\)/g)].map((m) => [m[1]!, Number(m[2])] as const);
  t.ok(cliCodes.length >= 8, `found the CLI error classes (${cliCodes.map((c) => c[0]).join(', ')})`);
  for (const [code, exit] of cliCodes) t.equal(documented.get(code), exit, `${code}: exit ${exit}`);
  t.equal(documented.get('HOPLITE_CONFIG'), 2);
  t.equal(documented.get('HOPLITE_INTERNAL'), exitCodeOf(new Error('unexpected')));
  for (const code of VIP_ERROR_CODES) {
    t.equal(documented.get(code), exitCodeOf(new VipError(code as VipErrorCode, 'x')), `${code}: exit as main() maps it`);
  }
});

/** The shape of a JSON value: keys and value types, arrays by their first element. */
function shape(v: unknown): unknown {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length === 0 ? ['?'] : [shape(v[0])];
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v as object).map(([k, x]) => [k, shape(x)]));
  return typeof v;
}

/** Where an array is empty on one side, take the other side's element shape (nothing to compare). */
function align(doc: unknown, got: unknown): [unknown, unknown] {
  if (Array.isArray(doc) && Array.isArray(got)) {
    if (doc[0] === '?' || got[0] === '?') return [['?'], ['?']];
    const [d, g] = align(doc[0], got[0]);
    return [[d], [g]];
  }
  if (doc !== null && got !== null && typeof doc === 'object' && typeof got === 'object') {
    const d: Record<string, unknown> = {};
    const g: Record<string, unknown> = {};
    for (const k of Object.keys(doc)) {
      const [a, b] = align((doc as Record<string, unknown>)[k], (got as Record<string, unknown>)[k]);
      d[k] = a;
      g[k] = b;
    }
    for (const k of Object.keys(got)) if (!(k in g)) g[k] = (got as Record<string, unknown>)[k];
    return [d, g];
  }
  // `ipv6` and `quarantineUntil` are documented with one of their two forms.
  if ((doc === 'null' && got === 'string') || (doc === 'string' && got === 'null')) return ['string|null', 'string|null'];
  return [doc, got];
}

t.test('each --json shape documented is the one printed', async (t) => {
  const shapes = new Map<string, unknown>();
  for (const m of doc.matchAll(/<!-- json-shape: (\S+) -->\n```json\n([\s\S]*?)\n```/g)) shapes.set(m[1]!, JSON.parse(m[2]!));
  t.same([...shapes.keys()].sort(), ['allocate', 'check', 'export-output', 'from-app', 'import', 'list', 'release', 'stats', 'vip']);

  const home = mkdtempSync(join(tmpdir(), 'hoplite-cli-docs-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const run = async (...args: string[]): Promise<unknown> => {
    let out = '';
    let err = '';
    const code = await main(['vip', ...args, '--json'], {
      stdout: { write: (s: string) => (out += s) },
      stderr: { write: (s: string) => (err += s) },
      env: { HOME: home, XDG_STATE_HOME: join(home, 'state') },
    });
    t.equal(code, 0, `vip ${args.join(' ')}: ${err}`);
    return JSON.parse(out) as unknown;
  };
  const appFile = join(home, 'app.json');
  writeFileSync(appFile, JSON.stringify({ id: '/shop/web', portDefinitions: [{ labels: { VIP_0: '/shop/web:80' } }] }));
  const printed: Record<string, unknown> = {
    allocate: await run('allocate', '/mygroup/myapp', '--port', '5555/tcp'),
    vip: await run('get', '/mygroup/myapp'),
    'from-app': await run('from-app', appFile),
    list: await run('list'),
    stats: await run('stats'),
    'export-output': await run('export', '--output', join(home, 'backup.json')),
    import: await run('import', join(home, 'backup.json')),
    check: await run('check', '--repair'),
    release: await run('release', '/mygroup/myapp'),
  };
  for (const [name, value] of Object.entries(printed)) {
    const [d, g] = align(shape(shapes.get(name)), shape(value));
    t.same(g, d, `${name}: documented shape`);
  }
});
