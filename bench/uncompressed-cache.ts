// Decides whether the cache keeps uncompressed layer tars: a build reads every layer twice
// (plan, then emit), so compare reading a kept tar with decompressing the blob each time.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { execa } from 'execa';
import { extract } from 'tar-stream';
import { decompressStream } from '../src/layer/decompress.js';
import { DEBIAN_ROOTS, DEBIAN_SIZED, median, writeCorpusTar } from './corpus.js';

async function headerPass(path: string, compression: 'gzip' | 'zstd' | 'none'): Promise<number> {
  const started = performance.now();
  const ex = extract();
  ex.on('entry', (_header, stream, next) => {
    stream.on('end', next);
    stream.resume();
  });
  await pipeline(createReadStream(path, { highWaterMark: 1 << 20 }), decompressStream(compression), ex);
  return (performance.now() - started) / 1000;
}

export async function benchUncompressedCache(workDir: string, runs = 5): Promise<Record<string, number>> {
  await mkdir(workDir, { recursive: true });
  const tar = join(workDir, 'debian-sized.tar');
  const { entries } = await writeCorpusTar(tar, DEBIAN_ROOTS, DEBIAN_SIZED);
  await pipeline(createReadStream(tar), createGzip(), createWriteStream(`${tar}.gz`));
  await execa('zstd', ['-q', '-f', '-3', tar, '-o', `${tar}.zst`]);
  const times: Record<'none' | 'gzip' | 'zstd', number[]> = { none: [], gzip: [], zstd: [] };
  for (let i = 0; i < runs; i++) {
    times.none.push(await headerPass(tar, 'none'));
    times.gzip.push(await headerPass(`${tar}.gz`, 'gzip'));
    times.zstd.push(await headerPass(`${tar}.zst`, 'zstd'));
  }
  const sizes = { none: (await stat(tar)).size, gzip: (await stat(`${tar}.gz`)).size, zstd: (await stat(`${tar}.zst`)).size };
  return {
    entries,
    uncompressedMB: sizes.none / 1e6,
    gzipMB: sizes.gzip / 1e6,
    zstdMB: sizes.zstd / 1e6,
    readKeptTarSeconds: median(times.none),
    gunzipSeconds: median(times.gzip),
    unzstdSeconds: median(times.zstd),
    twoPassKeptSeconds: 2 * median(times.none),
    twoPassGzipSeconds: 2 * median(times.gzip),
    gzipOverKeptRatio: median(times.gzip) / median(times.none),
  };
}

