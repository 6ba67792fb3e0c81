// Prints the figures as tables on stdout and writes them as JSON plus the SVG stage chart.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Equivalence } from './equivalence.js';
import type { Target, WorkloadFigures } from './figures.js';
import { stageChart } from './stage-chart.js';

export interface PeersReport {
  date: string;
  quick: boolean;
  runs: number;
  jobs: number;
  machine: { cores: number; memoryGB: number; versions: Record<string, string>; note: string };
  workloads: Record<string, WorkloadFigures & { equivalence: Equivalence }>;
  targets: Target[];
}

const RESULTS = fileURLToPath(new URL('../../../bench/results/', import.meta.url));

/** Full runs replace the committed peers-latest files; --quick smoke runs go to an ignored file. */
export function defaultReportPath(quick: boolean): string {
  return join(RESULTS, quick ? 'peers-quick.json' : 'peers-latest.json');
}

export function printReport(report: PeersReport): void {
  console.log(`\n# peers: rootforge vs skopeo+umoci+mkfs and crane export|mkfs (medians of ${report.runs} run(s), --jobs ${report.jobs}${report.quick ? ', --quick' : ''})`);
  for (const [name, w] of Object.entries(report.workloads)) {
    console.log(`\n## ${name}: ${w.images} image(s), ${w.entries} entries, ${w.compressedMB} MB gzip, ${w.uncompressedMB} MB unpacked`);
    console.table(Object.fromEntries(Object.entries(w.tools).map(([tool, f]) => [tool, {
      's/image': f.secondsPerImage,
      'images/min': f.imagesPerMinute,
      'MB/s gzip': f.compressedMBps,
      'MB/s unpacked': f.uncompressedMBps,
      'peak RSS MB': f.peakRssMB,
      'runs (s)': f.runSeconds.join(' '),
    }])));
    console.log('seconds per image in each stage:');
    console.table(Object.fromEntries(Object.entries(w.tools).map(([tool, f]) => [tool, f.stages])));
    console.log('machine limits (seconds over the distinct layers; mkfs from tar summed over images):');
    console.table({ [name]: w.limits });
    console.log('ratios (time, rootforge over peer; below 1 is faster):');
    console.table({ [name]: w.ratios });
    const fsck = Object.entries(w.equivalence.fsck).map(([tool, r]) => `${tool} ${r.checked - r.failed.length}/${r.checked} clean`).join(', ');
    console.log(`e2fsck -fn: ${fsck}`);
    for (const [peer, diff] of Object.entries(w.equivalence.trees ?? {})) console.log(`tree vs ${peer}: ${diff.summary}`);
  }
  console.log('\n## targets of issue #7');
  console.table(report.targets.map((t) => ({ target: t.what, goal: t.goal, measured: t.measured ?? '-', met: t.met === undefined ? '-' : t.met ? 'yes' : 'NO' })));
}

export async function writeReport(report: PeersReport, jsonPath: string): Promise<string> {
  await mkdir(dirname(jsonPath), { recursive: true });
  await writeFile(jsonPath, JSON.stringify(report, null, 2) + '\n');
  const svgPath = jsonPath.replace(/\.json$/, '') + '.svg';
  const caption = `${report.date}, ${report.machine.cores} cores, medians of ${report.runs} run(s), --jobs ${report.jobs}${report.quick ? ', --quick (small images)' : ''}`;
  await writeFile(svgPath, stageChart(report.workloads, caption));
  return svgPath;
}
