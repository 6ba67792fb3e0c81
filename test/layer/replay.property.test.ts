/**
 * Issue #6, hostile input: random layer sequences (climbing names, duplicates, type changes, symlink tricks,
 * hardlinks, whiteouts, opaque markers) replayed by rootforge and by the reference model in replay-model.ts.
 * Either both refuse the same way, or the plan, the staging directory and the merged tar all equal the model,
 * and nothing around the staging root changed. ROOTFORGE_SOAK=1 runs 20 times as many cases;
 * ROOTFORGE_SEED and ROOTFORGE_PATH replay the case fast-check reports.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { mergedTarStream } from '../../src/layer/merged-tar.js';
import { writeMergedTarFile } from '../../src/layer/merged-tar-file.js';
import { planRootfs, type RootfsPlan } from '../../src/layer/plan.js';
import { materializeTree } from '../../src/layer/stage-dir.js';
import { tempDir, writeLayers } from '../helpers/tar.js';
import { layerSequence } from './replay-arbitrary.js';
import { ModelRefusal, replayModel, type ModelInput, type ModelResult, type ModelTree } from './replay-model.js';
import { isSpecial, modelPlanView, modelStageView, modelStats, modelTarView, planOrder, planView, stagedMode, stageView, tarView } from './replay-views.js';
import { emptyDir, makeSentinelArea, snapshot, type SentinelArea } from './sentinels.js';

const SOAK = process.env.ROOTFORGE_SOAK === '1';
const RUNS = 300 * (SOAK ? 20 : 1);
const replay = process.env.ROOTFORGE_SEED ? { seed: Number(process.env.ROOTFORGE_SEED), path: process.env.ROOTFORGE_PATH } : {};

const tops: string[] = [];
afterAll(async () => {
  await Promise.all(tops.map((d) => rm(d, { recursive: true, force: true })));
});

function predict(layers: ModelInput[][]): ModelResult | ModelRefusal {
  try {
    return replayModel(layers);
  } catch (error) {
    if (error instanceof ModelRefusal) return error;
    throw error;
  }
}

function expectedSpecial(model: ModelTree): string[] {
  return [...model].filter(([, e]) => isSpecial(e.type)).map(([p]) => p).sort(planOrder);
}

/** Only the first path of each inode is chmodded, so only it is listed. */
function expectedStagedModes(model: ModelTree): Map<string, number> {
  const out = new Map<string, number>();
  for (const [path, e] of [...model].sort(([a], [b]) => planOrder(a, b))) {
    if (isSpecial(e.type) || e.type === 'symlink' || (e.links && [...e.links].sort(planOrder)[0] !== path)) continue;
    if (stagedMode(e) !== e.mode) out.set(path, stagedMode(e));
  }
  return out;
}

async function checkCase(layers: ModelInput[][], area: SentinelArea, layerDir: string): Promise<void> {
  const sources = await writeLayers(layerDir, layers);
  const expected = predict(layers);
  const outcome = await planRootfs(sources).then(
    (plan) => ({ plan }),
    (error: unknown) => ({ error }),
  );
  if (expected instanceof ModelRefusal) {
    if (!('error' in outcome)) expect.fail(`rootforge planned what the model refuses: ${expected.message}`);
    expect(outcome.error).toMatchObject({ code: expected.code, blob: sources[expected.layer]!.diffId });
    return;
  }
  if ('error' in outcome) throw outcome.error;
  const { plan } = outcome;
  expect(plan.stats).toEqual(modelStats(expected));
  await checkOutputs(plan, expected.tree, area);
}

async function checkOutputs(plan: RootfsPlan, expected: ModelTree, area: SentinelArea): Promise<void> {
  expect(planView(plan)).toEqual(modelPlanView(expected));
  try {
    const staged = await materializeTree(plan, area.stage);
    expect(await stageView(area.stage)).toEqual(modelStageView(expected));
    expect(staged.special.map((e) => e.path)).toEqual(expectedSpecial(expected));
    expect(staged.stagedModes).toEqual(expectedStagedModes(expected));
  } finally {
    await emptyDir(area.stage);
  }
  const chunks: Buffer[] = [];
  for await (const chunk of mergedTarStream(plan)) chunks.push(chunk as Buffer);
  const streamed = Buffer.concat(chunks);
  expect(await tarView(Readable.from([streamed]))).toEqual(modelTarView(expected));
  // Builds write the tar to a file through reused buffers: it must be the stream's bytes exactly.
  const file = join(area.stage, 'merged.tar');
  try {
    await writeMergedTarFile(plan, file);
    expect((await readFile(file)).equals(streamed)).toBe(true);
  } finally {
    await rm(file, { force: true });
  }
}

describe('layer replay against the reference model', () => {
  it(
    'hostile layer sequences: refused like the model, or plan, staging dir and merged tar equal it, touching nothing outside',
    async () => {
      const top = await tempDir('rootforge-property-');
      tops.push(top);
      const layerDir = join(top, 'layers');
      await mkdir(layerDir);
      const area = await makeSentinelArea(top);
      const before = await snapshot(area.box, 'stage');
      await fc.assert(
        fc.asyncProperty(layerSequence(area.targets), async (layers) => {
          try {
            await checkCase(layers, area, layerDir);
          } finally {
            expect(await snapshot(area.box, 'stage')).toEqual(before);
          }
        }),
        { numRuns: RUNS, ...replay },
      );
    },
    SOAK ? 3_600_000 : 120_000,
  );
});
