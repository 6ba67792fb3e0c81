import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobWriter } from '../../src/cache/blob-writer.js';
import { sha256Digest } from '../../src/oci/digest.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootforge-blob-writer-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** 40 MiB of varied bytes: past two early flushes. */
const BIG = Buffer.from(Array.from({ length: 40 << 20 }, (_, i) => (i * 7 + (i >> 12)) % 256));

async function writeInPieces(writer: BlobWriter, data: Buffer, piece = 1 << 20): Promise<void> {
  for (let at = 0; at < data.length; at += piece) await writer.write(data.subarray(at, at + piece));
}

describe('BlobWriter', () => {
  it('publishes a blob written past several early flushes, whole and under its final name only', async () => {
    const final = join(dir, 'blob');
    const writer = await BlobWriter.create(dir, final, { digest: sha256Digest(BIG), size: BIG.length });
    await writeInPieces(writer, BIG);
    expect(await readdir(dir)).toEqual([expect.stringMatching(/\.partial$/)]);
    expect(await writer.commit()).toBe(final);
    expect((await readFile(final)).equals(BIG)).toBe(true);
    expect(await readdir(dir)).toEqual(['blob']);
  });

  it('starts over after a reset while a flush may be in flight, and refuses wrong content', async () => {
    const final = join(dir, 'blob');
    const writer = await BlobWriter.create(dir, final, { digest: sha256Digest(BIG), size: BIG.length });
    await writeInPieces(writer, Buffer.alloc(20 << 20, 1));
    await writer.reset();
    await writeInPieces(writer, BIG);
    await writer.commit();
    expect((await readFile(final)).equals(BIG)).toBe(true);

    const wrong = await BlobWriter.create(dir, join(dir, 'other'), { digest: sha256Digest('x'), size: BIG.length });
    await writeInPieces(wrong, BIG);
    await expect(wrong.commit()).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
    expect((await readdir(dir)).sort()).toEqual(['blob']);
  });

  it('drops its temp file on abort during a flush', async () => {
    const writer = await BlobWriter.create(dir, join(dir, 'blob'), { digest: sha256Digest(BIG) });
    await writeInPieces(writer, BIG.subarray(0, 17 << 20));
    await writer.abort();
    expect(await readdir(dir)).toEqual([]);
  });
});
