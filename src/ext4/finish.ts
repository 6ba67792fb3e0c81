/** Turns metadata_csum on after the image is filled, and indexes its directories (htree): faster than mkfs doing either. */
import { resolve } from 'node:path';
import { execa } from 'execa';
import { RootforgeError } from '../errors.js';
import { e2fsEnv } from './mke2fs-config.js';
import { toolError } from './tool-error.js';

export interface FinishOptions {
  tune2fs: string;
  e2fsck: string;
  /** The build's SOURCE_DATE_EPOCH: tune2fs and e2fsck stamp the superblock with it instead of the clock. */
  sourceDateEpoch: number;
  signal?: AbortSignal;
}

/** e2fsck exit codes: 0 clean, 1 errors corrected (here: directories rebuilt with checksums and indexes). */
const E2FSCK_OK = new Set([0, 1]);

/**
 * `tune2fs -O metadata_csum`, then `e2fsck -fyD`, which writes every directory again with its checksum
 * and an htree index, so the guest finds names in large directories without scanning them.
 */
export async function finishImage(image: string, opts: FinishOptions): Promise<void> {
  const path = resolve(image);
  const epoch = String(opts.sourceDateEpoch);
  // E2FSCK_TIME and E2FSPROGS_FAKE_TIME replace the clock for e2fsck and libext2fs (last check, last write).
  const env = e2fsEnv({ SOURCE_DATE_EPOCH: epoch, E2FSCK_TIME: epoch, E2FSPROGS_FAKE_TIME: epoch });
  const common = { all: true, reject: false, env, stdin: 'ignore', ...(opts.signal ? { cancelSignal: opts.signal } : {}) } as const;
  const steps: Array<[string, string, string[], (code: number) => boolean]> = [
    ['tune2fs', opts.tune2fs, ['-O', 'metadata_csum', path], (code) => code === 0],
    ['e2fsck', opts.e2fsck, ['-f', '-y', '-D', path], (code) => E2FSCK_OK.has(code)],
  ];
  for (const [tool, binary, args, ok] of steps) {
    const result = await execa(binary, args, common);
    if (result.isCanceled || opts.signal?.aborted) throw new RootforgeError('ERR_ABORTED', `${tool} was interrupted`);
    if (result.exitCode === undefined || !ok(result.exitCode)) {
      throw toolError({ tool, exitCode: result.exitCode, signal: result.signal, output: String(result.all ?? ''), code: (result.cause as NodeJS.ErrnoException | undefined)?.code }, result);
    }
  }
}
