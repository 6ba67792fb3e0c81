// Should mkfs fill the image without metadata_csum and have tune2fs + e2fsck -fD add checksums (and
// htree indexes) afterwards? mkfs -d checksums every directory block on every insert, which is slow.
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { finishImage } from '../src/ext4/finish.js';
import { mkfsFromTar } from '../src/ext4/mkfs.js';
import { detectE2fsprogs } from '../src/ext4/tools.js';
import { DEBIAN_ROOTS, DEBIAN_SIZED, median, writeCorpusTar, writeMergedTar } from './corpus.js';

const IMAGE_SIZE = { bytes: 1024 * 1024 * 1024, inodes: 120_000 };

/** One directory of `files` small files: the shape that makes mkfs -d slow. */
async function wideDirTar(out: string, dir: string, files: number): Promise<void> {
  const root = join(dir, 'wide-tree');
  await mkdir(join(root, 'big'), { recursive: true });
  await execa('sh', ['-c', `cd '${root}/big' && seq 1 ${files} | xargs -n 1000 touch`]);
  await execa('tar', ['-C', root, '-cf', out, '.']);
}

async function timeOne(image: string, tar: string, deferred: boolean): Promise<{ mkfs: number; finish: number }> {
  const tools = await detectE2fsprogs();
  const started = performance.now();
  await mkfsFromTar(image, IMAGE_SIZE, createReadStream(tar), { deferChecksums: deferred, env: { SOURCE_DATE_EPOCH: '1700000000' } });
  const mkfs = (performance.now() - started) / 1000;
  if (!deferred) return { mkfs, finish: 0 };
  const finishStarted = performance.now();
  await finishImage(image, { tune2fs: tools.tune2fs as string, e2fsck: tools.e2fsck as string, sourceDateEpoch: 1_700_000_000 });
  return { mkfs, finish: (performance.now() - finishStarted) / 1000 };
}

export async function benchDeferredChecksums(workDir: string, runs = 5): Promise<Record<string, Record<string, number>>> {
  await mkdir(workDir, { recursive: true });
  const debian = join(workDir, 'debian-sized.tar');
  const wide = join(workDir, 'wide-dir.tar');
  await writeCorpusTar(join(workDir, 'debian-layer.tar'), DEBIAN_ROOTS, DEBIAN_SIZED);
  await writeMergedTar([{ path: join(workDir, 'debian-layer.tar'), diffId: 'bench' }], debian);
  await wideDirTar(join(workDir, 'wide-layer.tar'), workDir, 18_000);
  await writeMergedTar([{ path: join(workDir, 'wide-layer.tar'), diffId: 'bench' }], wide);
  const table: Record<string, Record<string, number>> = {};
  for (const [name, tar] of [['debian-sized (7,000 entries)', debian], ['one dir of 18,000 files', wide]] as const) {
    const inline: number[] = [];
    const deferredTotal: number[] = [];
    const deferredFinish: number[] = [];
    // Alternating, so drift in the machine's load hits both the same.
    for (let i = 0; i < runs; i++) {
      inline.push((await timeOne(join(workDir, 'a.ext4'), tar, false)).mkfs);
      const d = await timeOne(join(workDir, 'b.ext4'), tar, true);
      deferredTotal.push(d.mkfs + d.finish);
      deferredFinish.push(d.finish);
    }
    table[name] = {
      'mkfs with csum (s)': median(inline),
      'mkfs ^csum + finish (s)': median(deferredTotal),
      'of which finish (s)': median(deferredFinish),
      ratio: median(deferredTotal) / median(inline),
    };
  }
  return table;
}
