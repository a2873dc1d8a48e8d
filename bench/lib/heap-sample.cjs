// Preloaded with `node -r bench/lib/heap-sample.cjs` (bench/dns/tail.mjs --heap-sample): V8's
// sampling heap profiler over a window of the process's life, summarized by allocating function.
//
//   HEAP_SAMPLE_START   ms after start when sampling begins (default 4000)
//   HEAP_SAMPLE_MS      how long it samples (default 4000)
//   HEAP_SAMPLE_LIVE    1: only objects still alive when sampling stops (what outlives GCs);
//                       default: every allocation, including objects collected meanwhile
//   HEAP_SAMPLE_OUT     file for the summary (default: stderr)
//
// The summary: total bytes sampled, then the top 40 allocation sites as
// "percent  caller < caller < allocating function" (three frames, file:line of each function).
'use strict';
const inspector = require('node:inspector');
const fs = require('node:fs');

const startAfter = Number(process.env.HEAP_SAMPLE_START ?? 4000);
const duration = Number(process.env.HEAP_SAMPLE_MS ?? 4000);
const includeCollected = process.env.HEAP_SAMPLE_LIVE !== '1';
const session = new inspector.Session();
session.connect();

function summarize(profile) {
  const bySite = new Map();
  const walk = (node, stack) => {
    const f = node.callFrame;
    const frame = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`;
    const path = [...stack, frame];
    if (node.selfSize) {
      const key = path.slice(-3).join(' < ');
      bySite.set(key, (bySite.get(key) ?? 0) + node.selfSize);
    }
    for (const child of node.children) walk(child, path);
  };
  walk(profile.head, []);
  const total = [...bySite.values()].reduce((a, b) => a + b, 0);
  const rows = [...bySite.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40);
  return `heap-sample: ${includeCollected ? 'all allocations' : 'live objects'} over ${duration} ms: total ${total} bytes\n`
    + rows.map(([k, v]) => `${((v / total) * 100).toFixed(1)}% ${k}`).join('\n') + '\n';
}

setTimeout(() => {
  session.post('HeapProfiler.startSampling', {
    samplingInterval: 256,
    includeObjectsCollectedByMajorGC: includeCollected,
    includeObjectsCollectedByMinorGC: includeCollected,
  }, (err) => {
    if (err) {
      process.stderr.write(`heap-sample: ${err.message}\n`);
      return;
    }
    setTimeout(() => {
      session.post('HeapProfiler.stopSampling', (err2, res) => {
        if (err2) {
          process.stderr.write(`heap-sample: ${err2.message}\n`);
          return;
        }
        const text = summarize(res.profile);
        if (process.env.HEAP_SAMPLE_OUT) fs.writeFileSync(process.env.HEAP_SAMPLE_OUT, text);
        else process.stderr.write(text);
      });
    }, duration).unref();
  });
}, startAfter).unref();
