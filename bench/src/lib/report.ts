import type { Summary } from './suite.js';

/** The table (stdout), the SVG chart and number formatting. Pure: strings in, strings out. */

export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 1e6) return `${(n / 1e6).toFixed(a >= 1e7 ? 1 : 2)}M`;
  if (a >= 1e4) return `${(n / 1e3).toFixed(a >= 1e5 ? 0 : 1)}k`;
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export interface Skipped {
  name: string;
  reason: string;
}

export function table(results: Summary[], skipped: Skipped[]): string {
  const head = ['case', 'unit', 'sluice', 'baseline', 'ratio', 'sluice min..max', 'target', 'met'];
  const rows = results.map((r) => [
    r.name,
    r.unit,
    fmt(r.value),
    fmt(r.baseline),
    Number.isFinite(r.ratio) ? r.ratio.toFixed(3) : '-',
    `${fmt(r.min)}..${fmt(r.max)}`,
    r.target ?? '',
    r.targetMet === null ? '' : r.targetMet ? 'yes' : 'NO',
  ]);
  for (const s of skipped) rows.push([s.name, '', 'skipped', '', '', '', '', s.reason]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i >= 2 && i <= 5 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (i >= 2 && i <= 5 ? `${'-'.repeat(w + 1)}:` : '-'.repeat(w + 2))).join('|')}|`;
  return [line(head), sep, ...rows.map(line)].join('\n');
}

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * One row per figure: the Sluice bar and the baseline bar, scaled to the larger of the two (units
 * differ between cases, so each row has its own scale), absolute values at the bar ends and the
 * ratio on the right. Hand-written SVG: no dependency.
 */
export function chart(results: Summary[], title: string): string {
  const rowH = 46;
  const labelW = 300;
  const barW = 420;
  const ratioW = 150;
  const top = 64;
  const width = labelW + barW + ratioW + 20;
  const height = top + results.length * rowH + 30;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="10" y="22" font-size="16" font-weight="bold">${esc(title)}</text>`);
  out.push(`<rect x="${labelW}" y="34" width="12" height="10" fill="#2f6fb0"/><text x="${labelW + 16}" y="43">Sluice (secure)</text>`);
  out.push(`<rect x="${labelW + 130}" y="34" width="12" height="10" fill="#b8b8b8"/><text x="${labelW + 146}" y="43">baseline</text>`);
  out.push(`<text x="${labelW + barW + 10}" y="43" fill="#444">ratio (sluice / baseline)</text>`);
  results.forEach((r, i) => {
    const y = top + i * rowH;
    const scale = Math.max(r.value, r.baseline) || 1;
    const wv = Math.max(1, (r.value / scale) * (barW - 70));
    const wb = Math.max(1, (r.baseline / scale) * (barW - 70));
    if (i % 2 === 1) out.push(`<rect x="0" y="${y - 4}" width="${width}" height="${rowH}" fill="#f4f6f8"/>`);
    out.push(`<text x="10" y="${y + 14}" font-weight="bold">${esc(r.name)}</text>`);
    out.push(`<text x="10" y="${y + 30}" fill="#555">${esc(r.unit)}${r.better === 'lower' ? ' (lower is better)' : ''}</text>`);
    out.push(`<rect x="${labelW}" y="${y + 2}" width="${wv.toFixed(1)}" height="16" fill="#2f6fb0"/>`);
    out.push(`<text x="${(labelW + wv + 4).toFixed(1)}" y="${y + 14}">${fmt(r.value)}</text>`);
    out.push(`<rect x="${labelW}" y="${y + 20}" width="${wb.toFixed(1)}" height="16" fill="#b8b8b8"/>`);
    out.push(`<text x="${(labelW + wb + 4).toFixed(1)}" y="${y + 32}">${fmt(r.baseline)}</text>`);
    const colour = r.targetMet === null ? '#222' : r.targetMet ? '#1b7a2f' : '#b3261e';
    const mark = r.targetMet === null ? '' : r.targetMet ? ' ✓' : ' ✗';
    out.push(`<text x="${labelW + barW + 10}" y="${y + 24}" font-size="14" font-weight="bold" fill="${colour}">${Number.isFinite(r.ratio) ? r.ratio.toFixed(2) : '-'}${mark}</text>`);
    if (r.target) out.push(`<text x="${labelW + barW + 60}" y="${y + 24}" fill="#666">${esc(r.target)}</text>`);
  });
  out.push(`<text x="10" y="${height - 10}" fill="#666">Medians of ≥3 runs, Sluice and baseline side by side in the same run; see bench/results.json for min/max and every run.</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
