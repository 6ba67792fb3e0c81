/**
 * Decompresses zstd in a child process through the zstd tool, when it is installed: here 4× faster
 * than fzstd, which runs on the thread that also hashes and indexes the layer. The tool writes the
 * file itself, since a pipe back to Node costs here about as much as decoding. (igzip was measured
 * for gzip too and gained nothing: zlib already runs off that thread.)
 */
import type { Writable } from 'node:stream';
import { execa } from 'execa';
import { findTool } from '../ext4/tools.js';

/** Layers smaller than this are decoded in-process: spawning a decoder costs more than fzstd takes on them. */
export const EXTERNAL_DECODE_MIN_BYTES = 1 << 20;

let found: Promise<string | undefined> | undefined;

/** The zstd tool, looked up once per thread. */
export function findZstdTool(): Promise<string | undefined> {
  found ??= findTool(['zstd']);
  return found;
}

export interface RunningDecoder {
  /** Where the compressed bytes go. */
  readonly input: Writable;
  /** Settles when the decoder has exited, true if it succeeded. */
  readonly done: Promise<boolean>;
  /** Whether it has exited. */
  exited(): boolean;
  /** Kills it; harmless once it has exited. */
  stop(): void;
}

/** Runs `BINARY -dcq`, reading from `input` and writing to the open file `outputFd`. */
export function startDecoder(binary: string, outputFd: number): RunningDecoder {
  // execa's types list only descriptors 0-9, though it passes any open one on, as mkfs.ts does for stdin.
  const subprocess = execa(binary, ['-d', '-c', '-q'], { stdin: 'pipe', stdout: outputFd as 1, stderr: 'ignore', reject: false, buffer: false });
  let exited = false;
  const done = subprocess.then(
    (result) => {
      exited = true;
      return !result.failed;
    },
    () => {
      exited = true;
      return false;
    },
  );
  // A decoder that dies early closes its stdin: its exit status is what reports that, not EPIPE.
  subprocess.stdin.on('error', () => undefined);
  return {
    input: subprocess.stdin,
    done,
    exited: () => exited,
    stop: () => {
      subprocess.kill();
    },
  };
}
