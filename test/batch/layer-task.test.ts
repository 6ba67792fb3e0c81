import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareClient, prepareLayer } from '../../src/batch/layer-task.js';
import { parseReference } from '../../src/registry/reference.js';
import { tempDir } from '../helpers/tar.js';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('a worker thread preparing its registry client ahead of its first task', () => {
  it('ignores a broken CA bundle then, and the first download reports it, coded and naming the blob', async () => {
    const dir = await tempDir('rootforge-layer-task-');
    dirs.push(dir);
    const client = { insecureRegistries: [], caFile: join(dir, 'missing.pem') };
    expect(() => prepareClient(client)).not.toThrow();
    const digest = `sha256:${'ab'.repeat(32)}` as const;
    const task = {
      cacheDir: join(dir, 'cache'),
      ref: parseReference('127.0.0.1:9/example:v1'),
      descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size: 10 },
      diffId: `sha256:${'cd'.repeat(32)}` as const,
      client,
      maxUncompressedBytes: 1 << 20,
    };
    await expect(prepareLayer(task)).rejects.toMatchObject({ code: 'ERR_USAGE', message: expect.stringContaining('missing.pem') as unknown, blob: digest });
  });
});
