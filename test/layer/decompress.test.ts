import { spawnSync } from 'node:child_process';
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { checkedNativeZstd, decompressStream, type Compression } from '../../src/layer/decompress.js';
import { Decompress } from 'fzstd';
import { FzstdDecompress } from '../../src/layer/fzstd-transform.js';
import { ZstdFrameCheck } from '../../src/layer/zstd-frames.js';
import { failure } from './support.js';

function zstd(data: Buffer, ...args: string[]): Buffer {
  const r = spawnSync('zstd', ['-q', '-c', ...args], { input: data, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`zstd failed: ${r.stderr.toString()}`);
  return r.stdout;
}

/** Runs bytes through a decompressor in small chunks and collects the output. */
async function run(transform: NodeJS.ReadWriteStream, input: Buffer, chunk = 1000): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < input.length; i += chunk) pieces.push(input.subarray(i, i + chunk));
  const out: Buffer[] = [];
  await pipeline(Readable.from(pieces), transform, new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }));
  return Buffer.concat(out);
}

const DATA = Buffer.concat(Array.from({ length: 2000 }, (_, i) => Buffer.from(`line ${i} ${'x'.repeat(i % 97)}\n`)));

describe('decompressStream', () => {
  it.each<[Compression, (b: Buffer) => Buffer]>([
    ['gzip', (b) => gzipSync(b)],
    ['zstd', (b) => zstd(b)],
    ['none', (b) => b],
  ])('%s round-trips', async (compression, compress) => {
    expect((await run(decompressStream(compression), compress(DATA))).equals(DATA)).toBe(true);
  });

  it('zstd decodes multiple frames, checksums and skippable frames', async () => {
    const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 3, 0, 0, 0]), Buffer.from('abc')]);
    const input = Buffer.concat([zstd(DATA, '--check'), skippable, zstd(DATA, '--no-check', '-19')]);
    expect((await run(decompressStream('zstd'), input, 777)).equals(Buffer.concat([DATA, DATA]))).toBe(true);
  });

  it.each<[Compression, (b: Buffer) => Buffer]>([
    ['gzip', (b) => gzipSync(b)],
    ['zstd', (b) => zstd(b)],
  ])('truncated %s fails with ERR_DECOMPRESS at every cut', async (compression, compress) => {
    const whole = compress(DATA);
    for (const cut of [1, 4, 10, Math.floor(whole.length / 2), whole.length - 5, whole.length - 1]) {
      const err = await failure(run(decompressStream(compression), whole.subarray(0, cut)));
      expect(err.code, `cut at ${cut}`).toBe('ERR_DECOMPRESS');
    }
  });

  it.each<Compression>(['gzip', 'zstd'])('%s fails on garbage and on empty input', async (compression) => {
    expect((await failure(run(decompressStream(compression), Buffer.from('this is not compressed at all')))).code).toBe('ERR_DECOMPRESS');
    expect((await failure(run(decompressStream(compression), Buffer.alloc(0)))).code).toBe('ERR_DECOMPRESS');
  });

  it('fzstd holds input back while its output is not read', async () => {
    const big = Buffer.alloc(32 * 1024 * 1024, 1);
    const input = zstd(big);
    const transform = new FzstdDecompress();
    let total = 0;
    let mostBuffered = 0;
    await pipeline(
      Readable.from([input]),
      transform,
      new Writable({
        highWaterMark: 1024,
        write(c: Buffer, _e, cb) {
          total += c.length;
          mostBuffered = Math.max(mostBuffered, transform.readableLength);
          setImmediate(cb);
        },
      }),
    );
    expect(total).toBe(big.length);
    expect(mostBuffered).toBeLessThanOrEqual(20 * 1024 * 1024);
  });
});

/** Stands in for Node's native zstd: decodes, but ends quietly on a truncated frame, as nodejs/node#64592 reports. */
class LenientZstd extends Transform {
  private readonly decoder = new Decompress((data) => this.push(Buffer.from(data)));
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    try {
      this.decoder.push(chunk);
      cb();
    } catch (error) {
      cb(error as Error);
    }
  }
  override _flush(cb: TransformCallback): void {
    cb();
  }
}

describe('checked native zstd', () => {
  it('decodes a whole stream', async () => {
    expect((await run(checkedNativeZstd(() => new LenientZstd()), zstd(DATA))).equals(DATA)).toBe(true);
  });

  it('turns a quiet truncation into ERR_DECOMPRESS', async () => {
    const whole = zstd(DATA);
    await expect(run(new LenientZstd(), whole.subarray(0, whole.length - 9))).resolves.toBeInstanceOf(Buffer);
    const err = await failure(run(checkedNativeZstd(() => new LenientZstd()), whole.subarray(0, whole.length - 9)));
    expect(err.code).toBe('ERR_DECOMPRESS');
  });

  it('maps the decoder\'s own errors to ERR_DECOMPRESS', async () => {
    const err = await failure(run(checkedNativeZstd(() => new LenientZstd()), Buffer.concat([zstd(DATA).subarray(0, 40), Buffer.alloc(4000, 0xff)])));
    expect(err.code).toBe('ERR_DECOMPRESS');
  });
});

describe('ZstdFrameCheck', () => {
  const frames = Buffer.concat([zstd(DATA, '--check'), zstd(Buffer.alloc(0)), zstd(DATA, '--no-check')]);

  it('accepts complete streams fed in any chunking', () => {
    for (const size of [1, 3, 64, frames.length]) {
      const check = new ZstdFrameCheck();
      for (let i = 0; i < frames.length; i += size) check.feed(frames.subarray(i, i + size));
      expect(() => check.end()).not.toThrow();
    }
  });

  it('rejects every truncation', () => {
    const first = zstd(DATA, '--check').length;
    const boundaries = [first, first + zstd(Buffer.alloc(0)).length];
    for (let cut = 1; cut < frames.length; cut++) {
      const check = new ZstdFrameCheck();
      check.feed(frames.subarray(0, cut));
      if (boundaries.includes(cut)) expect(() => check.end()).not.toThrow();
      else expect(() => check.end(), `cut at ${cut}`).toThrow(expect.objectContaining({ code: 'ERR_DECOMPRESS' }));
    }
  });

  it('rejects garbage and empty input', () => {
    expect(() => new ZstdFrameCheck().feed(Buffer.from('nope'))).toThrow(expect.objectContaining({ code: 'ERR_DECOMPRESS' }));
    expect(() => new ZstdFrameCheck().end()).toThrow(expect.objectContaining({ code: 'ERR_DECOMPRESS' }));
  });
});
