/** Writes the xattr value files a fixup plan's ea_set ops read. */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { asRootforgeError } from '../errors.js';
import type { ValueFile } from './fixup.js';

export async function writeValueFiles(files: readonly ValueFile[], signal?: AbortSignal): Promise<void> {
  const dirs = new Set(files.map((f) => dirname(f.path)));
  try {
    for (const dir of dirs) await mkdir(dir, { recursive: true });
    for (const file of files) {
      signal?.throwIfAborted();
      await writeFile(file.path, file.content, signal ? { signal } : {});
    }
  } catch (error) {
    throw asRootforgeError(error, 'ERR_INTERNAL');
  }
}
