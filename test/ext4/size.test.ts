import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkfsFromDir, mkfsFromTar } from '../../src/ext4/mkfs.js';
import { computeImageSize, contentStats, defaultJournalBlocks, layout, MIN_IMAGE_BYTES, parseSize, xattrBytes } from '../../src/ext4/size.js';
import { detectE2fsprogs, findTool } from '../../src/ext4/tools.js';
import { runDebugfs } from '../../src/ext4/debugfs.js';
import { buildDebugfsScript } from '../../src/ext4/debugfs-script.js';
import { fixupOps } from '../../src/ext4/fixup.js';
import { writeValueFiles } from '../../src/ext4/value-files.js';
import type { RootfsEntry } from '../../src/layer/types.js';
import { e2fsckClean } from '../helpers/ext4-read.js';
import { stageTree, treeTar, type TestTree } from './tree.js';

const MiB = 1024 * 1024;

describe('parseSize', () => {
  it.each([
    ['1048576', 1048576],
    ['512M', 512 * MiB],
    ['2G', 2 * 1024 * MiB],
    ['2g', 2 * 1024 * MiB],
    ['1.5GiB', 1.5 * 1024 * MiB],
    ['64k', 65536],
    ['100MB', 100 * MiB],
    ['1T', 1024 * 1024 * MiB],
  ])('%s -> %d', (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each([['0'], [''], ['-1G'], ['2X'], ['G'], ['1.2.3M']])('refuses %j with ERR_USAGE', (text) => {
    expect(() => parseSize(text)).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
  });
});

function e(path: string, type: RootfsEntry['type'], extra: Partial<RootfsEntry> = {}): RootfsEntry {
  return { path, type, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 0, ...extra };
}

describe('contentStats', () => {
  it('rounds file data up to blocks and counts hardlinks once', () => {
    const stats = contentStats([e('', 'dir'), e('a', 'file', { size: 1 }), e('b', 'file', { size: 4097 }), e('c', 'file', { size: 4097, hardlinkTo: 'b' })]);
    // 1 + 2 data blocks, one root directory block; two inodes (the root is reserved).
    expect(stats).toEqual({ inodes: 2, blocks: 4 });
  });

  it('gives long symlinks a block and keeps short ones in the inode', () => {
    const short = contentStats([e('l', 'symlink', { linkTarget: 'x'.repeat(59) })]);
    const long = contentStats([e('l', 'symlink', { linkTarget: 'x'.repeat(60) })]);
    expect(long.blocks - short.blocks).toBe(1);
  });

  it('gives xattrs that do not fit in the inode a block', () => {
    expect(xattrBytes({ 'security.capability': Buffer.alloc(20) })).toBeLessThanOrEqual(92);
    const small = contentStats([e('f', 'file', { xattrs: { 'security.capability': Buffer.alloc(20) } })]);
    const big = contentStats([e('f', 'file', { xattrs: { 'user.big': Buffer.alloc(200) } })]);
    expect(big.blocks - small.blocks).toBe(1);
  });

  it('grows directories with their entries and counts parents missing from the list', () => {
    const entries = [e('d', 'dir'), ...Array.from({ length: 5000 }, (_, i) => e(`d/${'n'.repeat(40)}-${i}`, 'file'))];
    expect(contentStats(entries).blocks).toBeGreaterThan(5000 * 52 / 4096);
    expect(contentStats([e('x/y/z', 'file')]).inodes).toBe(3);
  });

  it('adds extent index blocks for large files', () => {
    const stats = contentStats([e('big', 'file', { size: 4 * 1024 * MiB })]);
    expect(stats.blocks).toBe(1024 * 1024 + 1 + 1);
  });
});

describe('computeImageSize', () => {
  const tiny = [e('', 'dir'), e('f', 'file', { size: 100 })];

  it('never goes under the 64 MiB floor', () => {
    expect(computeImageSize(tiny)).toMatchObject({ bytes: MIN_IMAGE_BYTES });
  });

  it('grows with content and headroom, in whole blocks', () => {
    const big = [e('', 'dir'), e('f', 'file', { size: 500 * MiB })];
    const none = computeImageSize(big, { headroomPercent: 0 });
    const some = computeImageSize(big, { headroomPercent: 50 });
    expect(none.bytes).toBeGreaterThan(500 * MiB);
    expect(none.bytes).toBeLessThan(540 * MiB);
    expect(some.bytes - none.bytes).toBeGreaterThan(240 * MiB);
    expect(none.bytes % 4096).toBe(0);
  });

  it('counts injected files', () => {
    const without = computeImageSize([e('f', 'file', { size: 100 * MiB })], { headroomPercent: 0 });
    const withExtra = computeImageSize([e('f', 'file', { size: 100 * MiB })], { headroomPercent: 0, extraFiles: [20 * MiB] });
    expect(withExtra.bytes - without.bytes).toBeGreaterThanOrEqual(20 * MiB);
  });

  it('gives one inode per 16 KiB at least, and more for many small files', () => {
    expect(computeImageSize(tiny).inodes).toBe(MIN_IMAGE_BYTES / 16384);
    const many = Array.from({ length: 50_000 }, (_, i) => e(`f${i}`, 'file'));
    expect(computeImageSize(many, { headroomPercent: 0 }).inodes).toBeGreaterThanOrEqual(50_011);
  });

  it('uses an explicit size exactly, rounded down to the block size', () => {
    expect(computeImageSize(tiny, { sizeBytes: 100 * MiB + 123 })).toMatchObject({ bytes: 100 * MiB });
  });

  it('fails with ERR_IMAGE_TOO_SMALL when the content cannot fit the explicit size', () => {
    const content = [e('f', 'file', { size: 100 * MiB })];
    expect(() => computeImageSize(content, { sizeBytes: 100 * MiB })).toThrow(
      expect.objectContaining({ code: 'ERR_IMAGE_TOO_SMALL', message: expect.stringMatching(/needs at least 1\d\d\.\d MiB/) }),
    );
  });

  it('accepts pre-computed stats', () => {
    expect(computeImageSize({ inodes: 10, blocks: 100_000 }, { headroomPercent: 0 }).bytes).toBeGreaterThan(100_000 * 4096);
  });

  it('mirrors mke2fs journal sizes and group layout', () => {
    expect([defaultJournalBlocks(16384), defaultJournalBlocks(100_000), defaultJournalBlocks(300_000), defaultJournalBlocks(1_000_000)]).toEqual([1024, 4096, 8192, 16384]);
    expect(layout(32868, 8000).trimmed).toBe(100);
    expect(layout(33500, 8000).trimmed).toBe(0);
  });
});

/** Checks layout() against what mke2fs really builds: blocks in use on an empty filesystem. */
describe('layout against mke2fs', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rootforge-layout-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.each([
    [16384, 4096],
    [40000, 10000],
    [262144, 65536],
    [600000, 150000],
  ])('%d blocks, %d inodes', async (blocks, inodes) => {
    const image = join(dir, `${blocks}.ext4`);
    await mkfsFromTar(image, { bytes: blocks * 4096, inodes }, treeTar({ entries: [e('', 'dir', { mode: 0o755 })], contents: new Map() }));
    const counts = await superblock(image);
    // In use on an empty filesystem: mke2fs's overhead plus root (1), lost+found (4) and the resize inode's block.
    expect(counts.blocks - counts.free).toBe(layout(blocks, inodes).overhead);
  });
});

async function superblock(image: string): Promise<{ blocks: number; free: number; inodes: number; freeInodes: number }> {
  const dumpe2fs = (await findTool(['dumpe2fs'])) as string;
  const { stdout } = await execa(dumpe2fs, ['-h', image], { env: { LC_ALL: 'C.UTF-8' } });
  const get = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(stdout)?.[1]);
  return { blocks: get('Block count'), free: get('Free blocks'), inodes: get('Inode count'), freeInodes: get('Free inodes') };
}

