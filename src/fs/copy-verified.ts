import { constants, copyFile, open, type FileHandle } from 'node:fs/promises';
import { hasherDigest, newHasher, type Digest } from '../oci/digest.js';
import { ReadAhead } from './read-ahead.js';
import { writeAll } from './write-all.js';
import { EarlyFlush } from './early-flush.js';
import { syncAndHash } from './sync-and-hash.js';

const BLOCK = 4 << 20;
/** Zero runs this long become holes, as ext4 images are mostly sparse; mke2fs works in 4 KiB blocks. */
const HOLE_GRAIN = 64 << 10;
const ZEROS = Buffer.alloc(HOLE_GRAIN);

/**
 * Copies `source` to a new file `target`, fsynced, and returns the sha256 of what `target` holds.
 * A reflink where the filesystem offers one (then `target` is read back to hash it); else one pass
 * that hashes each block as it is written, skips zero runs (keeping the copy sparse) and flushes early.
 */
export async function copyAndHash(source: string, target: string, signal?: AbortSignal): Promise<Digest> {
  let cloned = false;
  try {
    await copyFile(source, target, constants.COPYFILE_EXCL | constants.COPYFILE_FICLONE_FORCE);
    cloned = true;
  } catch (error) {
    // No reflinks here (ext4, tmpfs): copy by hand. libuv removes the target it could not clone into.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw error;
  }
  if (cloned) return syncAndHash(target, signal);
  const input = await open(source, 'r');
  const output = await open(target, 'wx', 0o644);
  const reader = new ReadAhead(input, BLOCK, true);
  const flush = new EarlyFlush(output);
  const hash = newHasher();
  try {
    const { size } = await input.stat();
    await output.truncate(size);
    let position = 0;
    for (;;) {
      const block = await reader.block(position);
      if (block.length === 0) break;
      signal?.throwIfAborted();
      // The write runs on libuv's pool while this thread hashes the same block.
      const written = writeDataRuns(output, block, position);
      hash.update(block);
      await written;
      position += block.length;
      flush.wrote(position);
    }
    await flush.sync();
    return hasherDigest(hash);
  } finally {
    await reader.settle();
    await flush.settle();
    await Promise.all([input.close(), output.close()]);
  }
}

/** Writes the parts of `block` that are not zero runs of HOLE_GRAIN; the truncated file already reads zeros elsewhere. */
async function writeDataRuns(output: FileHandle, block: Buffer, position: number): Promise<void> {
  let runStart = -1;
  for (let at = 0; at < block.length; at += HOLE_GRAIN) {
    const grain = block.subarray(at, Math.min(at + HOLE_GRAIN, block.length));
    const zero = grain.equals(grain.length === HOLE_GRAIN ? ZEROS : ZEROS.subarray(0, grain.length));
    if (!zero && runStart < 0) runStart = at;
    if (zero && runStart >= 0) {
      await writeAll(output, block.subarray(runStart, at), position + runStart);
      runStart = -1;
    }
  }
  if (runStart >= 0) await writeAll(output, block.subarray(runStart), position + runStart);
}
