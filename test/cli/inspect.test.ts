import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../src/oci/digest.js';
import { buildLayer, pushImage, pushIndex, type PushedImage } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { CLI_MAIN } from '../helpers/cli.js';

let reg: TestRegistry;
let dir: string;
let amd: PushedImage;
let indexDigest: string;

beforeAll(async () => {
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'rootforge-inspect-'));
  const base = await buildLayer([{ name: 'etc/os-release', content: 'ID=test\n' }]);
  const top = await buildLayer([{ name: 'usr/bin/app', content: 'app', mode: 0o755 }], { compression: 'zstd' });
  amd = await pushImage(reg, 'insp/multi', 'amd64', { layers: [base, top], platform: { os: 'linux', architecture: 'amd64' } });
  const arm = await pushImage(reg, 'insp/multi', 'arm64', { layers: [base], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
  indexDigest = (await pushIndex(reg, 'insp/multi', 'v1', [
    { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
    { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ])).digest;
});
afterAll(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

const rootforge = (args: string[]) => execa('node', [CLI_MAIN, ...args], { reject: false, env: { NO_COLOR: '1' } });

interface Inspected {
  digest: string;
  platforms: string[];
  platform: string;
  manifestDigest: string;
  configDigest: string;
  layers: Array<{ digest: string; size: number; diffId: string; cached: boolean; uncompressedCached: boolean }>;
  totalSize: number;
  cachedAs: string[];
}

describe('rootforge inspect', () => {
  it('reports platforms, manifest, config and layers, agrees with skopeo, and shows what the cache holds', async () => {
    const cache = join(dir, 'cache');
    const ref = `${reg.host}/insp/multi:v1`;
    const first = await rootforge(['inspect', ref, '--cache-dir', cache, '--json']);
    expect(first.exitCode, first.stderr).toBe(0);
    const before = JSON.parse(first.stdout) as Inspected;
    expect(before).toMatchObject({ digest: indexDigest, platforms: ['linux/amd64', 'linux/arm64/v8'], platform: 'linux/amd64', manifestDigest: amd.manifestDigest, configDigest: amd.configDigest, cachedAs: [] });
    expect(before.layers.map((l) => [l.digest, l.size, l.diffId, l.cached])).toEqual(amd.layers.map((l) => [l.digest, l.size, l.diffId, false]));
    expect(before.totalSize).toBe(amd.layers.reduce((n, l) => n + l.size, 0));

    const skopeo = JSON.parse((await execa('skopeo', ['inspect', '--tls-verify=false', `docker://${ref}`])).stdout) as { Digest: string; Layers: string[] };
    expect(skopeo.Layers).toEqual(before.layers.map((l) => l.digest));

    expect((await rootforge(['warm', ref, '--cache-dir', cache, '-q'])).exitCode).toBe(0);
    const after = JSON.parse((await rootforge(['inspect', ref, '--cache-dir', cache, '--json'])).stdout) as Inspected;
    expect(after.layers.every((l) => l.cached && l.uncompressedCached)).toBe(true);
    expect(after.cachedAs).toEqual([ref]);

    const text = await rootforge(['inspect', ref, '--cache-dir', cache, '--platform', 'linux/arm64']);
    expect(text.stdout).toContain('Platforms:     linux/amd64, linux/arm64/v8');
    expect(text.stdout).toContain('Platform:      linux/arm64/v8');
    expect(text.stdout).toMatch(/Layers:\s+1, /);

    const raw = await rootforge(['inspect', ref, '--cache-dir', cache, '--raw']);
    // execa drops the newline the CLI adds after a document that lacks one.
    expect(sha256Digest(raw.stdout)).toBe(amd.manifestDigest);
    const config = await rootforge(['inspect', ref, '--cache-dir', cache, '--image-config']);
    expect(sha256Digest(config.stdout)).toBe(amd.configDigest);
  });

  it('reads local layouts too, and names a missing tag with its code', async () => {
    const local = await rootforge(['inspect', `oci:${join(import.meta.dirname, '../fixtures/example-oci')}:latest`, '--cache-dir', join(dir, 'cache2'), '--json']);
    expect(local.exitCode, local.stderr).toBe(0);
    expect((JSON.parse(local.stdout) as Inspected).layers.length).toBeGreaterThan(0);
    const missing = await rootforge(['inspect', `${reg.host}/insp/multi:nope`, '--cache-dir', join(dir, 'cache2'), '--retries', '0']);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain('ERR_MANIFEST_UNKNOWN');
  });
});
