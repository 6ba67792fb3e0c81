/** The decompressor for a layer's media type, failing with ERR_DECOMPRESS on corrupt or truncated input. */
import { PassThrough, type Transform, type TransformCallback, type TransformOptions } from 'node:stream';
import zlib from 'node:zlib';
import { RootforgeError } from '../errors.js';
import { FzstdDecompress } from './fzstd-transform.js';
import { ZstdFrameCheck } from './zstd-frames.js';

export type Compression = 'gzip' | 'zstd' | 'none';


function toDecompressError(error: unknown, format: string): RootforgeError {
  if (error instanceof RootforgeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new RootforgeError('ERR_DECOMPRESS', `${format}: ${message}`, { cause: error });
}

/** Rewrites the errors a zlib stream is destroyed with, through _destroy, which every stream error passes. */
function mapErrors<T extends Transform>(stream: T, format: string): T {
  const destroy = stream._destroy.bind(stream);
  stream._destroy = (error: Error | null, callback: (error?: Error | null) => void) => {
    destroy(error, (e) => callback(e ? toDecompressError(e, format) : e));
  };
  return stream;
}

/** Native zstd behind a frame walker: the native decoder accepts truncated frames silently and rejects skippable ones (exported for tests). */
export function checkedNativeZstd(create: () => Transform): Transform {
  const stream = create();
  const check = new ZstdFrameCheck();
  const transform = stream._transform.bind(stream);
  const flush = stream._flush?.bind(stream);
  stream._transform = (chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback) => {
    let frames: Buffer;
    try {
      frames = check.feed(chunk);
    } catch (error) {
      return callback(error as Error);
    }
    if (frames.length === 0) return callback();
    transform(frames, encoding, callback);
  };
  stream._flush = (callback: TransformCallback) => {
    try {
      check.end();
    } catch (error) {
      return callback(error as Error);
    }
    if (flush) flush(callback);
    else callback();
  };
  return mapErrors(stream, 'zstd');
}

/**
 * 1 MiB output chunks instead of 16 KiB, since each costs a file write and a hash call downstream; and
 * 4 MiB of input slack, so the download runs ahead while zlib works in its thread (zlib passes these
 * stream options on, though its types do not list them).
 */
const GUNZIP_OPTIONS: zlib.ZlibOptions & TransformOptions = { chunkSize: 1 << 20, writableHighWaterMark: 4 << 20 };

export function decompressStream(compression: Compression): Transform {
  switch (compression) {
    case 'gzip':
      return mapErrors(zlib.createGunzip(GUNZIP_OPTIONS), 'gzip');
    case 'zstd':
      // Not Node's native zstd (22.15+): in Node 24 it stops silently after the first frame of a multi-frame layer.
      return new FzstdDecompress();
    case 'none':
      return new PassThrough();
  }
}
