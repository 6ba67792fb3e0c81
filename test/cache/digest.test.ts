import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256File } from '../../src/oci/digest.js';

const dir = await mkdtemp(join(tmpdir(), 'rootforge-digest-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('sha256File', () => {
  it.each([
    ['empty', 0],
    ['one byte', 1],
    ['exactly one read block', 4 << 20],
    ['across read blocks', (9 << 20) + 3],
  ])('hashes a file that is %s', async (name, size) => {
    const content = randomBytes(size);
    const path = join(dir, name.replaceAll(' ', '-'));
    await writeFile(path, content);
    expect(await sha256File(path)).toBe(`sha256:${createHash('sha256').update(content).digest('hex')}`);
  });

  it('stops when aborted and when the file is missing', async () => {
    const path = join(dir, 'big');
    await writeFile(path, Buffer.alloc(16 << 20));
    await expect(sha256File(path, AbortSignal.abort())).rejects.toMatchObject({ name: 'AbortError' });
    await expect(sha256File(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
