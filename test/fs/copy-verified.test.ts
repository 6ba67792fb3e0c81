import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyAndHash } from '../../src/fs/copy-verified.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootforge-copy-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const sha256 = (data: Buffer): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** Data and zero runs of awkward lengths, so runs straddle the 64 KiB grain and the 4 MiB block. */
function patchwork(): Buffer {
  const parts: Buffer[] = [];
  const sizes = [100, 3 << 20, 70_000, 5 << 20, 65_536, 1, 9 << 20, 12_345];
  sizes.forEach((size, i) => parts.push(i % 2 === 0 ? randomBytes(size) : Buffer.alloc(size)));
  parts.push(Buffer.alloc(2 << 20)); // a zero tail: the copy must still be the full length
  return Buffer.concat(parts);
}

describe('copyAndHash', () => {
  it('copies byte for byte, returns the sha256 of the copy, and leaves zero runs as holes', async () => {
    const data = patchwork();
    const source = join(dir, 'source');
    const target = join(dir, 'target');
    await writeFile(source, data);
    const digest = await copyAndHash(source, target);
    expect(digest).toBe(sha256(data));
    const copied = await readFile(target);
    expect(copied.length).toBe(data.length);
    expect(copied.equals(data)).toBe(true);
    // About 9 MiB of the 23 MiB is data; the zero runs of 64 KiB and more must not be allocated.
    expect((await stat(target)).blocks * 512).toBeLessThan(data.length * 0.6);
  });

  it('copies a file of zeros as one hole of the right length, and an empty file', async () => {
    for (const [name, data] of [['zeros', Buffer.alloc(6 << 20)], ['empty', Buffer.alloc(0)]] as const) {
      const source = join(dir, `${name}-source`);
      await writeFile(source, data);
      expect(await copyAndHash(source, join(dir, `${name}-target`))).toBe(sha256(data));
      expect((await stat(join(dir, `${name}-target`))).size).toBe(data.length);
    }
  });

  it('never overwrites an existing target', async () => {
    const source = join(dir, 'small');
    await writeFile(source, 'new');
    await writeFile(join(dir, 'existing'), 'old');
    await expect(copyAndHash(source, join(dir, 'existing'))).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(join(dir, 'existing'), 'utf8')).toBe('old');
  });
});
