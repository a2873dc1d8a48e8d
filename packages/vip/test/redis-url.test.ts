import t from 'tap';
import { describeConnection, isRedisUrl, parseRedisUrl, redactRedisUrl } from '../src/redis/index.js';

t.test('standalone forms', async (t) => {
  t.same(parseRedisUrl('redis://127.0.0.1:6380'), { mode: 'standalone', hosts: [{ host: '127.0.0.1', port: 6380 }] });
  t.same(parseRedisUrl('redis://redis.example'), { mode: 'standalone', hosts: [{ host: 'redis.example', port: 6379 }] });
  t.same(parseRedisUrl('redis://u:p%40ss@h:1/3'), {
    mode: 'standalone',
    hosts: [{ host: 'h', port: 1 }],
    username: 'u',
    password: 'p@ss',
    db: 3,
  });
  t.same(parseRedisUrl('redis://:secret@h/'), { mode: 'standalone', hosts: [{ host: 'h', port: 6379 }], password: 'secret' });
  t.same(parseRedisUrl('redis://secret@h'), { mode: 'standalone', hosts: [{ host: 'h', port: 6379 }], password: 'secret' });
  t.same(parseRedisUrl('rediss://[::1]:6390/0'), { mode: 'standalone', hosts: [{ host: '::1', port: 6390 }], db: 0, tls: true });
  t.same(parseRedisUrl('REDIS://h'), { mode: 'standalone', hosts: [{ host: 'h', port: 6379 }] }, 'scheme is case-insensitive');
});

t.test('sentinel forms', async (t) => {
  t.same(parseRedisUrl('redis+sentinel://s1:26379,s2,[fd00::2]:26380/mymaster'), {
    mode: 'sentinel',
    hosts: [
      { host: 's1', port: 26379 },
      { host: 's2', port: 26379 },
      { host: 'fd00::2', port: 26380 },
    ],
    masterName: 'mymaster',
  });
  t.same(parseRedisUrl('redis+sentinel://pw@s1:1/m/2?sentinelPassword=sp'), {
    mode: 'sentinel',
    hosts: [{ host: 's1', port: 1 }],
    password: 'pw',
    db: 2,
    masterName: 'm',
    sentinelPassword: 'sp',
  });
  t.same(parseRedisUrl('rediss+sentinel://s1/m').tls, true);
});

t.test('cluster forms', async (t) => {
  t.same(parseRedisUrl('redis+cluster://a:7000,b:7001,c'), {
    mode: 'cluster',
    hosts: [
      { host: 'a', port: 7000 },
      { host: 'b', port: 7001 },
      { host: 'c', port: 6379 },
    ],
  });
  t.same(parseRedisUrl('rediss+cluster://u:p@a:7000').password, 'p');
});

t.test('refused forms carry the coded error and never echo the password', async (t) => {
  const bad = [
    'http://h',
    'redis://',
    'redis://h:0',
    'redis://h:65536',
    'redis://h:x',
    'redis://a,b',
    'redis://h/x',
    'redis://h/1/2',
    'redis+sentinel://s1',
    'redis+sentinel://s1/m/x',
    'redis+sentinel://s1/m/1/2',
    'redis+cluster://a/1',
    'redis://h?foo=1',
    'redis://[::1',
    'redis://[::1]x',
    'redis://h h',
    'redis://u:%zz@h',
  ];
  for (const url of bad) {
    t.throws(() => parseRedisUrl(url), { code: 'HOPLITE_VIP_BAD_STORE_URL' }, url);
  }
  try {
    parseRedisUrl('redis://user:topsecret@h:0');
    t.fail('should throw');
  } catch (err) {
    t.notMatch((err as Error).message, /topsecret/);
    t.match((err as Error).message, /user:\*\*\*@h:0/);
  }
});

t.test('helpers', async (t) => {
  t.equal(isRedisUrl('redis+cluster://a'), true);
  t.equal(isRedisUrl('rediss://a'), true);
  t.equal(isRedisUrl('embedded:/var/lib/x.db'), false);
  t.equal(isRedisUrl('/var/lib/x.db'), false);
  t.equal(redactRedisUrl('redis://u:pw@h/1'), 'redis://u:***@h/1');
  t.equal(redactRedisUrl('redis://pw@h'), 'redis://***@h');
  t.equal(redactRedisUrl('redis://h'), 'redis://h');
  t.equal(describeConnection(parseRedisUrl('redis+sentinel://pw@s1,s2/m/2')), 'redis+sentinel://s1:26379,s2:26379/m/2');
  t.equal(describeConnection(parseRedisUrl('rediss://u:pw@[::1]:7/1')), 'rediss://[::1]:7/1');
});
