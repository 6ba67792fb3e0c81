// Checks the outputs are worth comparing: every image passes e2fsck, and the peers' trees match rootforge's.
import { readFile } from 'node:fs/promises';
import { e2fsckClean, readExt4Tree } from '../../test/helpers/ext4-read.js';
import type { Tool } from './measure.js';
import { diffTrees, type TreeDiff } from './tree-diff.js';

export interface Equivalence {
  /** Per tool, the outputs e2fsck -fn found a problem in, with its first lines. */
  fsck: Record<string, { checked: number; failed: { output: string; message: string }[] }>;
  /** rootforge's first image against each peer's. */
  trees?: Record<string, TreeDiff & { summary: string }>;
}

/** Paths of rootforge's guest files from its sidecar, with the directories made to hold them. */
async function injectedPaths(rootforgeImage: string): Promise<(path: string) => boolean> {
  const sidecar = JSON.parse(await readFile(rootforgeImage.replace(/\.ext4$/, '.json'), 'utf8')) as { injected?: string[] };
  const injected = (sidecar.injected ?? []).map((p) => p.replace(/^\/+/, ''));
  return (path) => injected.some((p) => p === path || p.startsWith(`${path}/`) || path.startsWith(`${p}/`));
}

function summarize(diff: TreeDiff): string {
  const fields = Object.entries(diff.differing).map(([field, d]) => `${field} ${d.count}`);
  const parts = [
    diff.onlyInRootforge.length ? `${diff.onlyInRootforge.length} only in rootforge` : '',
    diff.onlyInPeer.length ? `${diff.onlyInPeer.length} only in peer` : '',
    fields.length ? `differ: ${fields.join(', ')}` : '',
  ].filter(Boolean);
  return parts.length ? parts.join('; ') : 'identical';
}

export async function checkEquivalence(outputs: Record<Tool, string[]>, compareTrees: boolean): Promise<Equivalence> {
  const fsck: Equivalence['fsck'] = {};
  for (const [tool, images] of Object.entries(outputs)) {
    const failed: { output: string; message: string }[] = [];
    for (const output of images) {
      await e2fsckClean(output).catch((error: unknown) => failed.push({ output, message: String((error as Error).message).split('\n').slice(0, 6).join('\n') }));
    }
    fsck[tool] = { checked: images.length, failed };
  }
  if (!compareTrees) return { fsck };
  const ours = outputs.rootforge[0] as string;
  const ignore = await injectedPaths(ours);
  const rootforgeTree = await readExt4Tree(ours);
  const trees: NonNullable<Equivalence['trees']> = {};
  for (const peer of ['standard', 'crane'] as const) {
    const diff = diffTrees(rootforgeTree, await readExt4Tree(outputs[peer][0] as string), ignore);
    // The summary counts everything; the JSON keeps the first paths, enough to see what kind of difference it is.
    trees[peer] = { ...diff, onlyInRootforge: diff.onlyInRootforge.slice(0, 20), onlyInPeer: diff.onlyInPeer.slice(0, 20), summary: summarize(diff) };
  }
  return { fsck, trees };
}
