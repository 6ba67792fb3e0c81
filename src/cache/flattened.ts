/**
 * Flattened root filesystems kept in the cache: the merged tar of a layer chain, as mkfs reads it.
 * A rebuild of the same layers hands mkfs this file on stdin and skips writing the tar again; mkfs
 * also reads a regular file in large blocks, where a pipe feeds it a few KiB per read.
 */
import { createHash } from 'node:crypto';
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { packageVersion } from '../package-root.js';

const DIR = 'rootforge-flattened';

/** Names the merged tar of `diffIds` (oldest first) as this rootforge version writes it. */
export function flattenedKey(diffIds: readonly string[]): string {
  return createHash('sha256').update(JSON.stringify({ format: 1, rootforge: packageVersion(), diffIds })).digest('hex');
}

export function flattenedPath(cacheRoot: string, key: string): string {
  return join(cacheRoot, DIR, `${key}.tar`);
}

export interface FlattenedFile {
  key: string;
  path: string;
  size: number;
  mtimeMs: number;
}

export async function listFlattened(cacheRoot: string): Promise<FlattenedFile[]> {
  const dir = join(cacheRoot, DIR);
  const names = await readdir(dir).catch(() => [] as string[]);
  const files: FlattenedFile[] = [];
  for (const name of names.sort()) {
    const match = /^([0-9a-f]{64})\.tar$/.exec(name);
    if (!match) continue;
    const s = await stat(join(dir, name)).catch(() => undefined);
    if (s?.isFile()) files.push({ key: match[1]!, path: join(dir, name), size: s.size, mtimeMs: s.mtimeMs });
  }
  return files;
}

export async function removeFlattened(file: FlattenedFile): Promise<void> {
  await rm(file.path, { force: true });
}
