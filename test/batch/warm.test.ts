import { execa } from 'execa';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { warm } from '../../src/batch/warm.js';
import { OciLayout } from '../../src/cache/layout.js';
import { verifyCache } from '../../src/cache/verify.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { decodeLayerIndex, scanLayer } from '../../src/layer/layer-index.js';
import { MediaType } from '../../src/oci/media-types.js';
import { buildLayer, makeTar, pushBlob, pushImage, pushIndex, pushManifest, type BuiltLayer } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';

let reg: TestRegistry;
let dir: string;
let base: BuiltLayer;

beforeAll(async () => {
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'rootforge-warm-'));
  base = await buildLayer([{ name: 'etc/', type: 'directory' }, { name: 'etc/os-release', content: 'ID=test\n' }]);
});
afterAll(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function freshCache(): Promise<string> {
  return mkdtemp(join(dir, 'cache-'));
}

describe('warm against the real registry', () => {
  it('pulls OCI and Docker images with gzip, zstd and uncompressed layers into a verified layout', async () => {
    const zstdLayer = await buildLayer([{ name: 'usr/bin/tool', content: 'zstd content', mode: 0o755 }], { compression: 'zstd', format: 'docker' });
    const plainLayer = await buildLayer([{ name: 'srv/data', content: 'plain' }], { compression: 'none' });
    const oci = await pushImage(reg, 'warm/oci', 'v1', { layers: [base, plainLayer] });
    const docker = await pushImage(reg, 'warm/docker', 'v1', { layers: [base, zstdLayer], format: 'docker' });
    const cacheDir = await freshCache();
    const result = await warm({ refs: [`${reg.host}/warm/oci:v1`, `${reg.host}/warm/docker:v1`], cacheDir, retries: 0 });
    expect(result.images.map((i) => i.status)).toEqual(['ok', 'ok']);
    expect(result.images[0]).toMatchObject({ manifestDigest: oci.manifestDigest, configDigest: oci.configDigest, platform: 'linux/amd64' });
    expect(result.images[1]?.layers?.map((l) => l.digest)).toEqual([base.digest, zstdLayer.digest]);

    const layout = await OciLayout.open(cacheDir);
    for (const d of [oci.manifestDigest, oci.configDigest, docker.manifestDigest, base.digest, base.diffId, zstdLayer.digest, zstdLayer.diffId, plainLayer.digest]) {
      expect(await layout.hasBlob(d), d).toBe(true);
    }
    expect(await readFile(layout.blobPath(zstdLayer.diffId))).toEqual(await makeTar([{ name: 'usr/bin/tool', content: 'zstd content', mode: 0o755 }]));
    const names = (await layout.readIndex()).manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']);
    expect(names).toEqual([`${reg.host}/warm/docker:v1`, `${reg.host}/warm/oci:v1`]);
    expect((await verifyCache(layout)).bad).toEqual([]);
    expect(await readdir(layout.tempDir)).toEqual([]);

    // Other OCI tools read the cache as it is.
    const { stdout } = await execa('skopeo', ['inspect', '--raw', `oci:${cacheDir}:${reg.host}/warm/oci:v1`]);
    expect(sha256Digest(stdout)).toBe(oci.manifestDigest);

    // Each compressed layer was indexed while it unpacked, exactly as a later scan of the verified tar reads it.
    for (const layer of [base, zstdLayer]) {
      const source = { path: layout.blobPath(layer.diffId), diffId: layer.diffId };
      const kept = decodeLayerIndex(await readFile(layout.layerIndexPath(layer.diffId), 'utf8'), layer.diffId);
      expect(kept, layer.diffId).toEqual(await scanLayer(source, 0));
    }
  });

  it('keeps no index for a layer whose tar tar-stream cannot read, and still caches the verified blob', async () => {
    const garbage = Buffer.from('this is not a tar archive, though it is what the diff_id names'.repeat(20));
    const blob = gzipSync(garbage);
    const broken: BuiltLayer = { blob, digest: sha256Digest(blob), diffId: sha256Digest(garbage), mediaType: MediaType.OciLayerGzip, size: blob.length };
    await pushImage(reg, 'warm/untar', 'v1', { layers: [broken] });
    const cacheDir = await freshCache();
    const result = await warm({ refs: [`${reg.host}/warm/untar:v1`], cacheDir, retries: 0 });
    expect(result.images.map((i) => i.status)).toEqual(['ok']);
    const layout = await OciLayout.open(cacheDir);
    expect(await layout.hasBlob(broken.diffId)).toBe(true);
    await expect(readFile(layout.layerIndexPath(broken.diffId))).rejects.toThrow();
  });

  it('picks the platform from an index, skipping attestations, and lists what is there when it cannot', async () => {
    const amd = await pushImage(reg, 'warm/multi', 'amd64', { layers: [base], platform: { os: 'linux', architecture: 'amd64' } });
    const arm = await pushImage(reg, 'warm/multi', 'arm64', { layers: [base], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    await pushIndex(reg, 'warm/multi', 'latest', [
      { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
      { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { image: amd, platform: { os: 'unknown', architecture: 'unknown' }, attestation: true },
    ]);
    const cacheDir = await freshCache();
    const ok = await warm({ refs: [`${reg.host}/warm/multi`], cacheDir, platform: 'linux/arm64' });
    expect(ok.images[0]).toMatchObject({ status: 'ok', manifestDigest: arm.manifestDigest, platform: 'linux/arm64/v8' });
    const none = await warm({ refs: [`${reg.host}/warm/multi`], cacheDir, platform: 'linux/s390x' });
    expect(none.images[0]?.error?.code).toBe('ERR_PLATFORM_NOT_FOUND');
    expect(none.images[0]?.error?.message).toContain('linux/amd64, linux/arm64/v8');
    expect(none.images[0]?.error?.message).not.toContain('unknown');
  });

  it('fetches a layer shared by several images once', async () => {
    const shared = await buildLayer([{ name: 'shared', content: 'x'.repeat(100_000) }]);
    const refs: string[] = [];
    for (let i = 0; i < 4; i++) {
      const own = await buildLayer([{ name: `own${i}`, content: String(i) }]);
      await pushImage(reg, `warm/shared${i}`, 'v1', { layers: [shared, own] });
      refs.push(`${reg.host}/warm/shared${i}:v1`);
    }
    const before = (await reg.settle()).length;
    const result = await warm({ refs, cacheDir: await freshCache(), jobs: 4, workers: 2 });
    expect(result.images.every((i) => i.status === 'ok')).toBe(true);
    const gets = (await reg.settle()).slice(before).filter((r) => r.method === 'GET' && r.path.includes(`/blobs/${shared.digest}`) && r.status < 300);
    expect(gets).toHaveLength(1);
  });
});

describe('bad input fails that image with a coded error; the rest carry on', () => {
  let proxy: FaultProxy;
  let good: string;
  const faults = new Map<string, (path: string) => import('../helpers/fault-proxy.js').Fault | undefined>();

  beforeAll(async () => {
    await pushImage(reg, 'bad/good', 'v1', { layers: [base] });
    proxy = await startFaultProxy(reg.url, (req) => {
      for (const rule of faults.values()) {
        const fault = rule(req.path);
        if (fault) return fault;
      }
      return undefined;
    });
    good = `${proxy.host}/bad/good:v1`;
  });
  afterAll(() => proxy?.close());

  async function runWithGood(ref: string): Promise<{ code?: string; message?: string; cacheDir: string }> {
    const cacheDir = await freshCache();
    const result = await warm({ refs: [ref, good], cacheDir, retries: 1 });
    expect(result.images[1]?.status, 'the good image still succeeds').toBe('ok');
    const failed = result.images[0];
    expect(failed?.status).toBe('failed');
    const layout = await OciLayout.open(cacheDir);
    expect((await verifyCache(layout)).bad, 'nothing unverified in the cache').toEqual([]);
    expect(await readdir(layout.tempDir)).toEqual([]);
    return { code: failed?.error?.code, message: failed?.error?.message, cacheDir };
  }

  it('a blob whose bytes do not match its digest', async () => {
    const layer = await buildLayer([{ name: 'f', content: 'original bytes' }]);
    await pushImage(reg, 'bad/blob', 'v1', { layers: [layer] });
    faults.set('blob', (p) => (p.includes(`/blobs/${layer.digest}`) ? { kind: 'body', body: (b) => Buffer.from(b.map((x, i) => (i === 20 ? x ^ 0xff : x))) } : undefined));
    const failure = await runWithGood(`${proxy.host}/bad/blob:v1`);
    expect(failure.code).toBe('ERR_DIGEST_MISMATCH');
    expect(failure.message).toContain(layer.digest);
    expect(failure.message).toContain('bad/blob:v1');
    const layout = await OciLayout.open(failure.cacheDir);
    expect(await layout.hasBlob(layer.digest)).toBe(false);
  });

  it('a descriptor size that is wrong', async () => {
    const layer = await buildLayer([{ name: 'f', content: 'sized' }]);
    await pushBlob(reg, 'bad/size', layer.blob);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.diffId] } }));
    const configDigest = await pushBlob(reg, 'bad/size', config);
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configDigest, size: config.length },
      layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size - 3 }],
    };
    await pushManifest(reg, 'bad/size', 'v1', Buffer.from(JSON.stringify(manifest)), MediaType.OciManifest);
    expect((await runWithGood(`${proxy.host}/bad/size:v1`)).code).toBe('ERR_SIZE_MISMATCH');
  });

  it('a config blob that is corrupt', async () => {
    const config = Buffer.from('{"rootfs": not json');
    const configDigest = await pushBlob(reg, 'bad/config', config);
    const manifest = {
      schemaVersion: 2,
      mediaType: MediaType.OciManifest,
      config: { mediaType: MediaType.OciConfig, digest: configDigest, size: config.length },
      layers: [{ mediaType: base.mediaType, digest: base.digest, size: base.size }],
    };
    await pushBlob(reg, 'bad/config', base.blob);
    await pushManifest(reg, 'bad/config', 'v1', Buffer.from(JSON.stringify(manifest)), MediaType.OciManifest);
    const failure = await runWithGood(`${proxy.host}/bad/config:v1`);
    expect(failure.code).toBe('ERR_CONFIG_INVALID');
    expect(failure.message).toContain(configDigest);
  });

  it('a manifest whose bytes do not match the digest asked for, or the header', async () => {
    const image = await pushImage(reg, 'bad/manifest', 'v1', { layers: [base] });
    faults.set('manifest', (p) => (p.includes('/bad/manifest/manifests/') ? { kind: 'body', body: (b) => Buffer.concat([b, Buffer.from(' ')]) } : undefined));
    expect((await runWithGood(`${proxy.host}/bad/manifest@${image.manifestDigest}`)).code).toBe('ERR_DIGEST_MISMATCH');
    expect((await runWithGood(`${proxy.host}/bad/manifest:v1`)).code).toBe('ERR_DIGEST_MISMATCH');
    faults.delete('manifest');
  });

  it('a truncated gzip layer', async () => {
    const tar = await makeTar([{ name: 'big', content: 'y'.repeat(200_000) }]);
    const gz = gzipSync(tar);
    const truncated = gz.subarray(0, Math.floor(gz.length / 2));
    const layer: BuiltLayer = { blob: truncated, digest: sha256Digest(truncated), diffId: sha256Digest(tar), mediaType: MediaType.OciLayerGzip, size: truncated.length };
    await pushImage(reg, 'bad/truncated', 'v1', { layers: [layer] });
    const failure = await runWithGood(`${proxy.host}/bad/truncated:v1`);
    expect(failure.code).toBe('ERR_DECOMPRESS');
    expect(failure.message).toContain(layer.digest);
  });

  it('a wrong diff_id', async () => {
    const layer = await buildLayer([{ name: 'x', content: 'diff' }]);
    await pushImage(reg, 'bad/diffid', 'v1', { layers: [{ ...layer, diffId: sha256Digest('something else') }] });
    const failure = await runWithGood(`${proxy.host}/bad/diffid:v1`);
    expect(failure.code).toBe('ERR_DIFFID_MISMATCH');
    expect(failure.message).toContain(layer.digest);
    const layout = await OciLayout.open(failure.cacheDir);
    expect(await layout.hasBlob(sha256Digest('something else'))).toBe(false);
  });

  it('an unknown media type', async () => {
    await pushImage(reg, 'bad/media', 'v1', { layers: [{ ...base, mediaType: 'application/vnd.example.layer.v1+lz4' }] });
    expect((await runWithGood(`${proxy.host}/bad/media:v1`)).code).toBe('ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  it('a missing tag', async () => {
    expect((await runWithGood(`${proxy.host}/bad/good:nope`)).code).toBe('ERR_MANIFEST_UNKNOWN');
  });

  it('an index without the wanted platform', async () => {
    const arm = await pushImage(reg, 'bad/arm-only', 'arm', { layers: [base], platform: { os: 'linux', architecture: 'arm64' } });
    await pushIndex(reg, 'bad/arm-only', 'v1', [{ image: arm, platform: { os: 'linux', architecture: 'arm64' } }]);
    const failure = await runWithGood(`${proxy.host}/bad/arm-only:v1`);
    expect(failure.code).toBe('ERR_PLATFORM_NOT_FOUND');
    expect(failure.message).toContain('linux/arm64');
  });

  it('a 401 without credentials', async () => {
    const locked = await startRegistry({ auth: 'basic', username: 'alice', password: 's3cret-pass' });
    try {
      await pushImage(locked, 'private/img', 'v1', { layers: [base] });
      const home = await mkdtemp(join(dir, 'home-'));
      const cacheDir = await freshCache();
      const result = await warm({ refs: [`${locked.host}/private/img:v1`, good], cacheDir, env: { HOME: home, DOCKER_CONFIG: join(home, '.docker') } });
      expect(result.images.map((i) => i.status)).toEqual(['failed', 'ok']);
      expect(result.images[0]?.error?.code).toBe('ERR_UNAUTHORIZED');
      // With credentials in the Docker config it works, and the password appears nowhere in the result.
      await writeFile(join(home, 'config.json'), JSON.stringify({ auths: { [locked.host]: { auth: Buffer.from('alice:s3cret-pass').toString('base64') } } }));
      const authed = await warm({ refs: [`${locked.host}/private/img:v1`], cacheDir, env: { DOCKER_CONFIG: home } });
      expect(authed.images[0]?.status).toBe('ok');
      expect(JSON.stringify(result)).not.toContain('s3cret-pass');
    } finally {
      await locked.stop();
    }
  });
});
