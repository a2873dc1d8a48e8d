/**
 * docs/dns.md stays true: its error-code table lists exactly the codes of src/errors.ts, its
 * option table names every top-level config key, and every JSON config example validates.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SERVER_DEFAULTS, validateServerConfig } from '../src/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const doc = readFileSync(`${root}docs/dns.md`, 'utf8');
const errorsSource = readFileSync(`${root}packages/dns/src/errors.ts`, 'utf8');

t.test('every error code is documented, and only those', async (t) => {
  const inSource = new Set([...errorsSource.matchAll(/'(HOPLITE_DNS_[A-Z_]+)'/g)].map((m) => m[1]!));
  const section = doc.slice(doc.indexOf('## Error codes'));
  const inDoc = new Set([...section.matchAll(/^\| `(HOPLITE_DNS_[A-Z_]+)` \|/gm)].map((m) => m[1]!));
  t.ok(inSource.size >= 3, 'codes found in errors.ts');
  t.same([...inDoc].sort(), [...inSource].sort());
});

t.test('every top-level option is in the options table', async (t) => {
  const section = doc.slice(doc.indexOf('## Options'), doc.indexOf('## The server object'));
  const keys = [...Object.keys(SERVER_DEFAULTS), 'localZones', 'masters', 'upstreams', 'forwardZones'];
  for (const k of keys) t.match(section, new RegExp(`^\\| \`${k}[.\`]`, 'm'), k);
  for (const k of Object.keys(SERVER_DEFAULTS.tcp)) t.match(section, `\`tcp.${k}\``);
  for (const k of Object.keys(SERVER_DEFAULTS.udp)) t.match(section, `\`udp.${k}\``);
});

t.test('every JSON config example validates', async (t) => {
  const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]!);
  t.ok(blocks.length >= 2);
  for (const b of blocks) t.doesNotThrow(() => validateServerConfig(JSON.parse(b)), b.slice(0, 60));
});
