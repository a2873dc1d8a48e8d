/**
 * `hoplite vip ...` as a child process (the built binary) on the embedded store at its default
 * path (HOME in a temp dir): each command's human and --json output, and their exit codes.
 */
import t from 'tap';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliHome, embeddedPathIn, runCli, stdoutJson, type RunResult } from './helpers/run-cli.js';

const home = cliHome(t);
const vip = (args: string[], extra: { env?: Record<string, string>; stdin?: string } = {}): Promise<RunResult> => runCli(['vip', ...args], { home, ...extra });

interface VipJson {
  name: string;
  kind: string;
  label: string;
  framework: string;
  ipv4: string;
  ipv6: string | null;
  ports: { port: number; protocol: string }[];
  pinned: boolean;
  createdRevision: number;
  updatedRevision: number;
}
interface AllocationJson {
  vip: VipJson;
  created: boolean;
  fromQuarantine: boolean;
}

const MYAPP = 'myapp.marathon.l4lb.thisdcos.directory';

t.test('allocate: human, then idempotent in --json, ports added', async (t) => {
  const first = await vip(['allocate', '/myapp', '--port', '5555/tcp']);
  t.equal(first.code, 0, first.stderr);
  t.equal(first.stderr, '');
  const lines = first.stdout.trimEnd().split('\n');
  t.match(lines[0], /^NAME\s+IPV4\s+PORTS\s+PINNED\s+STATUS$/);
  // docs/vip.md's worked example: myapp under the default pool prefers 172.16.45.20.
  t.match(lines[1], new RegExp(`^${MYAPP.replace(/\./g, '\\.')}\\s+172\\.16\\.45\\.20\\s+5555/tcp\\s+no\\s+created$`));
  t.ok(existsSync(embeddedPathIn(home)), 'the default embedded path under XDG_STATE_HOME');

  const again = await vip(['allocate', 'MYAPP', '--port', '53/udp,5555', '--json']);
  t.equal(again.code, 0, again.stderr);
  const j = stdoutJson<AllocationJson>(again);
  t.same(Object.keys(j), ['vip', 'created', 'fromQuarantine']);
  t.same(Object.keys(j.vip), ['name', 'kind', 'label', 'framework', 'ipv4', 'ipv6', 'ports', 'pinned', 'createdRevision', 'updatedRevision']);
  t.match(j, {
    created: false,
    fromQuarantine: false,
    vip: { name: MYAPP, kind: 'named', label: 'myapp', framework: 'marathon', ipv4: '172.16.45.20', ipv6: null, pinned: false },
  });
  t.same(j.vip.ports, [
    { port: 53, protocol: 'udp' },
    { port: 5555, protocol: 'tcp' },
  ]);

  const fw = await vip(['allocate', 'web', '--framework', 'my_framework', '--port', '80', '--port', '443', '--json']);
  t.equal(fw.code, 0, fw.stderr);
  t.match(stdoutJson<AllocationJson>(fw), { created: true, vip: { name: 'web.my-framework.l4lb.thisdcos.directory', framework: 'my-framework' } });
});

t.test('reserve: pin a named VIP, reserve an IP VIP', async (t) => {
  const pinned = await vip(['reserve', '/db', '172.16.0.10', '--port', '5432']);
  t.equal(pinned.code, 0, pinned.stderr);
  t.match(pinned.stdout, /db\.marathon\.l4lb\.thisdcos\.directory\s+172\.16\.0\.10\s+5432\/tcp\s+yes\s+created/);

  const ip = await vip(['reserve', '172.16.0.53', '--port', '53/udp', '--json']);
  t.equal(ip.code, 0, ip.stderr);
  t.match(stdoutJson<AllocationJson>(ip), { created: true, vip: { name: '172.16.0.53', kind: 'ip', label: '172.16.0.53', framework: '', ipv4: '172.16.0.53', pinned: true } });

  // Moving a pinned name: the old address goes into quarantine under its name.
  const moved = await vip(['reserve', 'db.marathon.l4lb.thisdcos.directory', '172.16.0.11', '--json']);
  t.equal(moved.code, 0, moved.stderr);
  t.match(stdoutJson<AllocationJson>(moved), { vip: { ipv4: '172.16.0.11', ports: [{ port: 5432, protocol: 'tcp' }] } });
});

