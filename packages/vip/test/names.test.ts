import t from 'tap';
import { isNormalizedVipName, normalizePart, parseVipDnsName, vipName } from '../src/names.js';

t.test('normalization as the reference', async (t) => {
  t.equal(vipName('/mygroup/myapp').name, 'mygroupmyapp.marathon.l4lb.thisdcos.directory');
  t.same(vipName('/myapp'), { name: 'myapp.marathon.l4lb.thisdcos.directory', label: 'myapp', framework: 'marathon' });
  t.equal(vipName('My_App').name, 'my-app.marathon.l4lb.thisdcos.directory');
  t.equal(vipName('--a.b c!--').name, 'abc.marathon.l4lb.thisdcos.directory');
  t.equal(vipName('_x_').name, 'x.marathon.l4lb.thisdcos.directory', '_ to - then trimmed');
  t.equal(vipName('Ünïcode').name, 'ncode.marathon.l4lb.thisdcos.directory');
  t.equal(vipName('db', 'My_Framework').name, 'db.my-framework.l4lb.thisdcos.directory');
  t.equal(vipName('db', '/kafka').framework, 'kafka');
});

t.test('63 characters a label, no trailing dash after the cut', async (t) => {
  const long = 'a'.repeat(70);
  t.equal(vipName(long).label, 'a'.repeat(63));
  const dashAt63 = 'b'.repeat(62) + '-' + 'c';
  t.equal(vipName(dashAt63).label, 'b'.repeat(62), 'cut at 63 leaves a dash, trimmed');
  t.ok(vipName('x'.repeat(300), 'y'.repeat(300)).name.length <= 253);
});

t.test('two raw names that normalize alike share one key', async (t) => {
  t.equal(vipName('/my_app').name, vipName('MY-APP').name);
});

t.test('full DNS names are accepted', async (t) => {
  t.same(vipName('MyApp.Marathon.l4lb.thisdcos.directory.'), {
    name: 'myapp.marathon.l4lb.thisdcos.directory',
    label: 'myapp',
    framework: 'marathon',
  });
  t.equal(vipName('db.kafka.l4lb.thisdcos.directory', 'kafka').name, 'db.kafka.l4lb.thisdcos.directory');
  t.throws(() => vipName('db.kafka.l4lb.thisdcos.directory', 'marathon'), { code: 'HOPLITE_VIP_BAD_NAME' });
  t.throws(() => vipName('a.b.c.l4lb.thisdcos.directory'), { code: 'HOPLITE_VIP_BAD_NAME' });
  t.throws(() => parseVipDnsName(`${'a.'.repeat(120)}x.l4lb.thisdcos.directory`), { code: 'HOPLITE_VIP_BAD_NAME' });
  t.equal(parseVipDnsName('example.com'), undefined);
  t.ok(isNormalizedVipName('a.marathon.l4lb.thisdcos.directory'));
  t.notOk(isNormalizedVipName('A.marathon.l4lb.thisdcos.directory'));
  t.notOk(isNormalizedVipName('a.b.c.l4lb.thisdcos.directory'));
});

t.test('names that normalize to nothing are refused', async (t) => {
  for (const raw of ['', '/', '---', '...', '//', 'ÄÖÜ']) {
    t.throws(() => vipName(raw), { code: 'HOPLITE_VIP_BAD_NAME' }, JSON.stringify(raw));
  }
  t.throws(() => vipName('ok', '///'), { code: 'HOPLITE_VIP_BAD_NAME', details: { what: 'framework' } });
  t.throws(() => normalizePart(42 as unknown as string), { code: 'HOPLITE_VIP_BAD_NAME' });
});
