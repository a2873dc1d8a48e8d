// Medians, ratios and Markdown tables for the benchmark reports.

export function median(values) {
  const a = values.filter((v) => Number.isFinite(v)).sort((x, y) => x - y);
  if (a.length === 0) return NaN;
  const m = a.length >> 1;
  return a.length % 2 ? a[m] : (a[m - 1] + a[m]) / 2;
}

export function fmt(v, digits = 1) {
  if (v === undefined || v === null || Number.isNaN(v)) return '-';
  if (typeof v === 'string') return v;
  if (Math.abs(v) >= 1000) return Math.round(v).toLocaleString('en-US');
  return v.toFixed(digits);
}

/** A Markdown table from column specs [{ title, get(row) -> value, digits }]. */
export function table(rows, columns) {
  const head = `| ${columns.map((c) => c.title).join(' | ')} |`;
  const sep = `| ${columns.map((c) => (c.align === 'left' ? '---' : '---:')).join(' | ')} |`;
  const body = rows.map((r) => `| ${columns.map((c) => {
    const v = c.get(r);
    return typeof v === 'string' ? v : fmt(v, c.digits ?? 1);
  }).join(' | ')} |`);
  return [head, sep, ...body].join('\n');
}

/** "x1.23" ratio of a value to the reference value, or '-' when either is missing. */
export function ratio(v, ref) {
  if (!Number.isFinite(v) || !Number.isFinite(ref) || ref === 0) return '-';
  return `${(v / ref).toFixed(2)}x`;
}
