import t from 'tap';
import { readFileSync } from 'node:fs';
import { formatIpv4 } from '../src/addr.js';
import { nameHash, preferredAddress } from '../src/hash.js';
import { planPools } from '../src/pools.js';

t.test('the worked example of docs/vip.md', async (t) => {
  const name = 'myapp.marathon.l4lb.thisdcos.directory';
  t.equal(nameHash(name), 0xa61ed0aaf33d);
  t.equal(nameHash(name), 182651280094013);
  t.equal(nameHash(name) % 65534, 11539);
  t.equal(formatIpv4(preferredAddress(name, planPools().layout)), '172.16.45.20');
  const doc = readFileSync(new URL('../../../docs/vip.md', import.meta.url), 'utf8');
  for (const figure of ['a61ed0aaf33d', '182651280094013', '11539', '172.16.45.20']) {
    t.ok(doc.includes(figure), `docs/vip.md shows ${figure}`);
  }
});

t.test('preferred address lands inside the ranges, skipping exclusions', async (t) => {
  const { layout } = planPools({ pools: ['10.0.0.0/29'], exclude: ['10.0.0.2'] });
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const a = formatIpv4(preferredAddress(`n${i}.marathon.l4lb.thisdcos.directory`, layout));
    t.not(a, '10.0.0.0');
    t.not(a, '10.0.0.2');
    t.not(a, '10.0.0.7');
    seen.add(a);
  }
  t.equal(seen.size, 5, 'every allocatable address is someone\'s preference');
});