function generated(name: string): TestTree {
  const entries: RootfsEntry[] = [e('', 'dir', { mode: 0o755 })];
  const contents = new Map<string, Buffer>();
  const file = (path: string, size: number, extra: Partial<RootfsEntry> = {}) => {
    // Non-zero bytes: mke2fs leaves all-zero blocks as holes, which would hide an underestimate.
    contents.set(path, Buffer.alloc(size, (path.length % 250) + 1));
    entries.push(e(path, 'file', { size, ...extra }));
  };
  let seed = 7;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  switch (name) {
    case 'many small files':
      for (let d = 0; d < 40; d++) {
        entries.push(e(`d${d}`, 'dir', { mode: 0o755 }));
        for (let f = 0; f < 100; f++) file(`d${d}/file-${f}.txt`, random(9000));
      }
      break;
    case 'a few large files':
      file('big-a', 40 * MiB);
      file('big-b', 140 * MiB);
      file('small', 10);
      break;
    case 'deep directories': {
      let path = '';
      for (let depth = 0; depth < 150; depth++) {
        path = path ? `${path}/level-${depth}` : `level-${depth}`;
        entries.push(e(path, 'dir', { mode: 0o755 }));
        for (let f = 0; f < 20; f++) file(`${path}/f${f}`, 1000 + random(8000));
      }
      break;
    }
    case 'a 5,000-entry directory':
      entries.push(e('wide', 'dir', { mode: 0o755 }));
      for (let i = 0; i < 5000; i++) file(`wide/a-fairly-long-file-name-number-${String(i).padStart(5, '0')}.conf`, random(3000));
      break;
    case 'long symlinks and xattrs':
      entries.push(e('links', 'dir', { mode: 0o755 }));
      for (let i = 0; i < 2000; i++) {
        entries.push(e(`links/l${i}`, 'symlink', { mode: 0o777, linkTarget: `/usr/lib/${'x'.repeat(100 + random(100))}/${i}` }));
      }
      for (let i = 0; i < 1000; i++) file(`links/x${i}`, 100, { xattrs: { 'user.note': Buffer.from('v'.repeat(200 + random(200))) } });
      break;
    default:
      throw new Error(name);
  }
  return { entries, contents };
}

