/** docs/vip.md stays true: every error code, option, default and check problem code, and the example runs. */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vip from '../src/index.js';
import { REDIS_STORE_DEFAULTS } from '../src/redis/store.js';

const doc = readFileSync(new URL('../../../docs/vip.md', import.meta.url), 'utf8');

/** Rows of the first table after a heading: the cells of each row, backticks stripped. */
function table(heading: string): string[][] {
  const start = doc.indexOf(`\n${heading}\n`);
  if (start < 0) throw new Error(`no heading ${heading}`);
  const lines = doc.slice(start + heading.length + 2).split('\n');
  const first = lines.findIndex((l) => l.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.split('|').slice(1, -1).map((c) => c.trim()));
  }
  return rows;
}
const code = (cell: string) => cell.replace(/`/g, '');

t.test('every error code is documented, and only those', async (t) => {
  const rows = table('## Error codes');
  t.same(rows.map((r) => code(r[0] as string)).sort(), [...vip.VIP_ERROR_CODES].sort());
  const samples: Record<string, () => vip.VipError> = {
    BadLabelError: () => new vip.BadLabelError('x', 'y'),
    BadNameError: () => new vip.BadNameError('name', 'x', 'y'),
    BadAddressError: () => new vip.BadAddressError('a', 'x', 'y'),
    BadPortError: () => new vip.BadPortError('a', 'x', 'y'),
    BadPoolError: () => new vip.BadPoolError('pools', 'x', 'y'),
    BadOptionError: () => new vip.BadOptionError('o', 'x', 'y'),
    BadStoreUrlError: () => new vip.BadStoreUrlError('x', 'y'),
    BadImportError: () => new vip.BadImportError(['p']),
    PoolExhaustedError: () => new vip.PoolExhaustedError('n', [{ cidr: '10.0.0.0/8', size: 1 }]),
    AddressTakenError: () => new vip.AddressTakenError('10.0.0.1', 'n', 'm', 'used'),
    AddressOutsidePoolError: () => new vip.AddressOutsidePoolError('10.0.0.1', []),
    StoreUnavailableError: () => new vip.StoreUnavailableError('s', 'r'),
    StoreIncompatibleError: () => new vip.StoreIncompatibleError('s', 'r'),
    ClosedError: () => new vip.ClosedError('x'),
  };
  for (const [c, cls] of rows.map((r) => [code(r[0] as string), code(r[1] as string)] as const)) {
    const make = samples[cls];
    t.ok(make, `${cls} is exported and sampled`);
    const err = make?.();
    t.equal(err?.code, c, `${cls} has code ${c}`);
    t.ok(err instanceof vip.VipError && err.name === cls);
  }
});

t.test('every option of createAllocator is documented, with its default', async (t) => {
  const rows = table('## Options');
  t.same(rows.map((r) => code(r[0] as string)), [...vip.ALLOCATOR_OPTION_KEYS]);
  const def = Object.fromEntries(rows.map((r) => [code(r[0] as string), code(r[1] as string)]));
  t.equal(def['pools'], JSON.stringify(vip.DEFAULT_POOLS));
  t.match(def['quarantineMs'], String(vip.DEFAULT_QUARANTINE_MS));
  const redisRow = rows.find((r) => code(r[0] as string) === 'redis')?.[2] ?? '';
  for (const key of Object.keys(REDIS_STORE_DEFAULTS)) t.ok(redisRow.includes(`\`${key}\``), `redis option ${key} named`);
  await t.rejects(vip.createAllocator({ nonsense: 1 } as unknown as vip.AllocatorOptions), { code: 'HOPLITE_VIP_BAD_OPTION' });
  await t.rejects(vip.createAllocator({ embedded: { nonsense: 1 } } as unknown as vip.AllocatorOptions), { code: 'HOPLITE_VIP_BAD_OPTION' });
});

t.test('every embedded store option is documented, with its default', async (t) => {
  const rows = table('### Embedded store options');
  t.same(rows.map((r) => code(r[0] as string)), [...vip.EMBEDDED_OPTION_KEYS]);
  for (const r of rows) {
    const key = code(r[0] as string) as keyof typeof vip.EMBEDDED_DEFAULTS;
    t.equal(code(r[1] as string).replace(/"/g, ''), String(vip.EMBEDDED_DEFAULTS[key]), `${key} default`);
  }
});

t.test('every check problem code is documented, and both stores use only those', async (t) => {
  const rows = table('### Check problem codes');
  t.same(rows.map((r) => code(r[0] as string)).sort(), [...vip.CHECK_PROBLEM_CODES].sort());
  const used = new Set<string>();
  const embedded = readFileSync(new URL('../src/embedded/store.ts', import.meta.url), 'utf8');
  for (const m of embedded.matchAll(/problem\('([A-Z_]+)'/g)) used.add(m[1] as string);
  const redis = readFileSync(new URL('../src/redis/check.ts', import.meta.url), 'utf8');
  for (const m of redis.matchAll(/add\('([A-Z_]+)'/g)) used.add(m[1] as string);
  t.ok(used.size >= 10, 'found the codes in the sources');
  for (const c of used) t.ok((vip.CHECK_PROBLEM_CODES as readonly string[]).includes(c), `${c} is a documented code`);
});

t.test('the example at the top runs as written (with a temporary path)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hoplite-vip-docs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const block = /```ts\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
  t.match(block, /createAllocator/);
  const body = block
    .replace(/^import .*$/m, '')
    .replace("'embedded:/var/lib/hoplite/vip.db'", JSON.stringify(`embedded:${join(dir, 'vip.db')}`))
    .concat('\nreturn vip;');
  const AsyncFunction = Object.getPrototypeOf(async () => {}).constructor as new (...args: string[]) => (...a: unknown[]) => Promise<vip.VipRecord>;
  const run = new AsyncFunction('createAllocator', body);
  const result = await run(vip.createAllocator);
  t.equal(result.name, 'mygroupmyapp.marathon.l4lb.thisdcos.directory', 'the name the comment shows');
  t.match(result.ipv4, /^172\.16\./);
});
