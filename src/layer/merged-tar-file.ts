/** Writes the merged tar to a new file, reusing its buffers: one write in flight while the next chunk is gathered. */
import { open } from 'node:fs/promises';
import { borrowBuffer, returnBuffers } from '../fs/buffer-pool.js';
import { writeAll } from '../fs/write-all.js';
import type { RootfsPlan } from './flatten.js';
import { MERGED_TAR_CHUNK, mergedTarChunks } from './merged-tar.js';

/** Creates `path` (which must not exist) holding the merged tar of `plan`. */
export async function writeMergedTarFile(plan: RootfsPlan, path: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
  const handle = await open(path, 'wx');
  const ring = [borrowBuffer(MERGED_TAR_CHUNK), borrowBuffer(MERGED_TAR_CHUNK), borrowBuffer(MERGED_TAR_CHUNK)];
  let writing: Promise<void> | undefined;
  try {
    for await (const chunk of mergedTarChunks(plan, { ...opts, ring })) {
      // The chunk before this one must be written before its buffer comes round again.
      await writing;
      writing = writeAll(handle, chunk);
    }
    await writing;
  } finally {
    // A failed read leaves a write that may fail too; it must settle before the close, and not go unhandled.
    await writing?.catch(() => undefined);
    await handle.close();
    returnBuffers(ring);
  }
}
