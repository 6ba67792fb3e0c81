import { createHash } from 'node:crypto';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDebugfsScript } from '../../src/ext4/debugfs-script.js';
import { runDebugfs } from '../../src/ext4/debugfs.js';
import { fixupOps } from '../../src/ext4/fixup.js';
import { mkfsFromDir, mkfsFromTar } from '../../src/ext4/mkfs.js';
import { computeImageSize } from '../../src/ext4/size.js';
import { detectE2fsprogs } from '../../src/ext4/tools.js';
import { writeValueFiles } from '../../src/ext4/value-files.js';
import type { RootfsEntry } from '../../src/layer/types.js';
import { e2fsckClean, readExt4Tree, type Ext4Node } from '../helpers/ext4-read.js';
import { sampleTree, stageTree, treeTar, type TestTree } from './tree.js';

let dir: string;
let tarStdin = false;
const images: Partial<Record<'tar' | 'dir', Map<string, Ext4Node>>> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootforge-ext4-rt-'));
  tarStdin = (await detectE2fsprogs()).tarStdin;
});
afterAll(async () => {
  // Staged directories may be read-only; open them up so rm can empty them.
  const open = async (d: string): Promise<void> => {
    await chmod(d, 0o700).catch(() => undefined);
    for (const e of await readdir(d, { withFileTypes: true }).catch(() => [])) if (e.isDirectory()) await open(join(d, e.name));
  };
  await open(dir);
  await rm(dir, { recursive: true, force: true });
});

const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;

async function build(tree: TestTree, populate: 'tar' | 'dir', name: string): Promise<string> {
  const image = join(dir, `${name}.ext4`);
  const size = computeImageSize(tree.entries);
  const env = { SOURCE_DATE_EPOCH: '1700000000' };
  let modes = new Map<string, number>();
  if (populate === 'tar') {
    await mkfsFromTar(image, size, treeTar(tree), { env });
  } else {
    const staging = join(dir, `${name}-staging`);
    modes = await stageTree(tree, staging);
    await mkfsFromDir(image, size, staging, { env });
  }
  const plan = fixupOps(tree.entries, populate, { modes, runnerUid: uid, runnerGid: gid, tempDir: join(dir, `${name}-values`) });
  await writeValueFiles(plan.valueFiles);
  await runDebugfs(image, buildDebugfsScript(plan.ops), { env });
  return image;
}

function expectMatches(tree: TestTree, nodes: Map<string, Ext4Node>): void {
  const byPath = new Map(tree.entries.map((e) => [e.path, e]));
  for (const e of tree.entries) {
    const node = nodes.get(e.path);
    expect(node, e.path).toBeDefined();
    const n = node as Ext4Node;
    const origin = e.hardlinkTo !== undefined ? (byPath.get(e.hardlinkTo) as RootfsEntry) : e;
    expect({ type: n.type, mode: n.mode, uid: n.uid, gid: n.gid, mtime: n.mtime }, e.path).toEqual({
      type: origin.type,
      mode: origin.type === 'symlink' ? n.mode : origin.mode,
      uid: origin.uid,
      gid: origin.gid,
      mtime: origin.mtime,
    });
    const xattrs = Object.fromEntries(Object.entries(origin.xattrs ?? {}).map(([k, v]) => [k, v.toString('hex')]));
    expect(n.xattrs, `${e.path} xattrs`).toEqual(xattrs);
    if (origin.type === 'file') {
      const content = tree.contents.get(origin.path) ?? Buffer.alloc(0);
      expect(n.size, e.path).toBe(content.length);
      expect(n.sha256, e.path).toBe(createHash('sha256').update(content).digest('hex'));
    }
    if (origin.type === 'symlink') expect(n.linkTarget, e.path).toBe(origin.linkTarget);
    if (origin.type === 'char' || origin.type === 'block') expect([n.devMajor, n.devMinor], e.path).toEqual([origin.devMajor, origin.devMinor]);
    if (e.hardlinkTo !== undefined) expect(n.inode, e.path).toBe(nodes.get(e.hardlinkTo)?.inode);
  }
  expect(nodes.get('hard-a')?.links).toBe(3);
  expect(nodes.get('dev/initctl')?.links).toBe(2);
  const extra = [...nodes.keys()].filter((p) => !byPath.has(p) && p !== 'lost+found');
  expect(extra).toEqual([]);
}

describe('populate round trips through mkfs, fixups and debugfs', () => {
  for (const populate of ['tar', 'dir'] as const) {
    it(`${populate}: every entry reads back with its intended metadata, and e2fsck is clean`, async (ctx) => {
      if (populate === 'tar' && !tarStdin) ctx.skip();
      const tree = sampleTree();
      const image = await build(tree, populate, populate);
      await e2fsckClean(image);
      const nodes = await readExt4Tree(image);
      expectMatches(tree, nodes);
      images[populate] = nodes;
    });
  }

  it('both paths give the same tree', (ctx) => {
    if (!images.tar || !images.dir) ctx.skip();
    const strip = (nodes: Map<string, Ext4Node>) =>
      [...nodes.values()].filter((n) => n.path !== 'lost+found').map(({ inode: _inode, links, ...rest }) => ({ ...rest, links: rest.type === 'dir' ? 0 : links }));
    expect(strip(images.dir as Map<string, Ext4Node>).sort((a, b) => a.path.localeCompare(b.path))).toEqual(
      strip(images.tar as Map<string, Ext4Node>).sort((a, b) => a.path.localeCompare(b.path)),
    );
  });
});
