/**
 * `hoplite serve` on the embedded store: a real child process, the library allocating into the
 * same SQLite file, real DNS queries (dns-packet over UDP, and dig).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createAllocator } from '@hoplite/vip';
import { addressesOf, queryUntil, startServe } from './helpers/serve.js';

const home = mkdtempSync(join(tmpdir(), 'hoplite-serve-'));
const env = { HOME: home };
const dbPath = join(home, '.local', 'state', 'hoplite', 'vip.db');
t.teardown(() => rmSync(home, { recursive: true, force: true }));

const serve = await startServe(['--pool', '10.77.0.0/16', '--ipv6-pool', 'fd00:77::/64', '--upstream', '127.0.0.1:9'], env);
t.teardown(() => serve.stop('SIGKILL'));

const allocator = await createAllocator({ store: `embedded:${dbPath}`, pools: ['10.77.0.0/16'], ipv6Pool: 'fd00:77::/64' });
t.teardown(() => allocator.close());

t.test('an allocated VIP is answered: A, AAAA, SRV with additional, PTR', async (t) => {
  const { vip } = await allocator.allocate('/myapp', { ports: ['5555/tcp', '53/udp'] });
  const name = 'myapp.marathon.l4lb.thisdcos.directory';
  t.equal(vip.name, name);
  const a = await queryUntil(serve, name, (d) => addressesOf(d).length > 0);
  t.equal(a.rcode, 'NOERROR');
  t.ok(a.flag_aa, 'authoritative');
  t.same(addressesOf(a), [vip.ipv4]);
  t.equal((a.answers![0] as { ttl?: number }).ttl, 5, 'default TTL 5 s');

  const aaaa = await serve.query(name, { type: 'AAAA' });
  t.same(addressesOf(aaaa, 'AAAA'), [vip.ipv6]);

  const srv = await serve.query(`_myapp._tcp.marathon.l4lb.thisdcos.directory`, { type: 'SRV' });
  t.same(
    srv.answers!.map((r) => (r as { data: unknown }).data),
    [{ priority: 0, weight: 0, port: 5555, target: name }],
  );
  t.ok((srv.additionals ?? []).some((r) => r.type === 'A' && r.name === name && (r as { data: unknown }).data === vip.ipv4), 'target address in additional');

  const rev = vip.ipv4.split('.').reverse().join('.') + '.in-addr.arpa';
  const ptr = await serve.query(rev, { type: 'PTR' });
  t.same(ptr.answers!.map((r) => (r as { data: unknown }).data), [name]);

  const nodata = await serve.query(name, { type: 'TXT' });
  t.equal(nodata.rcode, 'NOERROR');
  t.equal(nodata.answers!.length, 0);
  t.equal(nodata.authorities![0]!.type, 'SOA');
});

t.test('dig sees the same answer', async (t) => {
  const { vip } = await allocator.allocate('dug', { ports: [80] });
  await queryUntil(serve, 'dug.marathon.l4lb.thisdcos.directory', (d) => addressesOf(d).length > 0);
  const { stdout } = await promisify(execFile)('dig', ['@127.0.0.1', '-p', String(serve.dnsPort), '+short', '+tries=3', '+time=5', 'dug.marathon.l4lb.thisdcos.directory']);
  t.equal(stdout.trim(), vip.ipv4);
  const tcp = await promisify(execFile)('dig', ['@127.0.0.1', '-p', String(serve.dnsPort), '+tcp', '+short', 'DUG.Marathon.l4lb.thisdcos.directory']);
  t.equal(tcp.stdout.trim(), vip.ipv4, 'over TCP, case-insensitive');
  const ready = await promisify(execFile)('dig', ['@127.0.0.1', '-p', String(serve.dnsPort), '+short', 'ready.spartan']);
  t.equal(ready.stdout.trim(), '127.0.0.1');
});

t.test('release: NXDOMAIN with the SOA', async (t) => {
  const name = 'gone.marathon.l4lb.thisdcos.directory';
  await allocator.allocate('gone');
  await queryUntil(serve, name, (d) => addressesOf(d).length > 0);
  await allocator.release(name);
  const d = await queryUntil(serve, name, (d) => d.rcode === 'NXDOMAIN');
  t.equal(d.rcode, 'NXDOMAIN');
  t.equal(d.authorities![0]!.type, 'SOA');
});

t.test('HTTP: /ready, /metrics, /v1/vips', async (t) => {
  const base = `http://${serve.httpAddress}`;
  const ready = await fetch(`${base}/ready`);
  t.equal(ready.status, 200);
  t.match(await ready.json(), { dns: 'serving', vipStore: 'live', vipZoneSynced: true });
  const vips = (await (await fetch(`${base}/v1/vips`)).json()) as { vips: { name: string }[] };
  t.ok(vips.vips.some((v) => v.name === 'myapp.marathon.l4lb.thisdcos.directory'));
  const metrics = await (await fetch(`${base}/metrics`)).text();
  t.match(metrics, /hoplite_vip_store_up 1/);
  t.match(metrics, /hoplite_vip_zone_records \d+/);
  t.match(metrics, /hoplite_dns_cache_entries/, 'the cache stage is in the chain by default');
});

t.test('SIGTERM drains and exits 0', async (t) => {
  const code = await serve.stop('SIGTERM');
  t.equal(code, 0);
  t.ok(serve.logs.some((l) => l['msg'] === 'hoplite stopped'));
});

t.test('a resolver configured with other pools follows the stored ones (A and PTR)', async (t) => {
  const other = await startServe(['--pool', '10.99.0.0/16', '--upstream', '127.0.0.1:9'], env);
  t.teardown(() => other.stop('SIGKILL'));
  const vip = (await allocator.get('myapp.marathon.l4lb.thisdcos.directory'))!;
  const a = await queryUntil(other, vip.name, (d) => addressesOf(d).length > 0);
  t.same(addressesOf(a), [vip.ipv4]);
  t.same(addressesOf(await other.query(vip.name, { type: 'AAAA' }), 'AAAA'), [vip.ipv6], 'AAAA from the stored IPv6 pool');
  const ptr = await other.query(vip.ipv4.split('.').reverse().join('.') + '.in-addr.arpa', { type: 'PTR' });
  t.same(ptr.answers!.map((r) => (r as { data: unknown }).data), [vip.name], 'PTR zone of the stored pool');
  t.ok(other.logs.some((l) => /vip pools differ from the store/.test(String(l['msg']))), 'warns that the stored pools win');
  t.equal(await other.stop('SIGTERM'), 0);
});
