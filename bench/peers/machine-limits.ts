// What this machine can do at best on a workload: decompress, hash and mkfs alone, and the floor they add up to.
import { closeSync, openSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { mkfsArgs } from '../../src/ext4/mkfs-args.js';
import { createSparse } from '../../src/ext4/mkfs.js';
import type { PreparedImage, PreparedWorkload } from './prepare.js';
import { run, type RunOptions } from './spawn.js';

export interface LimitSample {
  /** Seconds over every distinct layer of the workload. */
  gunzip: number;
  unzstd: number;
  /** sha256sum of the compressed blobs and of the uncompressed tars: the digest and diff_id checks. */
  sha256Compressed: number;
  sha256Uncompressed: number;
  /** mkfs.ext4 -d - from each image's ready flattened tar, summed over the images. */
  mkfsFromTar: number;
  /** mkfs.ext4 -d DIR from the first image's unpacked tree. */
  mkfsFromDir: number;
  /** Decompress every distinct layer once plus mkfs from ready tars, per image: no tool can do less. */
  floorPerImage: number;
}

async function withInput<T>(path: string, fn: (fd: number) => Promise<T>): Promise<T> {
  const fd = openSync(path, 'r');
  try {
    return await fn(fd);
  } finally {
    closeSync(fd);
  }
}

async function total(files: string[], file: string, args: (path: string) => string[], options: RunOptions = {}): Promise<number> {
  let seconds = 0;
  for (const path of files) seconds += (await run(file, args(path), { stdout: 'discard', ...options })).seconds;
  return seconds;
}

async function mkfsSeconds(image: PreparedImage, source: string, out: string, env: Record<string, string>, mkfs: string): Promise<number> {
  await createSparse(out, image.size.bytes);
  // Timed like the tools: with nothing of earlier runs left to write back.
  await run('sync', []);
  const options: RunOptions = { env, stdout: 'discard' };
  const { seconds } = source === '-'
    ? await withInput(image.flatTar, (fd) => run(mkfs, mkfsArgs(out, image.size, '-'), { ...options, stdin: fd }))
    : await run(mkfs, mkfsArgs(out, image.size, source), options);
  await rm(out, { force: true });
  return seconds;
}

export async function measureLimits(workload: PreparedWorkload, dir: string, env: Record<string, string>, mkfs: string): Promise<LimitSample> {
  await mkdir(dir, { recursive: true });
  const blobs = workload.layers.map((l) => l.gzip);
  const gunzip = await total(blobs, 'gzip', (p) => ['-dc', p]);
  const unzstd = await total(workload.layers.map((l) => l.zstd), 'zstd', (p) => ['-qdc', p]);
  const sha256Compressed = await total(blobs, 'sha256sum', (p) => [p]);
  const sha256Uncompressed = await total(workload.layers.map((l) => l.tar), 'sha256sum', (p) => [p]);
  let mkfsFromTar = 0;
  for (const image of workload.images) mkfsFromTar += await mkfsSeconds(image, '-', join(dir, 'from-tar.ext4'), env, mkfs);
  const first = workload.images[0] as PreparedImage;
  const tree = join(dir, 'tree');
  await mkdir(tree, { recursive: true });
  await run('tar', ['-xf', first.flatTar, '-C', tree, '--numeric-owner']);
  const mkfsFromDir = await mkfsSeconds(first, tree, join(dir, 'from-dir.ext4'), env, mkfs);
  await rm(tree, { recursive: true, force: true });
  return { gunzip, unzstd, sha256Compressed, sha256Uncompressed, mkfsFromTar, mkfsFromDir, floorPerImage: (gunzip + mkfsFromTar) / workload.images.length };
}
