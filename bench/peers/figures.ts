// Turns the runs' samples into medians, throughputs, ratios against the peers and the floor, and the issue's targets. Pure.
import { median } from '../corpus.js';
import type { LimitSample } from './machine-limits.js';
import type { Mode, Sample, Tool } from './measure.js';
import type { PreparedWorkload } from './prepare.js';

export interface ToolFigures {
  secondsPerImage: number;
  imagesPerMinute: number;
  compressedMBps: number;
  uncompressedMBps: number;
  peakRssMB: number;
  /** Median over runs of the mean seconds per image in each stage. */
  stages: Record<string, number>;
  /** Every run's wall seconds, for judging the noise. */
  runSeconds: number[];
}

export interface WorkloadFigures {
  images: number;
  entries: number;
  compressedMB: number;
  uncompressedMB: number;
  tools: Partial<Record<`${Tool} ${Mode}`, ToolFigures>>;
  limits: Record<keyof LimitSample, number> & { gunzipMBps: number; unzstdMBps: number; sha256MBps: number };
  /** rootforge seconds per image over the peer's (below 1: rootforge is faster); rootforge over the floor. */
  ratios: Record<string, number>;
}

const round = (n: number, digits = 3): number => Number(n.toFixed(digits));

function toolFigures(samples: Sample[], workload: PreparedWorkload): ToolFigures {
  const images = workload.images.length;
  const compressed = workload.images.reduce((s, i) => s + i.compressedBytes, 0);
  const uncompressed = workload.images.reduce((s, i) => s + i.uncompressedBytes, 0);
  const seconds = median(samples.map((s) => s.seconds));
  const stageNames = [...new Set(samples.flatMap((s) => s.stages.flatMap((r) => Object.keys(r))))];
  const stages = Object.fromEntries(stageNames.map((stage) => [stage, round(median(samples.map((s) => s.stages.reduce((sum, r) => sum + (r[stage] ?? 0), 0) / s.stages.length)))]));
  return {
    secondsPerImage: round(seconds / images),
    imagesPerMinute: round((images * 60) / seconds, 1),
    compressedMBps: round(compressed / 1e6 / seconds, 1),
    uncompressedMBps: round(uncompressed / 1e6 / seconds, 1),
    peakRssMB: round(median(samples.map((s) => s.peakRssBytes)) / 1e6, 0),
    stages,
    runSeconds: samples.map((s) => round(s.seconds, 2)),
  };
}

export function workloadFigures(workload: PreparedWorkload, samples: Partial<Record<`${Tool} ${Mode}`, Sample[]>>, limitSamples: LimitSample[]): WorkloadFigures {
  const tools: WorkloadFigures['tools'] = {};
  for (const [key, list] of Object.entries(samples) as [`${Tool} ${Mode}`, Sample[]][]) if (list.length > 0) tools[key] = toolFigures(list, workload);
  const limit = (key: keyof LimitSample): number => round(median(limitSamples.map((l) => l[key])));
  const layerBytes = (pick: 'compressedBytes' | 'uncompressedBytes'): number => workload.layers.reduce((s, l) => s + l[pick], 0) / 1e6;
  const limits = {
    gunzip: limit('gunzip'),
    unzstd: limit('unzstd'),
    sha256Compressed: limit('sha256Compressed'),
    sha256Uncompressed: limit('sha256Uncompressed'),
    mkfsFromTar: limit('mkfsFromTar'),
    mkfsFromDir: limit('mkfsFromDir'),
    floorPerImage: limit('floorPerImage'),
    gunzipMBps: round(layerBytes('uncompressedBytes') / limit('gunzip'), 1),
    unzstdMBps: round(layerBytes('uncompressedBytes') / limit('unzstd'), 1),
    sha256MBps: round(layerBytes('uncompressedBytes') / limit('sha256Uncompressed'), 1),
  };
  const ratios: Record<string, number> = {};
  const perImage = (key: `${Tool} ${Mode}`): number | undefined => tools[key]?.secondsPerImage;
  for (const mode of ['cold', 'warm', 'rebuild'] as const) {
    const ours = perImage(`rootforge ${mode}`);
    if (ours === undefined) continue;
    // The standard pipeline keeps only its blobs, so a rebuild is its warm run too.
    const standard = perImage(`standard ${mode === 'rebuild' ? 'warm' : mode}`);
    const crane = perImage('crane cold');
    if (standard) ratios[`${mode}: rootforge/standard`] = round(ours / standard);
    if (crane) ratios[`${mode}: rootforge/crane`] = round(ours / crane);
    if (limits.floorPerImage > 0) ratios[`${mode}: rootforge/floor`] = round(ours / limits.floorPerImage);
  }
  return {
    images: workload.images.length,
    entries: workload.images.reduce((s, i) => s + i.entries, 0),
    compressedMB: round(workload.images.reduce((s, i) => s + i.compressedBytes, 0) / 1e6, 1),
    uncompressedMB: round(workload.images.reduce((s, i) => s + i.uncompressedBytes, 0) / 1e6, 1),
    tools,
    limits,
    ratios,
  };
}

export interface Target {
  what: string;
  goal: string;
  measured: number | undefined;
  met: boolean | undefined;
}

/** The targets of issue #7: time ratios must be at most the goal, throughput ratios at least. */
export function targets(figures: Partial<Record<string, WorkloadFigures>>): Target[] {
  const ratio = (workload: string, key: string): number | undefined => figures[workload]?.ratios[key];
  const atMost = (what: string, measured: number | undefined, goal: number): Target => ({ what, goal: `<= ${goal}`, measured, met: measured === undefined ? undefined : measured <= goal });
  const atLeast = (what: string, measured: number | undefined, goal: number): Target => ({ what, goal: `>= ${goal}`, measured, met: measured === undefined ? undefined : measured >= goal });
  const speedup = (key: string): number | undefined => {
    const r = ratio('batch', key);
    return r === undefined ? undefined : round(1 / r, 2);
  };
  return [
    atMost('debian cold: time rootforge/standard', ratio('debian', 'cold: rootforge/standard'), 0.5),
    atMost('debian cold: time rootforge/crane', ratio('debian', 'cold: rootforge/crane'), 0.75),
    atMost('debian warm: time rootforge/standard', ratio('debian', 'warm: rootforge/standard'), 0.35),
    atMost('debian warm: time rootforge/crane', ratio('debian', 'warm: rootforge/crane'), 0.5),
    // The warm goals again for a forced rebuild, which cannot copy a kept image.
    atMost('debian rebuild: time rootforge/standard', ratio('debian', 'rebuild: rootforge/standard'), 0.35),
    atMost('debian rebuild: time rootforge/crane', ratio('debian', 'rebuild: rootforge/crane'), 0.5),
    atLeast('batch cold: images/min rootforge/standard', speedup('cold: rootforge/standard'), 2),
    atLeast('batch cold: images/min rootforge/crane', speedup('cold: rootforge/crane'), 1.5),
    ...['debian', 'large', 'batch'].map((w) => atMost(`${w} cold: time rootforge/floor`, ratio(w, 'cold: rootforge/floor'), 1.25)),
  ];
}