t.test('get by name and by address, human and --json; not found is exit 1', async (t) => {
  const [human, byAddr, missing, missingAddr, web] = await Promise.all([
    vip(['get', '/myapp']),
    vip(['get', '172.16.45.20', '--json']),
    vip(['get', 'nosuchapp']),
    vip(['get', '172.16.99.99', '--json']),
    vip(['get', 'web', '--framework', 'my_framework', '--json']),
  ]);
  t.equal(human.code, 0, human.stderr);
  t.match(human.stdout, new RegExp(`^name\\s+${MYAPP.replace(/\./g, '\\.')}\n`));
  t.match(human.stdout, /\nipv4\s+172\.16\.45\.20\n/);
  t.match(human.stdout, /\nports\s+53\/udp,5555\/tcp\n/);
  t.match(human.stdout, /\npinned\s+no\n/);
  t.equal(byAddr.code, 0, byAddr.stderr);
  t.equal(stdoutJson<VipJson>(byAddr).name, MYAPP);
  t.equal(missing.code, 1);
  t.equal(missing.stdout, '');
  t.match(missing.stderr, /^error \[HOPLITE_NOT_FOUND\]: no VIP named nosuchapp\.marathon\.l4lb\.thisdcos\.directory/);
  t.equal(missingAddr.code, 1);
  t.equal(missingAddr.stdout, '', 'nothing on stdout in --json either');
  t.match(missingAddr.stderr, /HOPLITE_NOT_FOUND/);
  t.equal(web.code, 0, web.stderr);
  t.equal(stdoutJson<VipJson>(web).name, 'web.my-framework.l4lb.thisdcos.directory');
});

t.test('list: table, --json, filters; IPv6 column with an IPv6 pool', async (t) => {
  const [human, all, pool, fw, ip] = await Promise.all([
    vip(['list']),
    vip(['list', '--json']),
    vip(['list', '--pool', '172.16.0.0/24', '--json']),
    vip(['list', '--framework', 'my_framework', '--json']),
    vip(['list', '--kind', 'ip', '--json']),
  ]);
  // The stored pools win: an IPv6 pool given without --update-pools is not used...
  const v6adopted = await vip(['list'], { env: { HOPLITE_VIP_IPV6_POOL: 'fd00:77::/64' } });
  // ...with it, the store takes the IPv6 pool (and keeps it until the next update).
  const v6 = await vip(['list', '--update-pools'], { env: { HOPLITE_VIP_IPV6_POOL: 'fd00:77::/64' } });
  const restored = await vip(['stats', '--update-pools']);
  for (const r of [human, all, pool, fw, ip, v6adopted, v6, restored]) t.equal(r.code, 0, r.stderr);
  t.match(v6adopted.stderr, /^warning: vip pools differ from the store; using the stored pools/m);
  t.match(v6adopted.stdout, /^NAME\s+IPV4\s+PORTS\s+PINNED\n/, 'no IPv6 column: the store has no IPv6 pool');
  const lines = human.stdout.trimEnd().split('\n');
  t.match(lines[0], /^NAME\s+IPV4\s+PORTS\s+PINNED$/);
  t.equal(lines.length, 5, 'header and 4 VIPs');
  t.match(lines[1], /^172\.16\.0\.53\s+172\.16\.0\.53\s+53\/udp\s+yes$/);
  const names = (r: RunResult): string[] => stdoutJson<{ vips: VipJson[] }>(r).vips.map((v) => v.name);
  t.same(Object.keys(stdoutJson(all) as object), ['vips']);
  t.same(names(all), ['172.16.0.53', 'db.marathon.l4lb.thisdcos.directory', MYAPP, 'web.my-framework.l4lb.thisdcos.directory'], 'sorted by name');
  t.same(names(pool), ['172.16.0.53', 'db.marathon.l4lb.thisdcos.directory']);
  t.same(names(fw), ['web.my-framework.l4lb.thisdcos.directory']);
  t.same(names(ip), ['172.16.0.53']);
  t.match(v6.stdout, /^NAME\s+IPV4\s+IPV6\s+PORTS\s+PINNED\n/);
  t.match(v6.stdout, /172\.16\.45\.20\s+fd00:77::2d14\s/, 'derived AAAA: fd00:77:: + offset of 172.16.45.20 in 172.16.0.0/16');
});

