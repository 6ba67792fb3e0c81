import { randomBytes } from 'node:crypto';
import { chmod, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { OciLayout } from '../../src/cache/layout.js';
import { ExternalUnpack } from '../../src/batch/external-unpack.js';
import { prepareLayer } from '../../src/batch/layer-task.js';
import { findZstdTool } from '../../src/layer/external-decoder.js';
import { sha256Digest, type Digest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { parseReference } from '../../src/registry/reference.js';
import { compress } from '../helpers/images.js';
import { buildTar, tempDir } from '../helpers/tar.js';
import { startFakeServer } from '../registry/support.js';

let dir: string;
let zstd: string;
let tar: Buffer;
let blob: Buffer;
beforeAll(async () => {
  dir = await tempDir('rootforge-external-unpack-');
  const found = await findZstdTool();
  if (!found) throw new Error('these tests need the zstd tool (Debian package zstd)');
  zstd = found;
  // Random content, so the compressed layer passes the 1 MiB below which the tool is not used.
  tar = await buildTar([
    { name: 'etc/', type: 'directory' },
    { name: 'etc/noise', content: randomBytes(1536 * 1024) },
    { name: 'etc/hostname', content: 'rootforge\n' },
  ]);
  blob = await compress(tar, 'zstd');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A script standing in for the tool: it logs each run's pid, then runs `body` (by default the real zstd). */
async function wrapper(name: string, body = `exec ${zstd} "$@"`): Promise<{ path: string; runs: () => Promise<number[]> }> {
  const path = join(dir, name);
  const log = `${path}.log`;
  await writeFile(path, `#!/bin/sh\necho $$ >> '${log}'\n${body}\n`);
  await chmod(path, 0o755);
  return { path, runs: async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number) };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Feeds `input` through an ExternalUnpack as a download would, in 64 KiB chunks; returns what finish() says and the layout. */
async function unpack(tool: string, input: Buffer, diffId: Digest, maxBytes = 1 << 30): Promise<{ size: number | undefined; layout: OciLayout }> {
  const layout = await OciLayout.open(join(dir, `cache-${randomBytes(4).toString('hex')}`));
  const external = await ExternalUnpack.start(layout, diffId, maxBytes, tool);
  const writer = await layout.createWriter({ digest: sha256Digest(input), size: input.byteLength });
  const sink = external.tee(writer);
  try {
    for (let at = 0; at < input.byteLength; at += 1 << 16) await sink.write(input.subarray(at, at + (1 << 16)));
    await writer.commit();
    return { size: await external.finish(), layout };
  } finally {
    await external.abandon();
    await writer.abort();
  }
}

async function tempFiles(layout: OciLayout): Promise<string[]> {
  return (await readdir(layout.tempDir)).filter((n) => !n.endsWith('.lock'));
}

describe('unpacking zstd through the zstd tool', () => {
  it('publishes the tar under its diff_id, indexed, from the tool', async () => {
    const tool = await wrapper('zstd-ok');
    // A skippable frame first, as zstd:chunked layers have: the tool never sees it.
    const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0]), Buffer.from('skip')]);
    const { size, layout } = await unpack(tool.path, Buffer.concat([skippable, blob]), sha256Digest(tar));
    expect(size).toBe(tar.byteLength);
    expect(sha256Digest(await readFile(layout.blobPath(sha256Digest(tar))))).toBe(sha256Digest(tar));
    expect(await readFile(layout.layerIndexPath(sha256Digest(tar)), 'utf8')).toContain('etc/hostname');
    expect(await tool.runs()).toHaveLength(1);
    expect(await tempFiles(layout)).toEqual([]);
  });

  it('leaves a truncated stream to the in-process decoder, which reports it', async () => {
    const tool = await wrapper('zstd-truncated');
    const { size, layout } = await unpack(tool.path, blob.subarray(0, blob.byteLength - 100), sha256Digest(tar));
    expect(size).toBeUndefined();
    expect(await layout.blobSize(sha256Digest(tar))).toBeUndefined();
    expect(await tempFiles(layout)).toEqual([]);
  });

  it('never hands the tool a gzip stream, which it would decode', async () => {
    const tool = await wrapper('zstd-gzip');
    const { size } = await unpack(tool.path, gzipSync(tar), sha256Digest(tar));
    expect(size).toBeUndefined();
  });

  it('drops output that does not hash to the diff_id, from a tool that exits well', async () => {
    const tool = await wrapper('zstd-liar', `cat > /dev/null; head -c ${tar.byteLength} /dev/zero`);
    const { size, layout } = await unpack(tool.path, blob, sha256Digest(tar));
    expect(await tool.runs()).toHaveLength(1);
    expect(size).toBeUndefined();
    expect(await layout.blobSize(sha256Digest(tar))).toBeUndefined();
  });

  it('drops the attempt when the tool fails', async () => {
    const tool = await wrapper('zstd-fails', 'cat > /dev/null; exit 1');
    const { size } = await unpack(tool.path, blob, sha256Digest(tar));
    expect(await tool.runs()).toHaveLength(1);
    expect(size).toBeUndefined();
  });

  it('drops the attempt when the tool cannot be started at all', async () => {
    const { size, layout } = await unpack(join(dir, 'no-such-zstd'), blob, sha256Digest(tar));
    expect(size).toBeUndefined();
    expect(await tempFiles(layout)).toEqual([]);
  });

  it('kills a tool whose output passes the size limit, and removes what it wrote', async () => {
    // Writes forever: only being killed stops it.
    const tool = await wrapper('zstd-bomb', 'cat > /dev/null & exec cat /dev/zero');
    const started = performance.now();
    const { size, layout } = await unpack(tool.path, blob, sha256Digest(tar), 4 << 20);
    expect(size).toBeUndefined();
    expect(performance.now() - started).toBeLessThan(10_000);
    const [pid] = await tool.runs();
    await expect.poll(() => alive(pid!)).toBe(false);
    expect(await tempFiles(layout)).toEqual([]);
  });
});

