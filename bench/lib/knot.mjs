// The fast upstream: knotd (Debian `knot`) serving zones from files, configured in a private temp
// dir, listening on 127.0.0.1:<port>, started and stopped by PID. One UDP worker and one TCP worker,
// so that it stays a small, predictable load on the core it is pinned to.

import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { start, stop, freePort } from './proc.mjs';
import { waitForAnswer } from './dnsprobe.mjs';

/** The zones every upstream serves. Names are lowercase, no trailing dot. */
export const BENCH_ZONE = 'bench.test';
export const MASTER_ZONE = 'mesos';
export const LOCAL_ZONE = 'l4lb.thisdcos.directory';

/** Records of the local-answer zone: `count` names vip<i>.marathon.<LOCAL_ZONE> -> 10.64.x.y. */
export function localRecords(count) {
  const out = [];
  for (let i = 0; i < count; i++) {
    out.push({ name: `vip${i}.marathon.${LOCAL_ZONE}`, type: 'A', address: `10.64.${(i >> 8) & 255}.${i & 255}`, ttl: 300 });
  }
  return out;
}

function zoneFile(origin, body) {
  return [
    `$ORIGIN ${origin}.`,
    '$TTL 300',
    `@ IN SOA ns.${origin}. admin.${origin}. 1 3600 600 86400 60`,
    `@ IN NS ns.${origin}.`,
    `ns IN A 192.0.2.53`,
    ...body,
    '',
  ].join('\n');
}

/**
 * Start one knotd. Zones:
 *  - bench.test: `*` A 192.0.2.1 plus fixed names (fixed, ready) -> random names are all answered;
 *  - mesos:      `*` A 192.0.2.2, `leader` A 192.0.2.3 (the master zone of the fan-out scenario);
 *  - l4lb.thisdcos.directory: `localCount` fixed A records (what Hoplite answers locally, and what
 *    the caching peers cache in the local-answer scenario).
 */
export async function startKnot({ dir, cpus, localCount = 300, name = 'knotd' }) {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  writeFileSync(join(dir, `${BENCH_ZONE}.zone`), zoneFile(BENCH_ZONE, [
    'fixed IN A 192.0.2.10',
    'ready IN A 192.0.2.11',
    '* IN A 192.0.2.1',
  ]));
  writeFileSync(join(dir, `${MASTER_ZONE}.zone`), zoneFile(MASTER_ZONE, [
    'leader IN A 192.0.2.3',
    '* IN A 192.0.2.2',
  ]));
  writeFileSync(join(dir, `${LOCAL_ZONE}.zone`), zoneFile(LOCAL_ZONE, localRecords(localCount).map(
    (r) => `${r.name}. ${r.ttl} IN A ${r.address}`,
  )));
  const conf = `server:
    listen: 127.0.0.1@${port}
    rundir: ${dir}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: error
database:
    storage: ${dir}/db
control:
    listen: ${dir}/knot.sock
template:
  - id: default
    storage: ${dir}
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: ${BENCH_ZONE}
    file: ${BENCH_ZONE}.zone
  - domain: ${MASTER_ZONE}
    file: ${MASTER_ZONE}.zone
  - domain: ${LOCAL_ZONE}
    file: ${LOCAL_ZONE}.zone
`;
  mkdirSync(join(dir, 'db'), { recursive: true });
  const confPath = join(dir, 'knot.conf');
  writeFileSync(confPath, conf);
  const child = start(name, 'knotd', ['-c', confPath], { cpus, logFile: join(dir, 'knotd.log') });
  try {
    await waitForAnswer(port, `fixed.${BENCH_ZONE}`, { child });
  } catch (err) {
    await stop(child);
    throw err;
  }
  return { port, child, addr: `127.0.0.1:${port}`, stop: () => stop(child) };
}
