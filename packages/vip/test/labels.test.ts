import t from 'tap';
import { isVipLabelKey, labelPorts, parseProtocols, parseVipLabel } from '../src/labels.js';

t.test('named VIPs', async (t) => {
  t.match(parseVipLabel('/myapp:5555'), { kind: 'named', name: '/myapp', port: 5555, protocols: ['tcp'] });
  t.match(parseVipLabel('myapp:5555'), { kind: 'named', name: 'myapp', port: 5555 });
  t.match(parseVipLabel('/mygroup/myapp:80', { key: 'VIP_0', protocol: 'udp' }), { kind: 'named', name: '/mygroup/myapp', port: 80, protocols: ['udp'] });
  t.match(parseVipLabel(' web:1 '), { name: 'web', port: 1 });
  t.match(parseVipLabel('/my.app:65535'), { kind: 'named', name: '/my.app', port: 65535 });
});

t.test('IP VIPs', async (t) => {
  t.match(parseVipLabel('10.1.2.3:80'), { kind: 'ip', family: 4, address: '10.1.2.3', port: 80 });
  t.match(parseVipLabel('[fd00::1]:80'), { kind: 'ip', family: 6, address: 'fd00::1', port: 80 });
  t.match(parseVipLabel('[FD00:0:0::0001]:443'), { kind: 'ip', family: 6, address: 'fd00::1', port: 443 });
});

t.test('protocols', async (t) => {
  t.same(parseProtocols(undefined), ['tcp']);
  t.same(parseProtocols('UDP'), ['udp']);
  t.same(parseProtocols('udp,tcp'), ['tcp', 'udp']);
  t.equal(parseProtocols('sctp'), undefined);
  t.same(labelPorts(parseVipLabel('x:53', { protocol: 'udp,tcp' })), [
    { port: 53, protocol: 'tcp' },
    { port: 53, protocol: 'udp' },
  ]);
});

t.test('keys', async (t) => {
  t.ok(isVipLabelKey('VIP_0'));
  t.ok(isVipLabelKey('VIP'));
  t.notOk(isVipLabelKey('vip_0'));
  t.notOk(isVipLabelKey('HAPROXY_0_VHOST'));
});

t.test('malformed labels are coded errors that quote the label', async (t) => {
  const bad: [string, { key?: string; protocol?: string }?][] = [
    ['myapp'],
    ['myapp:'],
    ['myapp:0'],
    ['myapp:65536'],
    ['myapp:80x'],
    ['myapp:-1'],
    [':80'],
    ['/:80'],
    ['___:80'.replace(/_/g, '/')],
    ['fd00::1:80'],
    ['a:b:80'],
    ['[fd00::1:80'],
    ['[not-v6]:80'],
    ['[fd00::/64]:80'],
    ['10.1.2.300:80'],
    ['010.1.2.3:80'],
    ['myapp:80', { key: 'LABEL_0' }],
    ['myapp:80', { protocol: 'sctp' }],
  ];
  for (const [label, opts] of bad) {
    try {
      parseVipLabel(label, opts);
      t.fail(`accepted ${label}`);
    } catch (err) {
      t.match(err, { code: 'HOPLITE_VIP_BAD_LABEL' }, label);
      t.ok((err as Error).message.includes(JSON.stringify(opts?.key ? `${opts.key}=${label}` : label)), `quotes ${label}`);
    }
  }
});
