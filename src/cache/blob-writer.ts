import { randomBytes } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { RootforgeError } from '../errors.js';
import type { BlobSink } from '../oci/blob-sink.js';
import { hasherDigest, newHasher, type Digest } from '../oci/digest.js';
import { fsyncDir } from './atomic.js';
import { writeAll } from '../fs/write-all.js';
import { EarlyFlush } from '../fs/early-flush.js';

/** Read size for content another process wrote. */
const ABSORB_CHUNK = 1 << 20;

export interface ExpectedBlob {
  digest: Digest;
  /** Known size, enforced while writing; omit for content of unknown length (uncompressed layers). */
  size?: number;
  /** Refuse content past this many bytes (decompression bombs). */
  maxBytes?: number;
}

/**
 * Streams a blob into a temp file inside the layout while hashing it; the blob
 * appears under its final name only after its size and digest were verified.
 */
export class BlobWriter implements BlobSink {
  written = 0;
  private hash: Hash = newHasher();
  private finished = false;
  private readonly flush: EarlyFlush;

  private constructor(
    private readonly handle: FileHandle,
    readonly tempPath: string,
    readonly finalPath: string,
    readonly expected: ExpectedBlob,
  ) {
    this.flush = new EarlyFlush(handle);
  }

  static async create(tempDir: string, finalPath: string, expected: ExpectedBlob): Promise<BlobWriter> {
    const tempPath = join(tempDir, `${process.pid}-${randomBytes(6).toString('hex')}-${expected.digest.slice(7, 19)}.partial`);
    // Readable too, so absorb() can take in what a decoder process wrote.
    const handle = await open(tempPath, 'wx+', 0o644);
    return new BlobWriter(handle, tempPath, finalPath, expected);
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.checkLimit(chunk.byteLength);
    await writeAll(this.handle, chunk, this.written);
    this.took(chunk);
  }

  /** The temp file's descriptor, for a child process to write the content into; absorb() takes it in. */
  get fd(): number {
    return this.handle.fd;
  }

  /**
   * Takes in what another process appended to the temp file since the last call, as if written here:
   * counted, limited and hashed. Each chunk is a fresh buffer, which `onChunk` may keep.
   */
  async absorb(onChunk?: (chunk: Buffer) => Promise<void>): Promise<void> {
    for (;;) {
      const buffer = Buffer.allocUnsafe(ABSORB_CHUNK);
      const { bytesRead } = await this.handle.read(buffer, 0, ABSORB_CHUNK, this.written);
      if (bytesRead === 0) return;
      const chunk = buffer.subarray(0, bytesRead);
      this.checkLimit(bytesRead);
      this.took(chunk);
      await onChunk?.(chunk);
    }
  }

  /** How large the temp file is now, whoever wrote it. */
  async fileBytes(): Promise<number> {
    return (await this.handle.stat()).size;
  }

  private checkLimit(bytes: number): void {
    const limit = this.expected.size ?? this.expected.maxBytes;
    if (limit !== undefined && this.written + bytes > limit) {
      throw this.expected.size !== undefined
        ? new RootforgeError('ERR_SIZE_MISMATCH', `blob is larger than its declared size of ${this.expected.size} bytes`, { blob: this.expected.digest })
        : new RootforgeError('ERR_LIMIT_EXCEEDED', `content exceeds the limit of ${limit} bytes`, { blob: this.expected.digest });
    }
  }

  private took(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.written += chunk.byteLength;
    this.flush.wrote(this.written);
  }

  async reset(): Promise<void> {
    await this.flush.reset();
    await this.handle.truncate(0);
    this.hash = newHasher();
    this.written = 0;
  }

  /** Verifies size and digest, then publishes the blob; returns its final path. */
  async commit(): Promise<string> {
    const { digest, size } = this.expected;
    try {
      if (size !== undefined && this.written !== size) {
        throw new RootforgeError('ERR_SIZE_MISMATCH', `blob is ${this.written} bytes, its descriptor says ${size}`, { blob: digest });
      }
      const actual = hasherDigest(this.hash);
      if (actual !== digest) {
        throw new RootforgeError('ERR_DIGEST_MISMATCH', `content hashes to ${actual}, expected ${digest}`, { blob: digest });
      }
      await this.flush.sync();
      await this.handle.close();
      this.finished = true;
      // Replacing a blob another process published first is harmless: both were verified against one digest.
      await rename(this.tempPath, this.finalPath);
      await fsyncDir(dirname(this.finalPath));
      return this.finalPath;
    } finally {
      await this.abort();
    }
  }

  /** Drops the temp file; safe to call more than once and after commit. */
  async abort(): Promise<void> {
    if (!this.finished) {
      this.finished = true;
      await this.flush.settle();
      await this.handle.close().catch(() => undefined);
    }
    await rm(this.tempPath, { force: true });
  }
}
