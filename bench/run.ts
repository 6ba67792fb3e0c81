// `npm run bench [-- NAME [options]]`: prints figures and ratios (medians); not part of the test suite.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rm } from 'node:fs/promises';
import { benchUncompressedCache } from './uncompressed-cache.js';
import { benchBuildStages } from './build-stages.js';
import { benchDeferredChecksums } from './deferred-checksums.js';
import { benchPeers } from './peers/main.js';

const workDir = process.env.ROOTFORGE_BENCH_DIR ?? join(tmpdir(), 'rootforge-bench');
const args = process.argv.slice(2);
// peers takes its own options after its name, and runs only when asked for: it takes minutes and starts many processes.
const peersOptions = args[0] === 'peers' ? args.slice(1) : undefined;
const names = peersOptions ? ['peers'] : args;
const want = (bench: string): boolean => names.includes(bench) || (names.length === 0 && bench !== 'peers');

try {
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
  if (want('peers')) await benchPeers(peersOptions ?? [], join(workDir, 'peers'));
} finally {
  await rm(workDir, { recursive: true, force: true });
}
