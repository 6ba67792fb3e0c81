/**
 * Hostile images end to end: decompression bombs, broken tar headers, absurd sizes, deep nesting,
 * manifests with thousands of layers or of absurd size. Each fails its image with a clear coded
 * error naming the image (and the layer); the image beside it is built; memory stays bounded.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/batch/build.js';
import { warm } from '../../src/batch/warm.js';
import { OciLayout } from '../../src/cache/layout.js';
import { verifyCache } from '../../src/cache/verify.js';
import { MediaType } from '../../src/oci/media-types.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { buildLayer, layerFromTar, makeTar, pushBlob, pushImage, pushManifest, type BuiltLayer } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { CLI_MAIN } from '../helpers/cli.js';

let reg: TestRegistry;
let dir: string;
let goodRef: string;
let small: BuiltLayer;

beforeAll(async () => {
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'rootforge-hostile-'));
  small = await buildLayer([{ name: 'etc/hostname', content: 'good\n' }]);
  await pushImage(reg, 'hostile/good', 'v1', { layers: [small] });
  goodRef = `${reg.host}/hostile/good:v1`;
});
afterAll(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** Builds the hostile image beside a good one; returns the hostile one's error after checking the rest is sound. */
async function buildBeside(ref: string, run: 'warm' | 'build' = 'build'): Promise<{ code?: string; message?: string }> {
  const cacheDir = await mkdtemp(join(dir, 'cache-'));
  const outDir = join(cacheDir, 'out');
  const workDir = join(cacheDir, 'work');
  const result = run === 'warm' ? await warm({ refs: [ref, goodRef], cacheDir }) : await build({ refs: [ref, goodRef], cacheDir, outDir, workDir, inject: false });
  expect(result.images.map((i) => i.status)).toEqual(['failed', 'ok']);
  const layout = await OciLayout.open(cacheDir);
  expect((await verifyCache(layout)).bad).toEqual([]);
  expect(await readdir(layout.tempDir)).toEqual([]);
  if (run === 'build') {
    expect((await readdir(outDir)).sort()).toEqual(['good-v1.ext4', 'good-v1.json']);
    expect(await readdir(workDir)).toEqual([]);
  }
  const error = result.images[0]?.error;
  expect(error?.message).toContain(ref.slice(ref.indexOf('/') + 1));
  return { ...(error?.code ? { code: error.code } : {}), ...(error?.message ? { message: error.message } : {}) };
}

/** Overwrites bytes of the first tar header and, unless asked not to, fixes its checksum. */
function patchHeader(tar: Buffer, offset: number, bytes: Buffer, fixChecksum = true): Buffer {
  const out = Buffer.from(tar);
  bytes.copy(out, offset);
  if (fixChecksum) {
    out.fill(0x20, 148, 156);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += out[i] as number;
    out.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  }
  return out;
}

describe('decompression bombs', () => {
  it('a gzip layer that expands past the ratio cap is refused while it streams', async () => {
    const zeros = await makeTar([{ name: 'zeros', content: Buffer.alloc(300 * 1024 * 1024) }]);
    const bomb = await layerFromTar(zeros);
    expect(bomb.size, 'about 1000:1').toBeLessThan(1024 * 1024);
    await pushImage(reg, 'hostile/bomb', 'v1', { layers: [bomb] });
    const rssBefore = process.memoryUsage().rss;
    const failure = await buildBeside(`${reg.host}/hostile/bomb:v1`, 'warm');
    expect(failure.code).toBe('ERR_LIMIT_EXCEEDED');
    expect(failure.message).toContain('expands past');
    expect(failure.message).toContain(bomb.digest);
    expect(process.memoryUsage().rss - rssBefore, 'the bomb never sits in memory').toBeLessThan(200 * 1024 * 1024);
  });

  it('--max-layer-size and --max-expansion are honoured from the CLI', async () => {
    const layer = await layerFromTar(await makeTar([{ name: 'data', content: Buffer.alloc(3 * 1024 * 1024, 7) }]));
    await pushImage(reg, 'hostile/sized', 'v1', { layers: [layer] });
    const cache = await mkdtemp(join(dir, 'cli-'));
    const refused = await execa('node', [CLI_MAIN, 'warm', `${reg.host}/hostile/sized:v1`, '--cache-dir', cache, '--max-layer-size', '1M', '--json'], { reject: false });
    expect(refused.exitCode).toBe(1);
    expect((JSON.parse(refused.stdout) as { images: Array<{ error: { code: string } }> }).images[0]?.error.code).toBe('ERR_LIMIT_EXCEEDED');
    const allowed = await execa('node', [CLI_MAIN, 'warm', `${reg.host}/hostile/sized:v1`, '--cache-dir', cache, '--max-layer-size', '4M', '--max-expansion', '0', '-q'], { reject: false });
    expect(allowed.exitCode, allowed.stderr).toBe(0);
  });
});

