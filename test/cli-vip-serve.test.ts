/**
 * What `hoplite vip` changes, a running `hoplite serve` on the same store answers: both built
 * binaries as child processes, on the embedded store (the default file under HOME, shared by the
 * two) and on a private redis-server.
 */
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { startRedisServer } from '../packages/vip/test/helpers/redis-server.js';
import { cliHome, runCli, stdoutJson, type RunResult } from '../packages/cli/test/helpers/run-cli.js';
import { addressesOf, queryUntil, startServe, type ServeProcess } from './helpers/serve.js';

const POOL = '10.78.0.0/16';

interface VipJson {
  name: string;
  ipv4: string;
}

/** The scenario, once per store: allocate, from-app, reserve (move), release. */
async function scenario(t: Test, serve: ServeProcess, vip: (args: string[], stdin?: string) => Promise<RunResult>): Promise<void> {
  const a = await vip(['allocate', '/shop/cart', '--port', '8080', '--json']);
  t.equal(a.code, 0, a.stderr);
  const cart = stdoutJson<{ vip: VipJson }>(a).vip;
  t.equal(cart.name, 'shopcart.marathon.l4lb.thisdcos.directory');
  t.same(addressesOf(await queryUntil(serve, cart.name, (d) => addressesOf(d).length > 0)), [cart.ipv4], 'allocated by the CLI, answered by serve');

  const app = { id: '/shop/payments', portDefinitions: [{ protocol: 'tcp', labels: { VIP_0: '/payments:443' } }] };
  const f = await vip(['from-app', '-', '--json'], JSON.stringify(app));
  t.equal(f.code, 0, f.stderr);
  const payments = stdoutJson<{ labels: { vip: VipJson }[] }>(f).labels[0]!.vip;
  t.same(addressesOf(await queryUntil(serve, payments.name, (d) => addressesOf(d).length > 0)), [payments.ipv4], 'from-app: answered');
  const srv = await queryUntil(serve, '_payments._tcp.marathon.l4lb.thisdcos.directory', (d) => (d.answers ?? []).length > 0, { type: 'SRV' });
  t.match((srv.answers ?? []).map((r) => (r as { data: unknown }).data), [{ port: 443, target: payments.name }], 'SRV from the label port');

  const moved = await vip(['reserve', '/shop/cart', '10.78.0.10', '--json']);
  t.equal(moved.code, 0, moved.stderr);
  t.same(addressesOf(await queryUntil(serve, cart.name, (d) => addressesOf(d)[0] === '10.78.0.10')), ['10.78.0.10'], 'reserve moves the answer');

  const rel = await vip(['release', payments.name]);
  t.equal(rel.code, 0, rel.stderr);
  t.equal((await queryUntil(serve, payments.name, (d) => d.rcode === 'NXDOMAIN')).rcode, 'NXDOMAIN', 'released: no longer answered');
}

t.test('embedded store: the default file under HOME, shared by hoplite vip and hoplite serve', async (t) => {
  const home = cliHome(t);
  const serve = await startServe(['--pool', POOL, '--upstream', '127.0.0.1:9'], { HOME: home, XDG_STATE_HOME: join(home, '.local', 'state') });
  t.teardown(() => serve.stop('SIGKILL'));
  await scenario(t, serve, (args, stdin) => runCli(['vip', ...args, '--pool', POOL], { home, ...(stdin !== undefined ? { stdin } : {}) }));
  t.equal(await serve.stop(), 0, 'serve stops cleanly');
});

t.test('Redis store', async (t) => {
  const redis = await startRedisServer();
  t.teardown(() => redis.destroy());
  const home = cliHome(t);
  const serve = await startServe(['--pool', POOL, '--upstream', '127.0.0.1:9', '--store', redis.url], { HOME: home });
  t.teardown(() => serve.stop('SIGKILL'));
  await scenario(t, serve, (args, stdin) =>
    runCli(['vip', ...args], { home, env: { HOPLITE_STORE: redis.url, HOPLITE_VIP_POOLS: POOL }, ...(stdin !== undefined ? { stdin } : {}) }),
  );
  t.equal(await serve.stop(), 0, 'serve stops cleanly');
});
