// A hand-written SVG of per-stage seconds per image for rootforge and both peer pipelines, one panel per workload. Pure.
import type { WorkloadFigures } from './figures.js';

const COLORS: Record<string, string> = {
  resolve: '#9e9e9e',
  download: '#4e79a7',
  'export|mkfs': '#76b7b2',
  unpack: '#ff9da7',
  replay: '#f28e2b',
  stage: '#edc948',
  mkfs: '#59a14f',
  'mkfs tail': '#8cd17d',
  debugfs: '#e15759',
  finish: '#86bcb6',
  write: '#b07aa1',
  other: '#d3d3d3',
};
const OTHER = '#bab0ac';
const ROW = 22;
const LABEL = 150;
const WIDTH = 860;
const PLOT = WIDTH - LABEL - 90;

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function panel(name: string, figures: WorkloadFigures, top: number): { svg: string; height: number } {
  const rows = Object.entries(figures.tools);
  const totals = rows.map(([, f]) => Object.values(f.stages).reduce((a, b) => a + b, 0));
  const max = Math.max(...totals, 0.001);
  const parts = [`<text x="0" y="${top + 14}" font-weight="bold">${escape(`${name}: ${figures.images} image(s), ${figures.uncompressedMB} MB unpacked, ${figures.entries} entries`)}</text>`];
  rows.forEach(([label, f], i) => {
    const y = top + 24 + i * ROW;
    parts.push(`<text x="${LABEL - 6}" y="${y + 14}" text-anchor="end">${escape(label)}</text>`);
    let x = LABEL;
    for (const [stage, seconds] of Object.entries(f.stages)) {
      const w = (seconds / max) * PLOT;
      parts.push(`<rect x="${x.toFixed(1)}" y="${y + 2}" width="${w.toFixed(1)}" height="${ROW - 6}" fill="${COLORS[stage] ?? OTHER}"><title>${escape(`${label} ${stage}: ${seconds.toFixed(2)} s`)}</title></rect>`);
      x += w;
    }
    parts.push(`<text x="${(x + 4).toFixed(1)}" y="${y + 14}">${(totals[i] as number).toFixed(2)} s</text>`);
  });
  return { svg: parts.join('\n'), height: 24 + rows.length * ROW + 14 };
}

export function stageChart(workloads: Record<string, WorkloadFigures>, caption: string): string {
  const panels: string[] = [];
  let top = 40;
  for (const [name, figures] of Object.entries(workloads)) {
    const p = panel(name, figures, top);
    panels.push(p.svg);
    top += p.height;
  }
  const stages = [...new Set(Object.values(workloads).flatMap((w) => Object.values(w.tools).flatMap((t) => Object.keys(t.stages))))];
  // Eight legend entries a row, so long stage names never run off the right edge.
  const PER_ROW = 8;
  const legend = stages.map((stage, i) => {
    const x = (i % PER_ROW) * (WIDTH / PER_ROW);
    const y = top + 4 + Math.floor(i / PER_ROW) * 20;
    return `<rect x="${x}" y="${y}" width="12" height="12" fill="${COLORS[stage] ?? OTHER}"/><text x="${x + 16}" y="${y + 10}">${escape(stage)}</text>`;
  });
  const height = top + 10 + Math.ceil(stages.length / PER_ROW) * 20;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="0" y="16" font-size="14" font-weight="bold">Seconds per image in each stage (medians; stage time, not wall time)</text>`,
    `<text x="0" y="32" fill="#555">${escape(caption)}</text>`,
    ...panels,
    ...legend,
    '</svg>',
    '',
  ].join('\n');
}
