import { html, type Html } from './html.js';
import type { DagView } from './views.js';

/**
 * An app's logical DAG drawn server-side as SVG: one column per depth (a source at the left,
 * each operator one column right of its furthest upstream), a box per operator with its
 * partitions, and an arrow per stream labelled with its name. Colours come from presentation
 * attributes and the stylesheet, so the page's CSP needs no inline style.
 */

const BOX_W = 170;
const BOX_H = 58;
const COL = 250;
const ROW = 96;
const PAD = 24;

export function dagSvg(dag: DagView, title: string): Html {
  const depth = new Map<string, number>();
  for (const op of dag.operators) {
    const ups = dag.streams.filter((s) => s.to.includes(op.name)).map((s) => (depth.get(s.from) ?? 0) + 1);
    depth.set(op.name, Math.max(0, ...ups));
  }
  const rows = new Map<number, number>();
  const at = new Map<string, { x: number; y: number }>();
  for (const op of dag.operators) {
    const d = depth.get(op.name)!;
    const r = rows.get(d) ?? 0;
    rows.set(d, r + 1);
    at.set(op.name, { x: PAD + d * COL, y: PAD + r * ROW });
  }
  const width = PAD * 2 + Math.max(0, ...[...depth.values()]) * COL + BOX_W;
  const height = PAD * 2 + (Math.max(1, ...rows.values()) - 1) * ROW + BOX_H;
  const edges = dag.streams.flatMap((s) =>
    s.to.map((to) => {
      const a = at.get(s.from);
      const b = at.get(to);
      if (!a || !b) return html``;
      const [x1, y1, x2, y2] = [a.x + BOX_W, a.y + BOX_H / 2, b.x, b.y + BOX_H / 2];
      const mx = (x1 + x2) / 2;
      return html`<g class="dag-stream"><path d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 6},${y2}" fill="none" stroke="#334e68" stroke-width="2" marker-end="url(#arrow)"/><text x="${mx}" y="${(y1 + y2) / 2 - 8}" text-anchor="middle" class="dag-label">${s.name}${s.locality && s.locality !== 'separate' ? ` (${s.locality})` : ''}</text></g>`;
    }),
  );
  const nodes = dag.operators.map((op) => {
    const p = at.get(op.name)!;
    return html`<g class="dag-operator" data-operator="${op.name}"><rect x="${p.x}" y="${p.y}" width="${BOX_W}" height="${BOX_H}" rx="8" fill="#e6f0fa" stroke="#102a43" stroke-width="1.5"/><text x="${p.x + BOX_W / 2}" y="${p.y + 24}" text-anchor="middle" class="dag-name">${op.name}</text><text x="${p.x + BOX_W / 2}" y="${p.y + 44}" text-anchor="middle" class="dag-parts">${op.partitions} partition${op.partitions === 1 ? '' : 's'}</text></g>`;
  });
  return html`<svg class="dag" role="img" aria-labelledby="dag-title" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" xmlns="http://www.w3.org/2000/svg"><title id="dag-title">${title}</title><defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#334e68"/></marker></defs>${edges}${nodes}</svg>`;
}
