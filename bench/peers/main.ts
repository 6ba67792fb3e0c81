// `npm run bench -- peers`: rootforge against the standard pipeline and crane, side by side, on workloads it builds itself.
import { cpus, totalmem } from 'node:os';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { e2fsEnv, MKE2FS_CONF } from '../../src/ext4/mke2fs-config.js';
import { startRegistry } from '../../test/helpers/registry.js';
import { runCrane } from './crane-runner.js';
import { checkEquivalence, type Equivalence } from './equivalence.js';
import { targets, workloadFigures } from './figures.js';
import { measureLimits, type LimitSample } from './machine-limits.js';
import type { Mode, Sample, Tool, ToolRun } from './measure.js';
import { parsePeersOptions } from './options.js';
import { findPeerTools, type PeerTools } from './peer-tools.js';
import { prepareWorkload, type PreparedWorkload } from './prepare.js';
import { defaultReportPath, printReport, writeReport, type PeersReport } from './report.js';
import { runRootforge } from './rootforge-runner.js';
import { runStandard } from './standard-runner.js';
import { workloadSpec } from './workloads.js';

type Contender = Tool | 'limits';
const CONTENDERS: Contender[] = ['rootforge', 'standard', 'crane', 'limits'];
type Samples = Partial<Record<`${Tool} ${Mode}`, Sample[]>>;

const log = (message: string): void => console.error(`[peers] ${message}`);

/** Run r starts with the r-th contender, so page cache and registry warmth favour no one. */
function rotated<T>(items: T[], r: number): T[] {
  const k = r % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

async function runTool(tool: Tool, run: ToolRun, tools: PeerTools, samples: Samples): Promise<string[]> {
  const add = (mode: Mode, sample: Sample): Sample => {
    (samples[`${tool} ${mode}`] ??= []).push(sample);
    log(`  ${tool} ${mode}: ${sample.seconds.toFixed(2)} s, peak RSS ${(sample.peakRssBytes / 1e6).toFixed(0)} MB`);
    return sample;
  };
  if (tool === 'crane') return add('cold', await runCrane(run, tools)).outputs;
  const once = (mode: Mode): Promise<Sample> => (tool === 'rootforge' ? runRootforge(run, mode) : runStandard(run, mode, tools));
  add('cold', await once('cold'));
  if (tool !== 'rootforge') return add('warm', await once('warm')).outputs;
  // Warm comes straight after cold, as a user's second build does. After a rebuild, the copy paid for
  // the blocks the rebuild had just freed (0.45-0.6 s against 0.3-0.36 s here, on a disk mounted with discard).
  add('warm', await once('warm'));
  return add('rebuild', await once('rebuild')).outputs;
}

async function benchWorkload(workload: PreparedWorkload, dir: string, options: { runs: number; jobs: number }, tools: PeerTools, mkfsEnv: Record<string, string>) {
  const samples: Samples = {};
  const limits: LimitSample[] = [];
  let outputs = {} as Record<Tool, string[]>;
  for (let r = 0; r < options.runs; r++) {
    const runDir = join(dir, `run-${r}`);
    await rm(join(dir, `run-${r - 1}`), { recursive: true, force: true });
    log(`${workload.spec.name} run ${r + 1}/${options.runs}`);
    for (const contender of rotated(CONTENDERS, r)) {
      if (contender === 'limits') {
        limits.push(await measureLimits(workload, join(runDir, 'limits'), mkfsEnv, tools.mkfs));
        continue;
      }
      const toolDir = join(runDir, contender);
      await mkdir(toolDir, { recursive: true });
      outputs[contender] = await runTool(contender, { images: workload.images, dir: toolDir, jobs: options.jobs, mkfsEnv }, tools, samples);
    }
  }
  log(`${workload.spec.name}: checking outputs`);
  // Reading every file back is slow; the batch's images are the Debian-sized one plus a top layer, so one tree check covers them.
  const equivalence: Equivalence = await checkEquivalence(outputs, workload.spec.name !== 'batch');
  return { figures: workloadFigures(workload, samples, limits), equivalence };
}

export async function benchPeers(argv: string[], workDir: string): Promise<void> {
  const options = parsePeersOptions(argv);
  const tools = await findPeerTools();
  await mkdir(workDir, { recursive: true });
  const configPath = join(workDir, 'mke2fs.conf');
  await writeFile(configPath, MKE2FS_CONF);
  const mkfsEnv = e2fsEnv({}, configPath);
  const registry = await startRegistry();
  const report: PeersReport = {
    date: new Date().toISOString(),
    quick: options.quick,
    runs: options.runs,
    jobs: options.jobs,
    machine: {
      cores: cpus().length,
      memoryGB: Math.round(totalmem() / 2 ** 30),
      versions: tools.versions,
      note: 'shared machine; other work was running, so figures are noisy',
    },
    workloads: {},
    targets: [],
  };
  try {
    for (const name of options.workloads) {
      const dir = join(workDir, name);
      log(`${name}: building the workload from this machine's files and pushing it to ${registry.host}`);
      const workload = await prepareWorkload(workloadSpec(name, options.quick), registry, join(dir, 'input'));
      const { figures, equivalence } = await benchWorkload(workload, dir, options, tools, mkfsEnv);
      report.workloads[name] = { ...figures, equivalence };
      await rm(dir, { recursive: true, force: true });
    }
  } finally {
    await registry.stop();
  }
  report.targets = targets(report.workloads);
  printReport(report);
  const jsonPath = options.out ?? defaultReportPath(options.quick);
  const svgPath = await writeReport(report, jsonPath);
  console.log(`\nwrote ${jsonPath} and ${svgPath}`);
}
