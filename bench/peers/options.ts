// Command-line options of `npm run bench -- peers`.
import { parseArgs } from 'node:util';

export type WorkloadName = 'debian' | 'large' | 'batch';
export const WORKLOADS: readonly WorkloadName[] = ['debian', 'large', 'batch'];

export interface PeersOptions {
  runs: number;
  workloads: WorkloadName[];
  /** Small images: a smoke run of the whole suite in about a minute. */
  quick: boolean;
  /** Images built at once, by rootforge (--jobs) and by the peers alike. */
  jobs: number;
  /** Where the JSON goes; the SVG goes next to it. */
  out?: string;
}

export const PEERS_USAGE = 'npm run bench -- peers [--runs N] [--workload debian|large|batch|all] [--quick] [--jobs N] [--out FILE.json]';

export function parsePeersOptions(argv: string[]): PeersOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      runs: { type: 'string', default: '5' },
      workload: { type: 'string', default: 'all' },
      quick: { type: 'boolean', default: false },
      jobs: { type: 'string', default: '2' },
      out: { type: 'string' },
    },
  });
  const runs = Number(values.runs);
  const jobs = Number(values.jobs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs expects a whole number >= 1\n${PEERS_USAGE}`);
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs expects a whole number >= 1\n${PEERS_USAGE}`);
  const asked = values.workload === 'all' ? [...WORKLOADS] : (values.workload ?? '').split(',');
  const unknown = asked.filter((w) => !WORKLOADS.includes(w as WorkloadName));
  if (unknown.length > 0) throw new Error(`unknown workload ${unknown.join(', ')}\n${PEERS_USAGE}`);
  return { runs, workloads: asked as WorkloadName[], quick: Boolean(values.quick), jobs, ...(values.out ? { out: values.out } : {}) };
}
