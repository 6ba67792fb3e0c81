/** Shared set-up for the layer tests: layer tars in temp dirs, planned, with cleanup. */
import { rm } from 'node:fs/promises';
import { afterAll } from 'vitest';
import { planRootfs, type PlanOptions, type RootfsPlan } from '../../src/layer/plan.js';
import type { LayerSource, RootfsEntry } from '../../src/layer/types.js';
import { tempDir, writeLayers, type TarSpec } from '../helpers/tar.js';

const dirs: string[] = [];

afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** A fresh temp dir removed after the test file. */
export async function scratch(): Promise<string> {
  const dir = await tempDir();
  dirs.push(dir);
  return dir;
}

export async function layersOf(...layers: TarSpec[][]): Promise<LayerSource[]> {
  return writeLayers(await scratch(), layers);
}

export async function planOf(layers: TarSpec[][], opts?: PlanOptions): Promise<RootfsPlan> {
  return planRootfs(await layersOf(...layers), opts);
}

export function byPath(plan: RootfsPlan): Map<string, RootfsEntry> {
  return new Map(plan.entries().map((e) => [e.path, e]));
}

export function paths(plan: RootfsPlan): string[] {
  return plan.entries().map((e) => e.path);
}

/** The error a promise rejects with. */
export async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string; blob?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: string; message: string; blob?: string };
  }
  throw new Error('expected a failure');
}
