/**
 * `hoplite vip from-app`: the label reader (unit, from src) and the built command on the
 * embedded store: both label forms, old Docker apps, pods, Marathon's API wrappers, stdin, and a
 * malformed label refusing the whole file.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { appVipLabels } from '../src/vip/marathon.js';
import { cliHome, runCli, stdoutJson, type RunResult } from './helpers/run-cli.js';

/** Host networking: labels on portDefinitions. */
const HOST_APP = {
  id: '/prod/web',
  instances: 2,
  portDefinitions: [
    { port: 0, protocol: 'tcp', name: 'http', labels: { VIP_0: '/prod/web:80', OWNER: 'team-a' } },
    { port: 0, protocol: 'udp,tcp', labels: { VIP_1: 'resolver:53' } },
    { port: 0 },
  ],
};

/** Container networking (Marathon 1.5+): labels on container.portMappings; IP VIPs in and out of the pools. */
const CONTAINER_APP = {
  id: '/prod/api',
  container: {
    type: 'DOCKER',
    docker: { image: 'api:1' },
    portMappings: [
      { containerPort: 8080, hostPort: 0, protocol: 'tcp', labels: { VIP_0: 'api.v2:8080' } },
      { containerPort: 9090, protocol: 'tcp', labels: { VIP_ip: '172.16.200.1:9090', VIP_ext: '10.9.9.9:9090' } },
    ],
  },
};

/** Older apps: container.docker.portMappings. */
const OLD_DOCKER_APP = {
  id: '/legacy',
  container: { type: 'DOCKER', docker: { image: 'old:1', network: 'BRIDGE', portMappings: [{ containerPort: 80, protocol: 'udp', labels: { VIP_0: '/legacy:80' } }] } },
};

t.test('appVipLabels: where labels sit, and their protocols', async (t) => {
  const r = appVipLabels({ apps: [HOST_APP, CONTAINER_APP, OLD_DOCKER_APP] });
  t.same(r.problems, []);
  t.equal(r.apps, 3);
  t.same(
    r.labels.map((l) => [l.app, l.source, l.key, l.value, l.protocol, l.label.kind]),
    [
      ['/prod/web', 'portDefinitions[0]', 'VIP_0', '/prod/web:80', 'tcp', 'named'],
      ['/prod/web', 'portDefinitions[1]', 'VIP_1', 'resolver:53', 'udp,tcp', 'named'],
      ['/prod/api', 'container.portMappings[0]', 'VIP_0', 'api.v2:8080', 'tcp', 'named'],
      ['/prod/api', 'container.portMappings[1]', 'VIP_ip', '172.16.200.1:9090', 'tcp', 'ip'],
      ['/prod/api', 'container.portMappings[1]', 'VIP_ext', '10.9.9.9:9090', 'tcp', 'ip'],
      ['/legacy', 'container.docker.portMappings[0]', 'VIP_0', '/legacy:80', 'udp', 'named'],
    ],
  );
  // The same labels whatever the wrapper: one app, {app}, an array, a group with nested groups.
  const one = appVipLabels(HOST_APP);
  t.same(appVipLabels({ app: HOST_APP }).labels, one.labels);
  t.same(appVipLabels([HOST_APP]).labels, one.labels);
  t.same(appVipLabels({ id: '/', groups: [{ id: '/prod', apps: [HOST_APP] }] }).labels, one.labels);
  // Pods: endpoints with a protocol list.
  const pod = appVipLabels({ pods: [{ id: '/pod', containers: [{ name: 'c', endpoints: [{ name: 'dns', protocol: ['udp', 'tcp'], labels: { VIP_0: '/pod-dns:53' } }] }] }] });
  t.same(pod.labels.map((l) => [l.source, l.protocol]), [['containers[0].endpoints[0]', 'udp,tcp']]);
  // No labels at all is not a problem.
  t.same(appVipLabels({ id: '/quiet', cmd: 'sleep 1' }), { apps: 1, labels: [], problems: [] });
});

t.test('appVipLabels: every problem at once, each naming where', async (t) => {
  const r = appVipLabels({
    id: '/bad',
    portDefinitions: [{ labels: { VIP_0: 'noport', VIP_1: 'a:99999', VIP_2: 7, vip_lower: 'ignored' } }, { protocol: 'sctp', labels: { VIP_3: '/x:1' } }, 'nope'],
    container: { portMappings: { not: 'a list' } },
  });
  t.equal(r.labels.length, 0);
  t.match(r.problems, [
    /^\/bad portDefinitions\[0\]\.labels\.VIP_0: bad VIP label "VIP_0=noport": no ":<port>".*\[HOPLITE_VIP_BAD_LABEL\]$/,
    /^\/bad portDefinitions\[0\]\.labels\.VIP_1: .*port 99999 is outside 1-65535/,
    /^\/bad portDefinitions\[0\]\.labels\.VIP_2: the value 7 is not a string/,
    /^\/bad portDefinitions\[1\]\.labels\.VIP_3: .*protocol "sctp" is not tcp, udp or udp,tcp/,
    /^\/bad portDefinitions\[2\]: not an object/,
    /^\/bad container\.portMappings: not a list/,
  ]);
  t.equal(r.problems.length, 6);
  t.match(appVipLabels(42).problems, [/^the document: 42 is not an app definition/]);
  t.match(appVipLabels({ hello: 'world' }).problems, [/^the document: not an app definition/]);
  t.match(appVipLabels({ apps: {} }).problems, [/^apps: not a list/]);
});

const home = cliHome(t);
const vip = (args: string[], stdin?: string): Promise<RunResult> => runCli(['vip', ...args], { home, ...(stdin !== undefined ? { stdin } : {}) });

