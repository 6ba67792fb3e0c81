/**
 * Fills an image from the merged tar on mkfs's stdin. The tar goes to a file first and mkfs reads that
 * file as stdin: it reads a regular file in 64 KiB blocks but a pipe a few KiB at a time, which made the
 * piped fill of a Debian-sized image about 0.5 s slower than writing the file and reading it back.
 * The file is kept in the cache, so a rebuild of the same layers starts mkfs at once.
 */
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { mergedTarStream } from '../layer/merged-tar.js';
import { writeMergedTarFile } from '../layer/merged-tar-file.js';
import type { RootfsPlan } from '../layer/flatten.js';
import { mkfsFromTar, mkfsFromTarFile, type MkfsOptions } from '../ext4/mkfs.js';
import type { ImageSize } from '../ext4/size.js';
import { fsyncDir } from '../cache/atomic.js';
import type { RootforgeError } from '../errors.js';

export interface FlattenedStore {
  /** Where the merged tar of these layers is kept. */
  path: string;
  /** A directory on the same filesystem for the file while it is written. */
  tempDir: string;
}

/** Errors that mean "no room or no right to keep a file here": the build then pipes the tar instead. */
const CANNOT_KEEP = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM']);

async function openIfPresent(path: string): Promise<Awaited<ReturnType<typeof open>> | undefined> {
  try {
    return await open(path, 'r');
  } catch {
    return undefined;
  }
}

/** Runs mkfs on the kept tar of these layers, writing and keeping it first if there is none. */
export async function mkfsFromPlan(image: string, size: ImageSize, plan: RootfsPlan, store: FlattenedStore, opts: MkfsOptions): Promise<void> {
  const kept = await openIfPresent(store.path);
  if (kept) {
    try {
      await mkfsFromTarFile(image, size, kept.fd, opts);
      return;
    } catch (error) {
      // A kept tar mkfs cannot read (damaged on disk) is dropped and written afresh; any other failure is the build's.
      if ((error as RootforgeError).code !== 'ERR_TOOL_FAILED') throw error;
      await rm(store.path, { force: true });
    } finally {
      await kept.close();
    }
  }
  const temp = join(store.tempDir, `${process.pid}-${randomBytes(6).toString('hex')}-flattened.tar`);
  try {
    try {
      await mkdir(dirname(store.path), { recursive: true });
      await writeMergedTarFile(plan, temp, opts.signal ? { signal: opts.signal } : {});
    } catch (error) {
      if (!CANNOT_KEEP.has((error as NodeJS.ErrnoException).code ?? '')) throw error;
      await rm(temp, { force: true });
      await mkfsFromTar(image, size, mergedTarStream(plan, opts.signal ? { signal: opts.signal } : {}), opts);
      return;
    }
    const handle = await open(temp, 'r');
    try {
      // The tar is fsynced while mkfs reads it, so it is whole before it gets its final name.
      await Promise.all([mkfsFromTarFile(image, size, handle.fd, opts), handle.sync()]);
    } finally {
      await handle.close();
    }
    // Keeping it is best effort: the image is built either way.
    await rename(temp, store.path)
      .then(() => fsyncDir(dirname(store.path)))
      .catch(() => undefined);
  } finally {
    await rm(temp, { force: true });
  }
}