describe('the estimate against real images built with zero headroom', () => {
  let dir: string;
  let tarStdin = false;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rootforge-size-'));
    tarStdin = (await detectE2fsprogs()).tarStdin;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const shapes = ['many small files', 'a few large files', 'deep directories', 'a 5,000-entry directory', 'long symlinks and xattrs'];
  const cases = [...shapes.map((name) => ['tar', name] as const), ['dir', 'many small files'] as const, ['dir', 'a 5,000-entry directory'] as const];
  it.for(cases)('%s, %s: mkfs succeeds and the image is not wildly oversized', async ([populate, name], ctx) => {
    if (populate === 'tar' && !tarStdin) ctx.skip();
    const tree = generated(name);
    // No 64 MiB floor here, so small trees show how tight the estimate is.
    const size = computeImageSize(tree.entries, { headroomPercent: 0, minBytes: 0 });
    const image = join(dir, 'image.ext4');
    const staging = join(dir, 'staging');
    let modes = new Map<string, number>();
    if (populate === 'tar') {
      await mkfsFromTar(image, size, treeTar(tree));
    } else {
      modes = await stageTree(tree, staging);
      await mkfsFromDir(image, size, staging);
    }
    // The xattrs and owners the populate path drops go in with debugfs, and xattrs take blocks too.
    const ids = { runnerUid: process.getuid?.() ?? 0, runnerGid: process.getgid?.() ?? 0 };
    const plan = fixupOps(tree.entries, populate, { modes, ...ids, tempDir: join(dir, 'values') });
    await writeValueFiles(plan.valueFiles);
    await runDebugfs(image, buildDebugfsScript(plan.ops));
    await e2fsckClean(image);
    const sb = await superblock(image);
    const freeRatio = sb.free / sb.blocks;
    const usedInodes = sb.inodes - sb.freeInodes;
    console.log(`${populate}, ${name}: ${(size.bytes / MiB).toFixed(1)} MiB, ${sb.blocks - sb.free} of ${sb.blocks} blocks used (${(freeRatio * 100).toFixed(1)}% free), ${usedInodes} of ${sb.inodes} inodes used`);
    expect(sb.blocks * 4096).toBe(size.bytes);
    expect(freeRatio).toBeLessThan(0.1);
    expect(usedInodes).toBeLessThanOrEqual(sb.inodes);
    await rm(image);
    await rm(staging, { recursive: true, force: true });
  });
});
