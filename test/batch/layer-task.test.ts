import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { prepareClient, prepareLayer } from '../../src/batch/layer-task.js';
import { parseReference } from '../../src/registry/reference.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { buildTar, tempDir } from '../helpers/tar.js';
import { startFakeServer } from '../registry/support.js';

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

describe('a worker thread told the registry speaks plain HTTP', () => {
  it('downloads without a TLS attempt of its own; without the hint it makes one first, as Docker does', async () => {
    const dir = await tempDir('rootforge-layer-task-');
    dirs.push(dir);
    const tar = await buildTar([{ name: 'hello.txt', type: 'file', content: 'hello\n' }]);
    const blob = gzipSync(tar);
    const server = await startFakeServer((_req, res) => void res.writeHead(200, { 'content-length': String(blob.byteLength) }).end(blob));
    try {
      const task = (userAgent: string, plainHttp: boolean) => ({
        cacheDir: join(dir, userAgent),
        ref: parseReference(`${server.host}/example:v1`),
        descriptor: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256Digest(blob), size: blob.byteLength },
        diffId: sha256Digest(tar),
        // A user agent of its own gives each case a fresh client, with nothing learnt yet.
        client: { insecureRegistries: [], userAgent },
        maxUncompressedBytes: 1 << 20,
        ...(plainHttp ? { plainHttp: true } : {}),
      });
      await expect(prepareLayer(task('hinted', true))).resolves.toMatchObject({ uncompressedBytes: tar.byteLength });
      expect(server.clientErrors).toBe(0);
      expect(server.seen).toHaveLength(1);
      await expect(prepareLayer(task('unhinted', false))).resolves.toMatchObject({ uncompressedBytes: tar.byteLength });
      expect(server.clientErrors).toBe(1);
      expect(server.seen).toHaveLength(2);
    } finally {
      await server.close();
    }
  });
});
