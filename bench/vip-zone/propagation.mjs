// Part 1, propagation: from `allocate()` returning in this process to the first correct DNS answer
// from a separate `hoplite serve` process sharing the store (a private Redis, or one SQLite file).
//
// For each of `count` fresh names, one after another: allocate (ports 80/tcp), note the time it
// returned, then query the name over UDP back to back (each query waits for its reply, 1 s at most)
// until the reply is NOERROR with the allocated address, for `capMs` at most. Latency = time the
// correct reply arrived - time allocate returned. serve runs at its defaults, pinned to the server
// CPU (the bench process, its allocator and redis-server on the other one).

import { join } from 'node:path';
import { mkdirSync } from 'node:fs';
import { startRedis, startServe, DnsClient, percentiles, loadavg, vipDnsName, loadVip } from './lib.mjs';

/**
 * @param {object} o
 * @param {'redis'|'embedded'} o.store
 * @param {number} o.count      names allocated one after another
 * @param {number} o.capMs      give up on a name after this long
 * @param {string} o.dir        private temp dir
 * @param {string[]} o.pools
 * @param {(msg: string) => void} o.log
 */
export async function propagationRound({ store, count, capMs, dir, pools, log, round, serverCpu }) {
  mkdirSync(dir, { recursive: true });
  let redis;
  let spec;
  if (store === 'redis') {
    redis = await startRedis(dir);
    spec = redis.url;
  } else {
    spec = `embedded:${join(dir, 'vip.db')}`;
  }
  // The bench's allocator opens the store first (creates the SQLite file / the Redis keys), so that
  // serve starts on an existing, empty table.
  const { createAllocator } = await loadVip();
  const alloc = await createAllocator({ store: spec, pools, quarantineMs: 0 });
  let serve;
  const client = { close() {} };
  try {
    serve = await startServe({ store: spec, pools, dir, cpus: serverCpu, logFile: join(dir, 'serve.log') });
    await serve.waitForLog('vip zone synced');
    const dns = new DnsClient(serve.dnsPort);
    client.close = () => dns.close();
    const lat = [];
    const queries = [];
    let failures = 0;
    const load0 = loadavg();
    const t0 = Date.now();
    for (let i = 0; i < count; i++) {
      const label = `p${round}x${i}`;
      const { vip } = await alloc.allocate(label, { ports: ['80/tcp'] });
      const tAlloc = performance.now();
      const name = vipDnsName(label);
      let n = 0;
      let ok = false;
      while (performance.now() - tAlloc < capMs) {
        n++;
        const { t, res } = await dns.query(name, 'A', 1000);
        if (res && res.rcode === 'NOERROR' && res.answers.some((a) => a.type === 'A' && a.data === vip.ipv4)) {
          lat.push(t - tAlloc);
          ok = true;
          break;
        }
      }
      queries.push(n);
      if (!ok) failures++;
    }
    const wallS = (Date.now() - t0) / 1000;
    const p = percentiles(lat, [50, 90, 99, 100]);
    const q = percentiles(queries, [50, 99, 100]);
    const r = {
      store, round, count, answered: lat.length, failures, capMs,
      p50Ms: p.p50, p90Ms: p.p90, p99Ms: p.p99, maxMs: p.p100,
      minMs: Math.min(...lat),
      meanMs: lat.reduce((a, b) => a + b, 0) / Math.max(1, lat.length),
      queriesPerNameP50: q.p50, queriesPerNameP99: q.p99, queriesPerNameMax: q.p100,
      wallS, loadavgBefore: load0, loadavgAfter: loadavg(),
      latenciesMs: lat.map((v) => Number(v.toFixed(3))),
      serveCommand: serve.command,
    };
    log(`propagation ${store} round ${round}: p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms, max ${r.maxMs.toFixed(2)} ms, ${failures} failures (load ${r.loadavgBefore} -> ${r.loadavgAfter})`);
    return r;
  } finally {
    client.close();
    if (serve) await serve.stop();
    await alloc.close();
    if (redis) await redis.stop();
  }
}
