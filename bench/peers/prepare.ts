// Turns workload specs into layer files on disk and images in the local registry, plus what the peers and floors need.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { execa } from 'execa';
import { computeImageSize, type ImageSize } from '../../src/ext4/size.js';
import { sha256File, type Digest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { makeTar, pushImage } from '../../test/helpers/images.js';
import type { TestRegistry } from '../../test/helpers/registry.js';
import { writeCorpusTar, writeMergedTar } from '../corpus.js';
import { quirksEntries } from './quirks-layer.js';
import type { WorkloadSpec } from './workloads.js';

export interface PreparedLayer {
  key: string;
  /** Uncompressed tar, its gzip blob (what the registry serves) and a zstd copy for the decompression limit. */
  tar: string;
  gzip: string;
  zstd: string;
  digest: Digest;
  diffId: Digest;
  compressedBytes: number;
  uncompressedBytes: number;
  entries: number;
}

export interface PreparedImage {
  repo: string;
  /** host:port/repo:tag */
  ref: string;
  layers: PreparedLayer[];
  /** The flattened root filesystem as one tar: what an ideal tool would hand mkfs. */
  flatTar: string;
  /** rootforge's own sizing, so every tool's mkfs makes the same geometry. */
  size: ImageSize;
  entries: number;
  compressedBytes: number;
  uncompressedBytes: number;
}

export interface PreparedWorkload {
  spec: WorkloadSpec;
  images: PreparedImage[];
  /** Each distinct layer once, whatever number of images share it. */
  layers: PreparedLayer[];
}

async function writeLayer(spec: WorkloadSpec, key: string, dir: string, pathsOf: Map<string, string[]>): Promise<PreparedLayer> {
  const layer = spec.layers[key];
  if (!layer) throw new Error(`workload ${spec.name} has no layer ${key}`);
  const tar = join(dir, `${key}.tar`);
  let entries: number;
  if (layer.kind === 'host') {
    const written = await writeCorpusTar(tar, layer.roots, layer.limits, { keepOwners: Boolean(layer.keepOwners) });
    pathsOf.set(key, written.paths);
    entries = written.entries;
  } else {
    const quirks = quirksEntries(pathsOf.get(layer.whiteoutIn) ?? [], pathsOf.get(layer.opaqueIn) ?? []);
    await writeFile(tar, await makeTar(quirks));
    entries = quirks.length;
  }
  // Level 6, as docker and buildkit push; the blob is what every tool downloads.
  await pipeline(createReadStream(tar), createGzip({ level: 6 }), createWriteStream(`${tar}.gz`));
  await execa('zstd', ['-q', '-f', '-3', '-T0', tar, '-o', `${tar}.zst`]);
  return {
    key,
    tar,
    gzip: `${tar}.gz`,
    zstd: `${tar}.zst`,
    digest: await sha256File(`${tar}.gz`),
    diffId: await sha256File(tar),
    compressedBytes: (await stat(`${tar}.gz`)).size,
    uncompressedBytes: (await stat(tar)).size,
    entries,
  };
}

async function flatten(layers: PreparedLayer[], out: string): Promise<{ size: ImageSize; entries: number }> {
  const plan = await writeMergedTar(layers.map((l) => ({ path: l.tar, diffId: l.diffId })), out);
  const entries = plan.entries();
  return { size: computeImageSize(entries), entries: entries.length };
}

export async function prepareWorkload(spec: WorkloadSpec, registry: TestRegistry, dir: string): Promise<PreparedWorkload> {
  await mkdir(dir, { recursive: true });
  const pathsOf = new Map<string, string[]>();
  const layers = new Map<string, PreparedLayer>();
  for (const key of Object.keys(spec.layers)) layers.set(key, await writeLayer(spec, key, dir, pathsOf));
  const images: PreparedImage[] = [];
  for (const image of spec.images) {
    const own = image.layers.map((key) => layers.get(key) as PreparedLayer);
    const built = await Promise.all(own.map(async (l) => ({ blob: await readFile(l.gzip), digest: l.digest, diffId: l.diffId, mediaType: MediaType.OciLayerGzip, size: l.compressedBytes })));
    await pushImage(registry, image.repo, 'v1', { layers: built });
    const flatTar = join(dir, `${image.repo.replaceAll('/', '_')}.flat.tar`);
    const { size, entries } = await flatten(own, flatTar);
    images.push({
      repo: image.repo,
      ref: `${registry.host}/${image.repo}:v1`,
      layers: own,
      flatTar,
      size,
      entries,
      compressedBytes: own.reduce((sum, l) => sum + l.compressedBytes, 0),
      uncompressedBytes: own.reduce((sum, l) => sum + l.uncompressedBytes, 0),
    });
  }
  return { spec, images, layers: [...layers.values()] };
}