interface FromAppJson {
  apps: number;
  labels: {
    app: string;
    source: string;
    key: string;
    value: string;
    protocol: string;
    kind: string;
    vip: { name: string; ipv4: string; kind: string; ports: { port: number; protocol: string }[] } | null;
    created: boolean;
    fromQuarantine: boolean;
  }[];
}

t.test('from-app: a file with both label forms, human output; names from labels, not app ids', async (t) => {
  const file = join(home, 'apps.json');
  writeFileSync(file, JSON.stringify({ apps: [HOST_APP, CONTAINER_APP] }));
  const r = await vip(['from-app', file]);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  t.match(lines[0], /^APP\s+PORT\s+LABEL\s+NAME\s+IPV4\s+PORTS\s+STATUS$/);
  t.equal(lines.length, 6);
  t.match(lines[1], /^\/prod\/web\s+portDefinitions\[0\]\s+VIP_0=\/prod\/web:80\s+prodweb\.marathon\.l4lb\.thisdcos\.directory\s+172\.16\.\d+\.\d+\s+80\/tcp\s+created$/);
  t.match(lines[2], /^\/prod\/web\s+portDefinitions\[1\]\s+VIP_1=resolver:53\s+resolver\.marathon\.l4lb\.thisdcos\.directory\s+\S+\s+53\/tcp,53\/udp\s+created$/);
  t.match(lines[3], /^\/prod\/api\s+container\.portMappings\[0\]\s+VIP_0=api\.v2:8080\s+apiv2\.marathon\.l4lb\.thisdcos\.directory\s/);
  t.match(lines[4], /^\/prod\/api\s+container\.portMappings\[1\]\s+VIP_ip=172\.16\.200\.1:9090\s+172\.16\.200\.1\s+172\.16\.200\.1\s+9090\/tcp\s+created$/);
  t.match(lines[5], /^\/prod\/api\s+container\.portMappings\[1\]\s+VIP_ext=10\.9\.9\.9:9090\s+-\s+10\.9\.9\.9\s+-\s+outside the pools, nothing to reserve$/);

  const list = stdoutJson<{ vips: { name: string; kind: string }[] }>(await vip(['list', '--json']));
  t.same(
    list.vips.map((v) => `${v.kind} ${v.name}`),
    ['ip 172.16.200.1', 'named apiv2.marathon.l4lb.thisdcos.directory', 'named prodweb.marathon.l4lb.thisdcos.directory', 'named resolver.marathon.l4lb.thisdcos.directory'],
  );
});

t.test('from-app -: stdin, --json, old Docker form; idempotent', async (t) => {
  const input = JSON.stringify([OLD_DOCKER_APP, { app: HOST_APP }]);
  const r = await vip(['from-app', '-', '--json'], input);
  t.equal(r.code, 0, r.stderr);
  const j = stdoutJson<FromAppJson>(r);
  t.same(Object.keys(j), ['apps', 'labels']);
  t.equal(j.apps, 2);
  t.same(Object.keys(j.labels[0]!), ['app', 'source', 'key', 'value', 'protocol', 'kind', 'vip', 'created', 'fromQuarantine']);
  t.match(j.labels, [
    { app: '/legacy', source: 'container.docker.portMappings[0]', key: 'VIP_0', value: '/legacy:80', protocol: 'udp', kind: 'named', created: true, vip: { name: 'legacy.marathon.l4lb.thisdcos.directory', ports: [{ port: 80, protocol: 'udp' }] } },
    { app: '/prod/web', key: 'VIP_0', created: false, vip: { name: 'prodweb.marathon.l4lb.thisdcos.directory' } },
    { app: '/prod/web', key: 'VIP_1', created: false, vip: { name: 'resolver.marathon.l4lb.thisdcos.directory' } },
  ]);
  const again = stdoutJson<FromAppJson>(await vip(['from-app', '-', '--json'], input));
  t.same(
    again.labels.map((l) => [l.vip?.ipv4, l.created]),
    j.labels.map((l) => [l.vip?.ipv4, false]),
    'the same addresses, nothing created',
  );
});

t.test('from-app: a malformed label refuses the whole file (exit 2, nothing allocated); no labels is fine', async (t) => {
  const before = (await vip(['export'])).stdout;
  const bad = {
    apps: [
      { id: '/good', portDefinitions: [{ labels: { VIP_0: '/would-be-allocated:80' } }] },
      { id: '/bad', container: { portMappings: [{ labels: { VIP_0: '[fd00::1:80' } }] } },
    ],
  };
  const [refused, notJson, quiet, quietJson] = await Promise.all([
    vip(['from-app', '-'], JSON.stringify(bad)),
    vip(['from-app', '-'], '{"id": '),
    vip(['from-app', '-'], JSON.stringify({ id: '/quiet', cmd: 'sleep 1' })),
    vip(['from-app', '-', '--json'], JSON.stringify({ id: '/quiet' })),
  ]);
  t.equal(refused.code, 2);
  t.equal(refused.stdout, '');
  t.match(refused.stderr, /^error \[HOPLITE_BAD_APP\]: app definition standard input refused, nothing allocated \(1 problem\(s\)\):\n  \/bad container\.portMappings\[0\]\.labels\.VIP_0: bad VIP label "VIP_0=\[fd00::1:80"/);
  t.equal(notJson.code, 2);
  t.match(notJson.stderr, /^error \[HOPLITE_INPUT_FILE\]/);
  t.equal(quiet.code, 0, quiet.stderr);
  t.equal(quiet.stdout, 'no VIP labels in standard input (1 app(s))\n');
  t.same(stdoutJson(quietJson), { apps: 1, labels: [] });
  t.equal((await vip(['export'])).stdout, before, 'the table did not change');
});
