import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { finishImage } from '../../src/ext4/finish.js';
import { mkfsFromTar } from '../../src/ext4/mkfs.js';
import { computeImageSize } from '../../src/ext4/size.js';
import { detectE2fsprogs, type E2fsTools } from '../../src/ext4/tools.js';
import type { RootfsEntry } from '../../src/layer/types.js';
import { e2fsckClean, readExt4Tree } from '../helpers/ext4-read.js';
import { treeTar, type TestTree } from './tree.js';

let dir: string;
let tools: E2fsTools;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootforge-finish-'));
  tools = await detectE2fsprogs();
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A root with one directory of 3,000 files: several blocks of entries, which only an htree index makes fast to look up. */
function wideTree(): TestTree {
  const entries: RootfsEntry[] = [
    { path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1, size: 0 },
    { path: 'wide', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 2, size: 0 },
  ];
  const contents = new Map<string, Buffer>();
  for (let i = 0; i < 3000; i++) {
    const path = `wide/entry-with-a-longish-name-${i}`;
    contents.set(path, Buffer.from(`${i}\n`));
    entries.push({ path, type: 'file', mode: 0o640, uid: 1000, gid: 1000, mtime: 1_700_000_000 + i, size: contents.get(path)?.length ?? 0 });
  }
  return { entries, contents };
}

async function buildDeferred(image: string, tree: TestTree, epoch: number): Promise<void> {
  const env = { SOURCE_DATE_EPOCH: String(epoch) };
  const identity = { uuid: '11111111-2222-3333-4444-555555555555', hashSeed: '66666666-7777-8888-9999-000000000000' };
  await mkfsFromTar(image, computeImageSize(tree.entries), treeTar(tree), { ...identity, env, deferChecksums: true });
  await finishImage(image, { tune2fs: tools.tune2fs as string, e2fsck: tools.e2fsck as string, sourceDateEpoch: epoch });
}

describe('finishImage', () => {
  it('turns metadata_csum on and indexes large directories, keeping every entry', async () => {
    expect(tools.tune2fs && tools.e2fsck, 'e2fsprogs ships tune2fs and e2fsck').toBeTruthy();
    const tree = wideTree();
    const image = join(dir, 'wide.ext4');
    await buildDeferred(image, tree, 1_700_100_000);
    const features = (await execa(tools.mkfs.replace(/mkfs\.ext4$|mke2fs$/, 'dumpe2fs'), ['-h', image], { reject: false })).stdout;
    expect(features).toMatch(/Filesystem features:.*metadata_csum/);
    expect(features).toMatch(/Filesystem features:.*dir_index/);
    const htree = await execa(tools.debugfs, ['-R', 'htree /wide', image], { reject: false, all: true });
    expect(htree.all).toContain('Root node dump');
    await e2fsckClean(image);
    const nodes = await readExt4Tree(image);
    expect(nodes.size, 'every entry, plus lost+found').toBe(tree.entries.length + 1);
    expect(nodes.get('wide/entry-with-a-longish-name-2999')).toMatchObject({ type: 'file', mode: 0o640, uid: 1000, gid: 1000, mtime: 1_700_002_999, size: 5 });
  });

  it('gives the same bytes whenever it runs: the superblock carries SOURCE_DATE_EPOCH, not the clock', async () => {
    const tree = wideTree();
    await buildDeferred(join(dir, 'a.ext4'), tree, 1_700_100_000);
    await new Promise((r) => setTimeout(r, 1100));
    await buildDeferred(join(dir, 'b.ext4'), tree, 1_700_100_000);
    expect((await readFile(join(dir, 'a.ext4'))).equals(await readFile(join(dir, 'b.ext4')))).toBe(true);
  });
});
