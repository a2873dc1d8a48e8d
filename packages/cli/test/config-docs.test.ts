/** Docs as tests: docs/config.md's table is the schema's, and every example config loads. */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configTable } from '../src/config/docs.js';
import { loadConfig } from '../src/config/load.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

t.test('docs/config.md holds the generated key table', async (t) => {
  const doc = readFileSync(`${root}docs/config.md`, 'utf8');
  const start = doc.indexOf('\n', doc.indexOf('<!-- config-table:start')) + 1;
  const end = doc.indexOf('<!-- config-table:end');
  t.equal(doc.slice(start, end), configTable(), 'regenerate with: node -e "import(\'./packages/cli/dist/config/docs.js\').then(m=>process.stdout.write(m.configTable()))"');
});

t.test('deploy/hoplite.json loads without a problem', async (t) => {
  const { config } = loadConfig({ file: `${root}deploy/hoplite.json`, resolvConf: '/nonexistent' });
  t.same(config.dns.listen, ['198.51.100.1:53', '198.51.100.2:53', '198.51.100.3:53']);
  t.equal(config.vip.quarantine, 600_000);
  t.equal(config.dns.nxdomainGrace, 50);
  t.same(config.dns.forwardZones, { 'corp.example.com': ['10.1.0.53', '10.1.1.53'] });
});

t.test('the README production example parses', async (t) => {
  const readme = readFileSync(`${root}README.md`, 'utf8');
  const m = /npx hoplite serve ([^`]+?)\n```/s.exec(readme);
  t.ok(m, 'README has a serve example');
  const words = m![1]!.replace(/\\\n/g, ' ').split(/\s+/).filter(Boolean);
  const flags: Record<string, string[]> = {};
  for (let i = 0; i < words.length; i += 2) (flags[words[i]!.replace(/^--/, '')] ??= []).push(words[i + 1]!);
  const { config } = loadConfig({ flags: { ...flags, store: flags['store']![0] }, resolvConf: '/nonexistent' });
  t.equal(config.dns.listen.length, 3);
  t.equal(config.dns.masters.length, 3);
  t.match(config.store, /^redis:\/\//);
});
