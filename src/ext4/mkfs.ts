/** Runs mkfs.ext4 on a fresh sparse file, filled from a tar on stdin or from a staging directory. */
import { open } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa, type ResultPromise } from 'execa';
import { RootforgeError, asRootforgeError, isAbortError } from '../errors.js';
import { e2fsEnv, withMke2fsConfig } from './mke2fs-config.js';
import { mkfsArgs, type MkfsIdentity } from './mkfs-args.js';
import type { ImageSize } from './size.js';
import { toolError } from './tool-error.js';
import { defaultTool } from './tools.js';

export interface MkfsOptions extends MkfsIdentity {
  signal?: AbortSignal;
  /** Extra environment, e.g. SOURCE_DATE_EPOCH for reproducible timestamps of mkfs's own inodes. */
  env?: Record<string, string>;
  /** The mkfs.ext4 binary (default: found on PATH or in sbin). */
  mkfs?: string;
}

/** Creates (or empties) the image as a sparse file of exactly size.bytes. */
export async function createSparse(image: string, bytes: number): Promise<void> {
  const handle = await open(image, 'w');
  try {
    await handle.truncate(bytes);
  } finally {
    await handle.close();
  }
}

type Mkfs = ResultPromise<{ all: true; reject: false; stdin: 'pipe' }>;

/** What mkfs reads its tar from: a stream we feed through a pipe, or an open regular file it reads itself. */
type TarInput = { feed: (proc: Mkfs) => Promise<void> } | { fd: number };

async function run(image: string, size: ImageSize, source: string, opts: MkfsOptions, input?: TarInput): Promise<void> {
  const feed = input && 'feed' in input ? input.feed : undefined;
  if (opts.signal?.aborted) throw new RootforgeError('ERR_ABORTED', 'mkfs.ext4 was interrupted before it started');
  const path = resolve(image);
  const args = mkfsArgs(path, size, source, opts);
  const binary = opts.mkfs ?? (await defaultTool('mkfs.ext4'));
  try {
    await createSparse(path, size.bytes);
  } catch (error) {
    throw asRootforgeError(error, 'ERR_TOOL_FAILED');
  }
  await withMke2fsConfig(async (config) => {
    // The stdin choice only changes whether proc.stdin exists, which feed checks.
    const proc = execa(binary, args, {
      all: true,
      reject: false,
      stdin: (input ? ('fd' in input ? input.fd : 'pipe') : 'ignore') as 'pipe',
      env: e2fsEnv(opts.env, config),
      ...(opts.signal ? { cancelSignal: opts.signal } : {}),
    });
    let feedError: unknown;
    const fed = feed?.(proc).catch((error: unknown) => {
      feedError = error;
      // The tar source failed or was aborted: mkfs must not wait for input that will never come.
      proc.kill();
    });
    const result = await proc;
    await fed;
    if (result.isCanceled || opts.signal?.aborted) throw new RootforgeError('ERR_ABORTED', 'mkfs.ext4 was interrupted');
    // An error in the tar itself says more than mkfs's reaction to a truncated stream.
    if (feedError !== undefined && !isBrokenPipe(feedError)) throw isAbortError(feedError) ? asRootforgeError(feedError) : asRootforgeError(feedError, 'ERR_BAD_LAYER');
    if (result.failed) {
      throw toolError(
        { tool: 'mkfs.ext4', exitCode: result.exitCode, signal: result.signal, output: String(result.all ?? ''), code: (result.cause as NodeJS.ErrnoException | undefined)?.code },
        result,
      );
    }
  });
}

/** mkfs stops reading when it fails; its own error is the one to report, not our EPIPE. */
function isBrokenPipe(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ERR_STREAM_DESTROYED';
}

/** `mkfs.ext4 -d - IMAGE` with the tar piped to stdin (backpressure by stream.pipeline). The caller owns the image file. */
export async function mkfsFromTar(image: string, size: ImageSize, tar: Readable, opts: MkfsOptions = {}): Promise<void> {
  await run(image, size, '-', opts, {
    feed: async (proc) => {
      const stdin = proc.stdin;
      if (!stdin) throw new RootforgeError('ERR_INTERNAL', 'mkfs.ext4 has no stdin');
      await pipeline(tar, stdin, ...(opts.signal ? [{ signal: opts.signal }] : []));
    },
  });
}

/** `mkfs.ext4 -d - IMAGE` with stdin an open tar file: mkfs reads it in 64 KiB blocks, against a few KiB per read from a pipe. */
export async function mkfsFromTarFile(image: string, size: ImageSize, tarFd: number, opts: MkfsOptions = {}): Promise<void> {
  await run(image, size, '-', opts, { fd: tarFd });
}

/** `mkfs.ext4 -d STAGING IMAGE`: mkfs copies owners, modes, times and readable xattrs from the staging tree. */
export async function mkfsFromDir(image: string, size: ImageSize, stagingDir: string, opts: MkfsOptions = {}): Promise<void> {
  await run(image, size, resolve(stagingDir), opts);
}
