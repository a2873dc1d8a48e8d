/** Renders the configuration reference (docs/config.md's table) from the schema. */
import { FIELDS, envName } from './schema.js';
import { fmtMs } from './values.js';

function showDefault(f: (typeof FIELDS)[number]): string {
  if (f.defaultText) return f.defaultText;
  const d = f.default;
  if (Array.isArray(d)) return d.length ? d.map((x) => `\`${String(x)}\``).join(', ') : '(none)';
  if (typeof d === 'number' && f.kind.accepts.startsWith('a duration')) return `\`${fmtMs(d)}\``;
  if (d === '') return '(empty)';
  if (typeof d === 'object' && d !== null) return Object.keys(d).length ? `\`${JSON.stringify(d)}\`` : '(none)';
  return `\`${String(d)}\``;
}

export function configTable(): string {
  const rows = FIELDS.map(
    (f) => `| \`${f.key}\` | \`${envName(f.key)}\` | ${f.flag ? `\`--${f.flag}\`` : ''} | ${showDefault(f)} | ${f.describe} Accepts ${f.kind.accepts}. |`,
  );
  return ['| key | environment | flag | default | meaning |', '| --- | --- | --- | --- | --- |', ...rows].join('\n') + '\n';
}
