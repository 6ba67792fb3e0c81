// `npm run bench`: prints figures and ratios (medians); not part of the test suite.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { benchUncompressedCache } from './uncompressed-cache.js';
import { benchBuildStages } from './build-stages.js';
import { benchDeferredChecksums } from './deferred-checksums.js';

const workDir = process.env.ROOTFORGE_BENCH_DIR ?? join(tmpdir(), 'rootforge-bench');
const only = process.argv.slice(2);
const want = (name: string): boolean => only.length === 0 || only.includes(name);

if (want('uncompressed-cache')) {
  const figures = await benchUncompressedCache(join(workDir, 'uncompressed-cache'));
  console.log('\n# keep uncompressed layer tars in the cache? (Debian-sized layer, medians of 5)');
  console.table(figures);
}
if (want('build-stages')) {
  const table = await benchBuildStages(join(workDir, 'build-stages'));
  console.log('\n# build stages, warm cache, Debian-sized image (seconds, medians of 5)');
  console.table(table);
}
if (want('deferred-checksums')) {
  const table = await benchDeferredChecksums(join(workDir, 'deferred-checksums'));
  console.log('\n# mkfs -d - with metadata_csum, vs without it and tune2fs + e2fsck -fD after (seconds, medians of 5)');
  console.table(table);
}
await rm(workDir, { recursive: true, force: true });