t.test('stats: per pool, human and --json', async (t) => {
  const [human, j] = await Promise.all([vip(['stats']), vip(['stats', '--json'])]);
  // After those: another pool set is not used (the stored pools win) unless --update-pools.
  const adopted = await vip(['stats', '--json'], { env: { HOPLITE_VIP_POOLS: '172.16.0.0/16,10.20.0.0/24' } });
  const two = await vip(['stats', '--json', '--update-pools'], { env: { HOPLITE_VIP_POOLS: '172.16.0.0/16,10.20.0.0/24' } });
  t.equal(human.code, 0, human.stderr);
  t.match(human.stdout, /^POOL\s+SIZE\s+USED\s+QUARANTINED\s+FREE\s+FULL\n172\.16\.0\.0\/16\s+65534\s+4\s+1\s+65529\s+<0\.1%\n$/);
  t.same(stdoutJson(j), {
    pools: [{ cidr: '172.16.0.0/16', size: 65534, used: 4, quarantined: 1, free: 65529 }],
    total: { size: 65534, used: 4, quarantined: 1, free: 65529 },
  });
  t.equal(adopted.code, 0, adopted.stderr);
  t.match(adopted.stderr, /^warning: vip pools differ from the store; using the stored pools/m, 'other pools: the stored ones are used, with a warning');
  t.same(stdoutJson(adopted), stdoutJson(j), 'and the figures are the stored pools\'');
  t.equal(two.code, 0, two.stderr);
  t.same(stdoutJson<{ total: unknown }>(two).total, { size: 65534 + 254, used: 4, quarantined: 1, free: 65529 + 254 }, '--update-pools replaces them');
  // Back to the default pool for the rest of the file.
  const back = await vip(['stats', '--update-pools']);
  t.equal(back.code, 0, back.stderr);
  t.same(stdoutJson(await vip(['stats', '--json'])), stdoutJson(j));
});

t.test('release: quarantine, idempotent, get hints, allocate takes it back', async (t) => {
  const rel = await vip(['release', '/myapp', '--json']);
  t.equal(rel.code, 0, rel.stderr);
  const j = stdoutJson<{ released: boolean; vip: VipJson; quarantineUntil: string }>(rel);
  t.same(Object.keys(j), ['released', 'vip', 'quarantineUntil']);
  t.equal(j.released, true);
  t.equal(j.vip.ipv4, '172.16.45.20');
  const until = Date.parse(j.quarantineUntil);
  t.ok(until > Date.now() + 9 * 60_000 && until <= Date.now() + 10 * 60_000, 'default quarantine: 10 minutes');

  const [again, againHuman, get] = await Promise.all([vip(['release', '/myapp', '--json']), vip(['release', 'never-allocated']), vip(['get', '/myapp'])]);
  t.equal(again.code, 0);
  t.same(stdoutJson(again), { released: false, vip: null, quarantineUntil: null });
  t.equal(againHuman.code, 0);
  t.equal(againHuman.stdout, 'no VIP "never-allocated": nothing released\n');
  t.equal(get.code, 1);
  t.match(get.stderr, /it was released: 172\.16\.45\.20 stays in quarantine for it until/);

  const back = await vip(['allocate', '/myapp', '--json']);
  t.match(stdoutJson<AllocationJson>(back), { created: false, fromQuarantine: true, vip: { ipv4: '172.16.45.20' } });

  const byAddress = await vip(['release', '172.16.0.53', '--quarantine', '0']);
  t.equal(byAddress.code, 0, byAddress.stderr);
  t.match(byAddress.stdout, /172\.16\.0\.53\s+172\.16\.0\.53\s+53\/udp\s+yes\s+released, free\n$/);
});

