/**
 * Fills an image from the merged tar on mkfs's stdin. The tar goes to a temp file that becomes mkfs's
 * stdin, not a pipe: mkfs reads a regular file in 64 KiB blocks but a pipe a few KiB at a time (a cold
 * batch of 8: 14.3-17.9 s piped, 12.5-13.4 s from the file). The file is not kept for rebuilds: its
 * fresh page cache and fsync cost every cold build more than it saved the rarer rebuild.
 */
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { mergedTarStream } from '../layer/merged-tar.js';
import { writeMergedTarFile } from '../layer/merged-tar-file.js';
import type { RootfsPlan } from '../layer/flatten.js';
import { mkfsFromTar, mkfsFromTarFile, type MkfsOptions } from '../ext4/mkfs.js';
import type { ImageSize } from '../ext4/size.js';

/** Errors that mean "no room or no right to write a file here": the build then pipes the tar instead. */
const CANNOT_WRITE = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM']);

/** Runs mkfs on the merged tar of `plan`, written to a file in `tempDir` that is gone when this returns. */
export async function mkfsFromPlan(image: string, size: ImageSize, plan: RootfsPlan, tempDir: string, opts: MkfsOptions): Promise<void> {
  const temp = join(tempDir, `${process.pid}-${randomBytes(6).toString('hex')}-merged.tar`);
  const tarOpts = opts.signal ? { signal: opts.signal } : {};
  try {
    await writeMergedTarFile(plan, temp, tarOpts);
  } catch (error) {
    await rm(temp, { force: true });
    if (!CANNOT_WRITE.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
    await mkfsFromTar(image, size, mergedTarStream(plan, tarOpts), opts);
    return;
  }
  const handle = await open(temp, 'r').finally(() => rm(temp, { force: true }));
  try {
    await mkfsFromTarFile(image, size, handle.fd, opts);
  } finally {
    await handle.close();
  }
}