describe('a worker thread preparing a zstd layer', () => {
  it('gets the same verified tar with the tool as with fzstd, also from a cached blob whose tar was pruned, and a corrupt layer fails coded either way', async () => {
    const corrupt = Buffer.from(blob);
    corrupt.fill(0x41, 4096, 8192);
    const served = new Map([
      [sha256Digest(blob), blob],
      [sha256Digest(corrupt), corrupt],
    ]);
    const server = await startFakeServer((req, res) => {
      const body = served.get(req.url!.split('/').pop() as Digest);
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': String(body.byteLength) }).end(body);
    });
    try {
      const task = (layer: Buffer, externalDecoders: boolean) => ({
        cacheDir: join(dir, `prepare-${randomBytes(4).toString('hex')}`),
        ref: parseReference(`${server.host}/example:v1`),
        descriptor: { mediaType: MediaType.OciLayerZstd, digest: sha256Digest(layer), size: layer.byteLength },
        diffId: sha256Digest(tar),
        client: { insecureRegistries: [] },
        maxUncompressedBytes: 1 << 30,
        plainHttp: true,
        externalDecoders,
      });
      const started = vi.spyOn(ExternalUnpack, 'start');
      for (const external of [true, false]) {
        started.mockClear();
        const good = task(blob, external);
        await expect(prepareLayer(good)).resolves.toMatchObject({ uncompressedBytes: tar.byteLength });
        expect(started).toHaveBeenCalledTimes(external ? 1 : 0);
        const layout = await OciLayout.open(good.cacheDir);
        expect(sha256Digest(await readFile(layout.blobPath(sha256Digest(tar))))).toBe(sha256Digest(tar));
        await expect(prepareLayer(task(corrupt, external))).rejects.toMatchObject({ code: expect.stringMatching(/^ERR_(DECOMPRESS|DIFFID_MISMATCH)$/) as unknown, blob: sha256Digest(corrupt) });
        // The tar pruned (cache prune --uncompressed): it comes back from the cached blob, through the tool too.
        await rm(layout.blobPath(sha256Digest(tar)));
        started.mockClear();
        await expect(prepareLayer(good)).resolves.toMatchObject({ downloadedBytes: 0, uncompressedBytes: tar.byteLength });
        expect(started).toHaveBeenCalledTimes(external ? 1 : 0);
        expect(sha256Digest(await readFile(layout.blobPath(sha256Digest(tar))))).toBe(sha256Digest(tar));
      }
      started.mockRestore();
    } finally {
      await server.close();
    }
  });
});
