/** Runs one debugfs script against an image and fails on any error line, since debugfs itself exits 0. */
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { RootforgeError, asRootforgeError } from '../errors.js';
import { checkDebugfsOutput, describeDebugfsFailures } from './debugfs-output.js';
import { e2fsEnv } from './mke2fs-config.js';
import { toolError, trimOutput } from './tool-error.js';
import { defaultTool } from './tools.js';

export interface RunDebugfsOptions {
  signal?: AbortSignal;
  /** Extra environment, e.g. SOURCE_DATE_EPOCH. */
  env?: Record<string, string>;
  /** The debugfs binary (default: found on PATH or in sbin). */
  debugfs?: string;
  /** Open the image read-only (`debugfs -f -` without -w), for scripts that only look. */
  readOnly?: boolean;
}

const CHUNK = 64 * 1024;

/** The script in 64 KiB pieces, so a 50k-line script streams with backpressure instead of sitting in the pipe. */
function* chunks(script: string): Generator<string> {
  for (let i = 0; i < script.length; i += CHUNK) yield script.slice(i, i + CHUNK);
}

/** `debugfs -w -f - IMAGE`, script on stdin; stdout and stderr share one file so each error follows its command's echo. */
export async function runDebugfs(image: string, script: string, opts: RunDebugfsOptions = {}): Promise<string> {
  if (opts.signal?.aborted) throw new RootforgeError('ERR_ABORTED', 'debugfs was interrupted before it started');
  const binary = opts.debugfs ?? (await defaultTool('debugfs'));
  const dir = await mkdtemp(join(tmpdir(), 'rootforge-debugfs-'));
  try {
    const logPath = join(dir, 'output');
    const log = await open(logPath, 'w');
    let result;
    let feedError: unknown;
    try {
      // execa hands any numeric fd to the child as is; its types only name 1 and 2.
      const shared = log.fd as 1 | 2;
      const proc = execa(binary, [...(opts.readOnly ? [] : ['-w']), '-f', '-', resolve(image)], {
        stdin: 'pipe',
        stdout: shared,
        stderr: shared,
        reject: false,
        env: e2fsEnv(opts.env),
        ...(opts.signal ? { cancelSignal: opts.signal } : {}),
      });
      const stdin = proc.stdin;
      const fed = stdin
        ? pipeline(Readable.from(chunks(script)), stdin).catch((error: unknown) => {
            feedError = error;
          })
        : Promise.resolve();
      result = await proc;
      await fed;
    } finally {
      await log.close();
    }
    if (result.isCanceled || opts.signal?.aborted) throw new RootforgeError('ERR_ABORTED', 'debugfs was interrupted');
    const output = await readFile(logPath, 'utf8');
    const failures = checkDebugfsOutput(script, output);
    if (result.failed && failures.length === 0) {
      throw toolError({ tool: 'debugfs', exitCode: result.exitCode, signal: result.signal, output, code: (result.cause as NodeJS.ErrnoException | undefined)?.code }, result);
    }
    if (failures.length > 0) {
      const message = `debugfs failed on ${failures.length} command${failures.length === 1 ? '' : 's'}: ${describeDebugfsFailures(failures)}`;
      if (failures.some((f) => f.messages.some((m) => /No space left on device/.test(m)))) throw new RootforgeError('ERR_NO_SPACE', trimOutput(message));
      if (failures.some((f) => f.messages.some((m) => /Could not allocate (block|inode)/.test(m)))) {
        throw new RootforgeError('ERR_IMAGE_TOO_SMALL', `the image is too small for its content: ${trimOutput(message)}`);
      }
      throw new RootforgeError('ERR_TOOL_FAILED', trimOutput(message), feedError === undefined ? {} : { cause: feedError });
    }
    return output;
  } catch (error) {
    throw asRootforgeError(error, 'ERR_TOOL_FAILED');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
