import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkfsFromDir } from '../../src/ext4/mkfs.js';
import { computeImageSize } from '../../src/ext4/size.js';
import type { RootfsEntry } from '../../src/layer/types.js';
import { e2fsckClean, readExt4Tree } from '../helpers/ext4-read.js';
import { stageTree, type TestTree } from './tree.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootforge-ext4-read-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readExt4Tree', () => {
  it('reads back ~7,000 entries', async () => {
    const entries: RootfsEntry[] = [{ path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1, size: 0 }];
    const contents = new Map<string, Buffer>();
    for (let d = 0; d < 70; d++) {
      const parent = `usr/share/d${d}`;
      if (d === 0) {
        entries.push({ path: 'usr', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 2, size: 0 });
        entries.push({ path: 'usr/share', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 3, size: 0 });
      }
      entries.push({ path: parent, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 4, size: 0 });
      for (let f = 0; f < 90; f++) {
        const path = `${parent}/file-${f}`;
        contents.set(path, Buffer.from(`content ${d} ${f}\n`));
        entries.push({ path, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000 + f, size: contents.get(path)?.length ?? 0 });
      }
      for (let l = 0; l < 10; l++) entries.push({ path: `${parent}/link-${l}`, type: 'symlink', mode: 0o777, uid: 0, gid: 0, mtime: 5, size: 0, linkTarget: `file-${l}` });
    }
    const tree: TestTree = { entries, contents };
    await stageTree(tree, join(dir, 'staging'));
    const image = join(dir, 'wide.ext4');
    await mkfsFromDir(image, computeImageSize(entries), join(dir, 'staging'));
    await e2fsckClean(image);
    const nodes = await readExt4Tree(image);
    expect(nodes.size).toBe(entries.length + 1);
    expect(nodes.get('usr/share/d69/file-89')).toMatchObject({ type: 'file', size: 14, mtime: 1_700_000_089 });
    expect(nodes.get('usr/share/d3/link-2')).toMatchObject({ type: 'symlink', linkTarget: 'file-2' });
  });
});
