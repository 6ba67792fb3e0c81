import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../src/oci/digest.js';
import { MAX_CONFIG_BYTES, parseImageConfig, parseManifest } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { selectPlatform } from '../../src/oci/platform.js';
import { RegistryClient } from '../../src/registry/client.js';
import { parseReference } from '../../src/registry/reference.js';
import { buildLayer, pushImage, pushIndex, type PushedImage } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { RecordingSink } from './support.js';

describe('RegistryClient against Distribution', () => {
  let reg: TestRegistry;
  let client: RegistryClient;
  let oci: PushedImage;
  let docker: PushedImage;
  let arm: PushedImage;

  beforeAll(async () => {
    reg = await startRegistry();
    client = new RegistryClient({ retries: 1, retryBaseMs: 10, timeoutMs: 5000, env: {} });
    const big = Buffer.alloc(300_000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
    const l1 = await buildLayer([{ name: 'etc/', type: 'directory' }, { name: 'etc/hostname', content: 'oci\n' }, { name: 'big.bin', content: big }]);
    const l2 = await buildLayer([{ name: 'usr/bin/tool', content: '#!/bin/sh\n', mode: 0o755 }], { compression: 'zstd' });
    oci = await pushImage(reg, 'test/oci', 'v1', { layers: [l1, l2] });
    const dl = await buildLayer([{ name: 'hello', content: 'docker' }], { format: 'docker' });
    docker = await pushImage(reg, 'test/docker', 'v1', { layers: [dl], format: 'docker' });
    const al = await buildLayer([{ name: 'arch', content: 'arm64' }]);
    arm = await pushImage(reg, 'test/multi', 'arm64-only', { layers: [al], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    const amd = await pushImage(reg, 'test/multi', 'amd64-only', { layers: [l1] });
    await pushIndex(reg, 'test/multi', 'latest', [
      { image: amd, platform: { os: 'linux', architecture: 'amd64' }, attestation: true },
      { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' }, attestation: true },
    ]);
    const dockerMulti = await pushImage(reg, 'test/multi', 'docker-v1', { layers: [dl], format: 'docker' });
    await pushIndex(reg, 'test/multi', 'docker-list', [{ image: dockerMulti, platform: { os: 'linux', architecture: 'amd64' } }], { format: 'docker' });
  });

  afterAll(async () => {
    await reg?.stop();
  });

  it('fetches an OCI manifest by tag, verified against Docker-Content-Digest', async () => {
    const m = await client.getManifest(parseReference(`${reg.host}/test/oci:v1`));
    expect(m.digest).toBe(oci.manifestDigest);
    expect(m.mediaType).toBe(MediaType.OciManifest);
    expect(m.bytes.equals(oci.manifest)).toBe(true);
    const parsed = parseManifest(m.bytes, m.mediaType);
    expect(parsed.kind).toBe('manifest');
  });

  it('fetches a manifest by digest, and digest wins over tag', async () => {
    const before = (await reg.settle()).length;
    const byDigest = await client.getManifest(parseReference(`${reg.host}/test/oci@${oci.manifestDigest}`));
    expect(byDigest.digest).toBe(oci.manifestDigest);
    const both = await client.getManifest(parseReference(`${reg.host}/test/multi:latest@${arm.manifestDigest}`));
    expect(both.digest).toBe(arm.manifestDigest);
    const logged = (await reg.settle()).slice(before);
    expect(logged).toEqual([
      { method: 'GET', path: `/v2/test/oci/manifests/${oci.manifestDigest}`, status: 200 },
      { method: 'GET', path: `/v2/test/multi/manifests/${arm.manifestDigest}`, status: 200 },
    ]);
  });

  it('fetches a Docker schema 2 manifest', async () => {
    const m = await client.getManifest(parseReference(`${reg.host}/test/docker:v1`));
    expect(m.mediaType).toBe(MediaType.DockerManifest);
    expect(m.digest).toBe(docker.manifestDigest);
    const parsed = parseManifest(m.bytes, m.mediaType);
    if (parsed.kind !== 'manifest') throw new Error('expected a manifest');
    expect(parsed.manifest.layers[0]?.mediaType).toBe(MediaType.DockerLayerGzip);
  });

  it('fetches an index with platforms and attestations, and selects a platform from it', async () => {
    const ref = parseReference(`${reg.host}/test/multi`);
    expect(ref.tag).toBe('latest');
    const top = await client.getManifest(ref);
    expect(top.mediaType).toBe(MediaType.OciIndex);
    const parsed = parseManifest(top.bytes, top.mediaType);
    if (parsed.kind !== 'index') throw new Error('expected an index');
    expect(parsed.index.manifests).toHaveLength(4);
    const chosen = selectPlatform(parsed.index.manifests, { os: 'linux', architecture: 'arm64' });
    expect(chosen.digest).toBe(arm.manifestDigest);
    const child = await client.getManifest({ ...ref, digest: chosen.digest });
    expect(child.digest).toBe(arm.manifestDigest);
    const attestation = parsed.index.manifests.find((d) => d.platform?.os === 'unknown');
    expect(attestation?.annotations?.['vnd.docker.reference.type']).toBe('attestation-manifest');
    expect(() => selectPlatform(parsed.index.manifests, { os: 'linux', architecture: 's390x' })).toThrow(/linux\/amd64, linux\/arm64\/v8/);
  });

  it('fetches a Docker manifest list', async () => {
    const m = await client.getManifest(parseReference(`${reg.host}/test/multi:docker-list`));
    expect(m.mediaType).toBe(MediaType.DockerManifestList);
    expect(parseManifest(m.bytes, m.mediaType).kind).toBe('index');
  });

  it('reports a missing tag as ERR_MANIFEST_UNKNOWN and a missing repository too', async () => {
    await expect(client.getManifest(parseReference(`${reg.host}/test/oci:nope`))).rejects.toMatchObject({ code: 'ERR_MANIFEST_UNKNOWN', temporary: false });
    await expect(client.getManifest(parseReference(`${reg.host}/test/absent:v1`))).rejects.toMatchObject({ code: 'ERR_MANIFEST_UNKNOWN' });
  });

  it('gets a config blob into memory, verified', async () => {
    const ref = parseReference(`${reg.host}/test/oci:v1`);
    const parsed = parseManifest(oci.manifest);
    if (parsed.kind !== 'manifest') throw new Error('expected a manifest');
    const bytes = await client.getBlobBytes(ref, parsed.manifest.config, MAX_CONFIG_BYTES);
    expect(bytes.equals(oci.config)).toBe(true);
    expect(parseImageConfig(bytes).rootfs.diff_ids).toEqual(oci.layers.map((l) => l.diffId));
    await expect(client.getBlobBytes(ref, parsed.manifest.config, 10)).rejects.toMatchObject({ code: 'ERR_LIMIT_EXCEEDED' });
  });

  it('streams layers into a sink with progress', async () => {
    const ref = parseReference(`${reg.host}/test/oci:v1`);
    for (const layer of oci.layers) {
      const sink = new RecordingSink();
      const progress: number[] = [];
      await client.downloadBlob(ref, { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, sink, { onProgress: (n) => progress.push(n) });
      expect(sha256Digest(sink.bytes())).toBe(layer.digest);
      expect(progress.at(-1)).toBe(layer.size);
      expect(sink.resets).toBe(0);
    }
  });

  it('resumes against Distribution with a Range request answered 206', async () => {
    const layer = oci.layers[0];
    if (!layer) throw new Error('no layer');
    const before = (await reg.settle()).length;
    const sink = new RecordingSink(layer.blob.subarray(0, 1000));
    await client.downloadBlob(parseReference(`${reg.host}/test/oci:v1`), { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, sink);
    expect(sink.bytes().equals(layer.blob)).toBe(true);
    expect(sink.resets).toBe(0);
    const logged = (await reg.settle()).slice(before);
    expect(logged).toEqual([{ method: 'GET', path: `/v2/test/oci/blobs/${layer.digest}`, status: 206 }]);
    expect(logged).toContainEqual({ method: 'GET', path: `/v2/test/oci/blobs/${layer.digest}`, status: 206 });
  });

  it('reports a missing blob as ERR_NOT_FOUND', async () => {
    const digest = sha256Digest('absent');
    await expect(client.downloadBlob(parseReference(`${reg.host}/test/oci:v1`), { mediaType: MediaType.OciLayerGzip, digest, size: 6 }, new RecordingSink())).rejects.toMatchObject({
      code: 'ERR_NOT_FOUND',
      blob: digest,
    });
  });

  it('logs requests from the access log', async () => {
    const logged = reg.requests();
    expect(logged.some((r) => r.method === 'PUT' && r.path === '/v2/test/oci/manifests/v1' && r.status === 201)).toBe(true);
    expect(logged.every((r) => typeof r.status === 'number')).toBe(true);
  });
});
