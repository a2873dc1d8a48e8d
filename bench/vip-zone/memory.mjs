#!/usr/bin/env node
// Where the memory of a 100k-VIP table goes: the steps `hoplite serve` takes, run in this process
// (with --expose-gc, so that each figure is the live heap after a full GC, not V8's slack).
//
//   node bench/vip-zone/memory.mjs [--vips 100000] [--pool 10.64.0.0/14]
//
// Steps (the same code serve runs, from the built packages): open the allocator on a private Redis
// filled with vip0..vip<n-1>; stream the watch snapshot into a VipTable (as the follower does);
// write the local snapshot copy (one line per VIP, as the follower does after changes); read it
// back (as a restart does). Prints heapUsed / external / RSS after each step,
// and the RSS right after the (synchronous) write of the copy, before any GC.

import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL, fileURLToPath } from 'node:url';
import { tempDir, stopAll, killAllSync } from '../lib/proc.mjs';
import { startRedis, fillStore, freezeBuild, loadVip, currentBuild } from './lib.mjs';

if (typeof globalThis.gc !== 'function') {
  const r = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(r.status ?? 1);
}

const { values: o } = parseArgs({ options: { vips: { type: 'string', default: '100000' }, pool: { type: 'string', default: '10.64.0.0/14' } } });
const N = Number(o.vips);
const pools = [o.pool];
const tmp = tempDir('hoplite-vipzone-mem-');
process.on('exit', () => killAllSync());

const mb = (b) => (b / 1048576).toFixed(1);
const rows = [];
let base;
function mark(step) {
  globalThis.gc();
  globalThis.gc();
  const m = process.memoryUsage();
  if (!base && step.startsWith('allocator open')) base = m;
  rows.push({ step, heapUsedMB: mb(m.heapUsed), heapTotalMB: mb(m.heapTotal), externalMB: mb(m.external), rssMB: mb(m.rss), heapPerVipB: base && N ? Math.round((m.heapUsed - base.heapUsed) / N) : 0 });
}

try {
  freezeBuild(join(tmp.dir, 'build'));
  const b = currentBuild();
  const cliDist = join(b.bin, '..');
  const { VipTable } = await import(pathToFileURL(join(cliDist, 'serve', 'vip-zone.js')).href);
  const { writeSnapshotFile, readSnapshotFile } = await import(pathToFileURL(join(cliDist, 'serve', 'snapshot-file.js')).href);
  const { createAllocator } = await loadVip();
  const redis = await startRedis(join(tmp.dir, 'redis'));
  const f = await fillStore({ store: redis.url, pools, to: N, workers: 4, inflight: 8 });
  console.error(`filled ${N} VIPs in ${f.wallS.toFixed(1)} s`);

  mark('modules loaded');
  const alloc = await createAllocator({ store: redis.url, pools });
  mark('allocator open (as the follower)');
  // As the follower: a streamed snapshot (chunks of WATCH_CHUNK_SIZE) into a table built beside.
  const { WATCH_CHUNK_SIZE } = await import(pathToFileURL(join(cliDist, 'serve', 'follower.js')).href);
  const table = new VipTable({ pools });
  await new Promise((resolve) => {
    const w = alloc.watch((e) => {
      if (e.type === 'snapshot-begin') table.beginLoad();
      else if (e.type === 'snapshot-chunk') table.loadChunk(e.vips);
      else if (e.type === 'change') table.applyToLoad(e.change);
      else if (e.type === 'snapshot-end') {
        table.commitLoad(e.revision);
        resolve();
        void w.close();
      }
    }, { chunkSize: WATCH_CHUNK_SIZE });
  });
  mark(`VipTable loaded from a streamed snapshot (${table.size} VIPs, chunks of ${WATCH_CHUNK_SIZE})`);
  const file = join(tmp.dir, 'vip-snapshot.json');
  const before = process.memoryUsage().rss;
  const t0 = performance.now();
    writeSnapshotFile(file, table.revision, table.pools, table.entries());
  const writeMs = performance.now() - t0;
  const rssAfterWrite = process.memoryUsage().rss;
  mark('after writing the local copy');
  const t1 = performance.now();
  const snap2 = readSnapshotFile(file);
  const readMs = performance.now() - t1;
  mark('local copy read back (held) + VipTable');
  console.log(`| step | heapUsed MB | heapTotal MB | external MB | RSS MB | heap per VIP over the open allocator, bytes |`);
  console.log(`| --- | ---: | ---: | ---: | ---: | ---: |`);
  for (const r of rows) console.log(`| ${r.step} | ${r.heapUsedMB} | ${r.heapTotalMB} | ${r.externalMB} | ${r.rssMB} | ${r.heapPerVipB} |`);
  console.log(`\nLocal copy: ${snap2.vips.length} VIPs; write (line by line, synchronous) ${writeMs.toFixed(0)} ms, RSS ${mb(before)} -> ${mb(rssAfterWrite)} MB right after it (before GC); read back ${readMs.toFixed(0)} ms.`);
  await alloc.close();
  await redis.stop();
} finally {
  await stopAll();
  tmp.cleanup();
}
