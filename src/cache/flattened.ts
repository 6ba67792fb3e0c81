/**
 * Merged tars that earlier rootforge builds kept in the cache (rootforge-flattened/<key>.tar) for rebuilds.
 * Nothing writes them any more, so `cache prune` removes them.
 */
import { readdir, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

const DIR = 'rootforge-flattened';

export interface FlattenedFile {
  path: string;
  size: number;
  mtimeMs: number;
}

export async function listFlattened(cacheRoot: string): Promise<FlattenedFile[]> {
  const dir = join(cacheRoot, DIR);
  const names = await readdir(dir).catch(() => [] as string[]);
  const files: FlattenedFile[] = [];
  for (const name of names.sort()) {
    if (!/^[0-9a-f]{64}\.tar$/.test(name)) continue;
    const s = await stat(join(dir, name)).catch(() => undefined);
    if (s?.isFile()) files.push({ path: join(dir, name), size: s.size, mtimeMs: s.mtimeMs });
  }
  return files;
}

/** Removes the directory once it is empty; one still in use by an older rootforge stays. */
export async function removeFlattenedDir(cacheRoot: string): Promise<void> {
  await rmdir(join(cacheRoot, DIR)).catch(() => undefined);
}
