// Per-stage build times (replay, mkfs, debugfs) for a Debian-sized image on both populate paths.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { build } from '../src/batch/build.js';
import { warm } from '../src/batch/warm.js';
import { sha256Digest } from '../src/oci/digest.js';
import { MediaType } from '../src/oci/media-types.js';
import { pushImage } from '../test/helpers/images.js';
import { startRegistry } from '../test/helpers/registry.js';
import { DEBIAN_ROOTS, DEBIAN_SIZED, median, writeCorpusTar } from './corpus.js';

export async function benchBuildStages(workDir: string, runs = 5): Promise<Record<string, Record<string, number>>> {
  await mkdir(workDir, { recursive: true });
  const tarPath = join(workDir, 'layer.tar');
  const { entries } = await writeCorpusTar(tarPath, DEBIAN_ROOTS, DEBIAN_SIZED);
  await pipeline(createReadStream(tarPath), createGzip(), createWriteStream(`${tarPath}.gz`));
  const tar = await readFile(tarPath);
  const blob = await readFile(`${tarPath}.gz`);
  const registry = await startRegistry();
  try {
    const layer = { blob, digest: sha256Digest(blob), diffId: sha256Digest(tar), mediaType: MediaType.OciLayerGzip, size: blob.length };
    await pushImage(registry, 'bench/debian-sized', 'v1', { layers: [layer] });
    const ref = `${registry.host}/bench/debian-sized:v1`;
    const cacheDir = join(workDir, 'cache');
    await warm({ refs: [ref], cacheDir });
    const table: Record<string, Record<string, number>> = {};
    for (const populate of ['tar', 'dir'] as const) {
      const samples: Record<string, number[]> = {};
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        const result = await build({ refs: [ref], cacheDir, outDir: join(workDir, 'out'), populate, force: true, workDir });
        const image = result.images[0];
        if (image?.status !== 'ok') throw new Error(`build failed: ${JSON.stringify(image?.error)}`);
        const seconds: Record<string, number> = { ...image.seconds, total: (performance.now() - started) / 1000 };
        for (const [stage, value] of Object.entries(seconds)) (samples[stage] ??= []).push(value);
      }
      table[populate] = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, Number(median(v).toFixed(3))]));
    }
    table.image = { entries, uncompressedMB: Number((tar.length / 1e6).toFixed(1)), gzipMB: Number((blob.length / 1e6).toFixed(1)) };
    return table;
  } finally {
    await registry.stop();
  }
}
