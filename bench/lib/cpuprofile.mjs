// A V8 .cpuprofile (node --cpu-prof) summed by function over a time window: shared by
// bench/dns/profile.mjs and bench/vip-zone/profile.mjs.
import { basename } from 'node:path';

/** Self and inclusive sample counts per function over the samples in [fromUs, toUs) of the profile. */
export function summarize(profile, fromUs, toUs) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const key = (n) => {
    const f = n.callFrame;
    const file = f.url ? basename(f.url.replace(/^file:\/\//, '')) : '';
    return `${f.functionName || '(anonymous)'} ${file ? `${file}:${f.lineNumber + 1}` : ''}`.trim();
  };
  const self = new Map();
  const incl = new Map();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    if (t < fromUs || t >= toUs) continue;
    const leaf = byId.get(profile.samples[i]);
    const k = key(leaf);
    if (k.startsWith('(idle)')) continue;
    total++;
    self.set(k, (self.get(k) ?? 0) + 1);
    const seen = new Set();
    for (let id = leaf.id; id !== undefined; id = parent.get(id)) {
      const kk = key(byId.get(id));
      if (seen.has(kk)) continue;
      seen.add(kk);
      incl.set(kk, (incl.get(kk) ?? 0) + 1);
    }
  }
  return { total, self, incl };
}

/** Markdown rows `| function | % of samples | us/query |` of the `top` largest counts in `counts`. */
export function profileRows(counts, total, usPerQuery, top) {
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)
    .map(([k, v]) => `| ${k.replace(/\|/g, '\\|')} | ${(100 * v / total).toFixed(1)} | ${(usPerQuery * v / total).toFixed(2)} |`).join('\n');
}
