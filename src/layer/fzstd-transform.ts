/** fzstd's streaming decoder as a Node Transform, for Node versions without native zstd. */
import { Transform, type TransformCallback } from 'node:stream';
import { Decompress } from 'fzstd';
import { RootforgeError } from '../errors.js';

/** Input is fed in slices this small because one 4-byte RLE block can expand to 128 KiB: a slice yields at most ~16 MiB. */
const SLICE = 512;

function decompressError(error: unknown): RootforgeError {
  if (error instanceof RootforgeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new RootforgeError('ERR_DECOMPRESS', `zstd: ${message}`, { cause: error });
}

/** Decodes zstd; a truncated or empty stream fails in flush, and decoding pauses while the output buffer is full. */
export class FzstdDecompress extends Transform {
  private readonly decoder = new Decompress((data) => {
    // fzstd hands out a fresh array per block, so it can be wrapped without copying.
    if (data.length > 0) this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  });
  private sawInput = false;
  private continueFeed: (() => void) | undefined;

  constructor() {
    super({ readableHighWaterMark: 1 << 20 });
  }

  override _read(size: number): void {
    const pending = this.continueFeed;
    this.continueFeed = undefined;
    pending?.();
    super._read(size);
  }

  private async feed(chunk: Buffer): Promise<void> {
    for (let at = 0; at < chunk.length; at += SLICE) {
      this.decoder.push(chunk.subarray(at, at + SLICE));
      if (this.readableLength >= this.readableHighWaterMark) await new Promise<void>((resolve) => (this.continueFeed = resolve));
    }
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.length === 0) return callback();
    this.sawInput = true;
    this.feed(chunk).then(
      () => callback(),
      (error: unknown) => callback(decompressError(error)),
    );
  }

  override _flush(callback: TransformCallback): void {
    if (!this.sawInput) return callback(decompressError(new Error('empty input')));
    try {
      this.decoder.push(new Uint8Array(0), true);
    } catch (error) {
      return callback(decompressError(error));
    }
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // A pending slice loop waits for a read that will never come.
    this.continueFeed = undefined;
    callback(error);
  }
}
