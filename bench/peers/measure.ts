// One timed, memory-sampled run of a tool over a workload's images.
import { mapLimit } from '../../src/batch/limit.js';
import { RssSampler } from './rss-sampler.js';
import { run } from './spawn.js';
import type { PreparedImage } from './prepare.js';

export type Tool = 'rootforge' | 'standard' | 'crane';
/** rebuild: rootforge's warm cache, but --force, so the image is built again rather than copied from the cache. */
export type Mode = 'cold' | 'warm' | 'rebuild';

export interface Sample {
  /** Wall time for all the workload's images. */
  seconds: number;
  peakRssBytes: number;
  /** Seconds per stage, one record per image. */
  stages: Record<string, number>[];
  /** The ext4 image each image produced. */
  outputs: string[];
}

export interface ToolRun {
  images: PreparedImage[];
  /** This tool's directory for this run; kept from cold to warm, so warm finds its cache. */
  dir: string;
  jobs: number;
  /** MKE2FS_CONFIG and locale: every tool's mkfs gets rootforge's pinned config. */
  mkfsEnv: Record<string, string>;
}

export interface ImageOutcome {
  stages: Record<string, number>;
  output: string;
}

export async function measure(fn: (sampler: RssSampler) => Promise<ImageOutcome[]>): Promise<Sample> {
  // The last tool's unwritten gigabytes would otherwise be flushed during this run, slowing whoever fsyncs.
  await run('sync', []);
  const sampler = new RssSampler();
  sampler.start();
  const started = performance.now();
  try {
    const outcomes = await fn(sampler);
    const seconds = (performance.now() - started) / 1000;
    const only = outcomes.length === 1 ? outcomes[0] : undefined;
    // One image: what no stage accounts for (process start, module load, exit) is a cost of its own; batches overlap stages.
    if (only) only.stages.other = Math.max(0, seconds - Object.values(only.stages).reduce((a, b) => a + b, 0));
    return { seconds, peakRssBytes: sampler.stop(), stages: outcomes.map((o) => o.stages), outputs: outcomes.map((o) => o.output) };
  } finally {
    sampler.stop();
  }
}

/** The peers handle one image per pipeline, `jobs` pipelines at once, as a shell script with xargs -P would. */
export function eachImage(run: ToolRun, fn: (image: PreparedImage, index: number) => Promise<ImageOutcome>): Promise<ImageOutcome[]> {
  return mapLimit(run.images, run.jobs, fn);
}

export async function timed<T>(stages: Record<string, number>, stage: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await fn();
  } finally {
    stages[stage] = (stages[stage] ?? 0) + (performance.now() - started) / 1000;
  }
}
