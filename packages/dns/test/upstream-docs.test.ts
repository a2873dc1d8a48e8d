/**
 * docs/dns-forwarding.md stays true: every option of masters / upstreams / forwardZones is in its
 * tables with the default the code uses, every JSON example validates, its error codes exist.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError, MasterListError, SelfForwardError } from '../src/errors.js';
import { HEALTH_DEFAULTS } from '../src/health/health.js';
import { checkMastersConfig, MASTERS_DEFAULTS, MASTERS_KEYS } from '../src/masters/config.js';
import { checkForwardConfig, HEALTH_KEYS, SOCKET_DEFAULTS, SOCKET_KEYS, UPSTREAM_DEFAULTS, UPSTREAM_KEYS } from '../src/upstream/config.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const doc = readFileSync(`${root}docs/dns-forwarding.md`, 'utf8');
const options = doc.slice(doc.indexOf('## Options'), doc.indexOf('## Library'));

/** `| \`key\` | \`default\` |` rows of the options tables. */
const rows = new Map<string, string>();
for (const m of options.matchAll(/^\| `([a-zA-Z.<>]+)` \| (`[^`]*`|none) \|/gm)) rows.set(m[1]!, m[2]!);

function documentedDefault(key: string): unknown {
  const cell = rows.get(key);
  if (cell === undefined || cell === 'none') return undefined;
  return JSON.parse(cell.slice(1, -1));
}

t.test('every option is documented with the default the code uses', async (t) => {
  const expectations: Array<[string, unknown]> = [];
  for (const k of UPSTREAM_KEYS) {
    if (k === 'health') for (const h of HEALTH_KEYS) expectations.push([`upstreams.health.${h}`, HEALTH_DEFAULTS[h as keyof typeof HEALTH_DEFAULTS]]);
    else if (k === 'sockets') for (const s of SOCKET_KEYS) expectations.push([`upstreams.sockets.${s}`, SOCKET_DEFAULTS[s as keyof typeof SOCKET_DEFAULTS]]);
    else expectations.push([`upstreams.${k}`, UPSTREAM_DEFAULTS[k as keyof typeof UPSTREAM_DEFAULTS]]);
  }
  for (const k of MASTERS_KEYS) {
    if (k === 'sockets') for (const s of SOCKET_KEYS) expectations.push([`masters.sockets.${s}`, SOCKET_DEFAULTS[s as keyof typeof SOCKET_DEFAULTS]]);
    else expectations.push([`masters.${k}`, MASTERS_DEFAULTS[k as keyof typeof MASTERS_DEFAULTS]]);
  }
  for (const [key, value] of expectations) {
    t.ok(rows.has(key), `${key} is documented`);
    t.same(documentedDefault(key), value, `${key} default`);
  }
  t.ok(rows.has('forwardZones.<zone>'));
  t.equal(rows.size, expectations.length + 1, 'no documented option that the code does not have');
});

t.test('every JSON example validates', async (t) => {
  const blocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as Record<string, unknown>);
  t.ok(blocks.length >= 4);
  for (const b of blocks) {
    t.same(checkForwardConfig(b).problems, [], 'forward keys');
    t.same(checkMastersConfig(b).problems, [], 'masters keys');
  }
});

t.test('the error codes exist', async (t) => {
  const section = doc.slice(doc.indexOf('## Error codes'));
  const inDoc = [...section.matchAll(/^\| `(HOPLITE_DNS_[A-Z_]+)` \|/gm)].map((m) => m[1]!).sort();
  const codes = [new ConfigError([]).code, new SelfForwardError([]).code, new MasterListError('f', 'r').code].sort();
  t.same(inDoc, codes);
});