describe('broken tar headers', () => {
  let base: Buffer;
  beforeAll(async () => {
    base = await makeTar([{ name: 'etc/file', content: 'x'.repeat(100) }, { name: 'etc/other', content: 'y' }]);
  });

  it('a header with a bad checksum', async () => {
    const layer = await layerFromTar(patchHeader(base, 0, Buffer.from('EVIL'), false));
    await pushImage(reg, 'hostile/checksum', 'v1', { layers: [layer] });
    const failure = await buildBeside(`${reg.host}/hostile/checksum:v1`);
    expect(failure.code).toBe('ERR_BAD_LAYER');
    expect(failure.message).toContain(layer.diffId);
  });

  it('absurd sizes, octal and base-256, in a header with a valid checksum', async () => {
    const octal = patchHeader(base, 124, Buffer.from('77777777777\0'));
    const base256 = patchHeader(base, 124, Buffer.from([0x80, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    for (const [name, tar] of [['octal', octal], ['base256', base256]] as const) {
      const layer = await layerFromTar(tar);
      await pushImage(reg, `hostile/size-${name}`, 'v1', { layers: [layer] });
      const failure = await buildBeside(`${reg.host}/hostile/size-${name}:v1`);
      expect(failure.code, name).toBe('ERR_BAD_LAYER');
      expect(failure.message).toContain(layer.diffId);
    }
  });

  it('nesting deeper than the depth cap', async () => {
    const deep = `${'d/'.repeat(1100)}leaf`;
    const layer = await buildLayer([{ name: deep, content: 'deep' }]);
    await pushImage(reg, 'hostile/deep', 'v1', { layers: [layer] });
    const failure = await buildBeside(`${reg.host}/hostile/deep:v1`);
    expect(failure.code).toBe('ERR_LIMIT_EXCEEDED');
    expect(failure.message).toContain('levels deep');
  });
});

describe('hostile manifests', () => {
  let proxy: FaultProxy;
  beforeAll(async () => {
    // Made once, before any memory is measured: the proxy lives in this process.
    const huge = Buffer.concat([Buffer.from('{"schemaVersion":2,"layers":['), Buffer.alloc(40 * 1024 * 1024, 0x20), Buffer.from(']}')]);
    proxy = await startFaultProxy(reg.url, (req) => (req.path.includes('/hostile/huge/manifests/') ? { kind: 'body', body: () => huge } : undefined));
  });
  afterAll(() => proxy?.close());

  it('thousands of layers: refused before any blob is fetched', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: Array(3000).fill(small.diffId) } }));
    const configDigest = await pushBlob(reg, 'hostile/layers', config);
    await pushBlob(reg, 'hostile/layers', small.blob);
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configDigest, size: config.length },
      layers: Array(3000).fill({ mediaType: small.mediaType, digest: small.digest, size: small.size }),
    };
    await pushManifest(reg, 'hostile/layers', 'v1', Buffer.from(JSON.stringify(manifest)), MediaType.OciManifest);
    const before = (await reg.settle()).length;
    const failure = await buildBeside(`${reg.host}/hostile/layers:v1`, 'warm');
    expect(failure.code).toBe('ERR_TOO_MANY_LAYERS');
    const blobGets = (await reg.settle()).slice(before).filter((r) => r.path.includes('/hostile/layers/blobs/'));
    expect(blobGets).toEqual([]);
  });

  it('a manifest of 40 MB: refused without reading it whole', async () => {
    await pushImage(reg, 'hostile/huge', 'v1', { layers: [small] });
    const rssBefore = process.memoryUsage().rss;
    const result = await warm({ refs: [`${proxy.host}/hostile/huge:v1`, goodRef], cacheDir: await mkdtemp(join(dir, 'cache-')), retries: 0 });
    expect(result.images.map((i) => i.status)).toEqual(['failed', 'ok']);
    expect(result.images[0]?.error?.code).toBe('ERR_MANIFEST_TOO_LARGE');
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(30 * 1024 * 1024);
  });

  it('a config blob that declares an absurd size: refused before download', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [small.diffId] } }));
    const configDigest = await pushBlob(reg, 'hostile/config', config);
    await pushBlob(reg, 'hostile/config', small.blob);
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configDigest, size: 8 * 1024 ** 3 },
      layers: [{ mediaType: small.mediaType, digest: small.digest, size: small.size }],
    };
    await pushManifest(reg, 'hostile/config', 'v1', Buffer.from(JSON.stringify(manifest)), MediaType.OciManifest);
    const failure = await buildBeside(`${reg.host}/hostile/config:v1`, 'warm');
    expect(failure.code).toBe('ERR_MANIFEST_TOO_LARGE');
    expect(failure.message).toContain(sha256Digest(config));
  });
});