t.test('export, import, and a broken import changes nothing', async (t) => {
  const exported = await vip(['export']);
  t.equal(exported.code, 0, exported.stderr);
  const table = stdoutJson<{ format: string; version: number; revision: number; vips: VipJson[]; quarantine: unknown[] }>(exported);
  t.equal(table.format, 'hoplite-vip-table');
  t.equal(table.version, 1);
  t.same(
    table.vips.map((v) => v.name),
    ['db.marathon.l4lb.thisdcos.directory', MYAPP, 'web.my-framework.l4lb.thisdcos.directory'],
  );
  t.equal(table.quarantine.length, 1, 'db moved: its old address is in quarantine');

  const file = join(home, 'backup.json');
  const toFile = await vip(['export', '--output', file, '--json']);
  t.equal(toFile.code, 0, toFile.stderr);
  t.same(stdoutJson(toFile), { file, revision: table.revision, vips: 3, quarantine: 1 });
  t.same(JSON.parse(readFileSync(file, 'utf8')), table);

  // Something new, then restore the backup: the new VIP is gone.
  t.equal((await vip(['allocate', 'newcomer'])).code, 0);
  const restored = await vip(['import', file]);
  t.equal(restored.code, 0, restored.stderr);
  t.match(restored.stdout, /^imported 3 VIP\(s\) and 1 quarantine entry; revision now \d+\n$/);
  const after = stdoutJson<typeof table>(await vip(['export']));
  t.same(after.vips.map((v) => v.name), table.vips.map((v) => v.name));
  t.ok(after.revision > table.revision, 'the revision moves past both');

  // Broken files: nothing changes, every problem is listed, exit 2.
  const bad = structuredClone(table) as { vips: { ipv4: string; name: string }[] };
  bad.vips[0]!.ipv4 = '10.9.9.9'; // outside the pools
  bad.vips[2]!.ipv4 = bad.vips[1]!.ipv4; // two names on one address
  const [refused, notJson, wrongFormat, dry, dryBad, missing] = await Promise.all([
    vip(['import', '-'], { stdin: JSON.stringify(bad) }),
    vip(['import', '-'], { stdin: '{"format": "hoplite-vip-table", ' }),
    vip(['import', '-', '--json'], { stdin: '{"vips": []}' }),
    vip(['import', '--dry-run', file, '--json']),
    vip(['import', '--dry-run', '-'], { stdin: JSON.stringify(bad) }),
    vip(['import', join(home, 'no-such-file.json')]),
  ]);
  t.equal(refused.code, 2);
  t.match(refused.stderr, /^error \[HOPLITE_VIP_BAD_IMPORT\]: import refused, nothing changed: 2 problem\(s\)/);
  t.match(refused.stderr, /10\.9\.9\.9 is outside the pools/);
  t.match(refused.stderr, /is also the VIP of/);
  t.equal(notJson.code, 2);
  t.match(notJson.stderr, /^error \[HOPLITE_INPUT_FILE\]: cannot use standard input as a VIP table .*not valid JSON/);
  t.equal(wrongFormat.code, 2);
  t.equal(wrongFormat.stdout, '');
  t.match(wrongFormat.stderr, /HOPLITE_VIP_BAD_IMPORT.*format is undefined/);
  t.equal(dry.code, 0, dry.stderr);
  t.same(stdoutJson(dry), { imported: false, vips: 3, quarantine: 1, revision: after.revision });
  t.equal(dryBad.code, 2);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /HOPLITE_INPUT_FILE.*no such file/);
  const unchanged = stdoutJson<typeof table>(await vip(['export']));
  t.same(unchanged, after, 'the table (and its revision) did not change');
});

t.test('check on a sound table: exit 0', async (t) => {
  const [human, j] = await Promise.all([vip(['check']), vip(['check', '--json'])]);
  t.equal(human.code, 0, human.stderr);
  t.equal(human.stdout, 'ok: no problems\n');
  t.equal(j.code, 0);
  t.same(stdoutJson(j), { ok: true, problems: [], repaired: [], remaining: [] });
});

t.test('--store embedded:<path> and a config file choose another file', async (t) => {
  const path = join(home, 'other', 'vip.db');
  const r = await vip(['allocate', 'elsewhere', '--store', `embedded:${path}`, '--json']);
  t.equal(r.code, 0, r.stderr);
  t.ok(existsSync(path));
  const config = join(home, 'hoplite.json');
  // The file was created with the default pools: the config file's pools replace them only with updatePools.
  writeFileSync(config, JSON.stringify({ store: `embedded:${path}`, vip: { pools: ['10.33.0.0/24'], updatePools: true } }));
  const [list, listEnv] = await Promise.all([vip(['list', '--json', '--config', config]), vip(['list', '--json'], { env: { HOPLITE_CONFIG: config } })]);
  t.equal(list.code, 0, list.stderr);
  t.same(stdoutJson<{ vips: VipJson[] }>(list).vips.map((v) => v.name), ['elsewhere.marathon.l4lb.thisdcos.directory']);
  t.same(stdoutJson(listEnv), stdoutJson(list));
  const stats = await vip(['stats', '--json', '--config', config]);
  t.match(stdoutJson(stats), { pools: [{ cidr: '10.33.0.0/24', size: 254 }] }, 'pools from the config file');
});
