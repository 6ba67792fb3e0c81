import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RootforgeError } from '../../src/errors.js';
import { mkfsArgs } from '../../src/ext4/mkfs-args.js';
import { mkfsFromDir, mkfsFromTar } from '../../src/ext4/mkfs.js';
import { toolError, trimOutput } from '../../src/ext4/tool-error.js';
import { detectE2fsprogs, findTool } from '../../src/ext4/tools.js';
import { readExt4Tree } from '../helpers/ext4-read.js';
import { sampleTree, treeTar } from './tree.js';

const MiB = 1024 * 1024;

describe('mkfsArgs', () => {
  it('builds the argument list, with the size in KiB and identity options', () => {
    expect(mkfsArgs('/out/x.ext4', { bytes: 100 * MiB, inodes: 5000 }, '-', { uuid: '11111111-2222-3333-4444-555555555555', hashSeed: '66666666-7777-8888-9999-000000000000', label: 'root' })).toEqual([
      '-F', '-q', '-t', 'ext4', '-T', 'default', '-b', '4096', '-I', '256', '-N', '5000',
      '-U', '11111111-2222-3333-4444-555555555555',
      '-L', 'root',
      '-E', 'root_owner=0:0,hash_seed=66666666-7777-8888-9999-000000000000',
      '-d', '-', '/out/x.ext4', '102400k',
    ]);
  });

  it('refuses bad identities and sizes', () => {
    expect(() => mkfsArgs('/x', { bytes: 100 * MiB, inodes: 10 }, '-', { uuid: 'nope' })).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    expect(() => mkfsArgs('/x', { bytes: 100 * MiB, inodes: 10 }, '-', { label: 'x'.repeat(17) })).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
    expect(() => mkfsArgs('/x', { bytes: 100 * MiB + 1, inodes: 10 }, '-')).toThrow(expect.objectContaining({ code: 'ERR_INTERNAL' }));
  });
});

describe('toolError', () => {
  it.each([
    ['__populate_fs: No space left on device while writing file "big"', 'ERR_NO_SPACE'],
    ['handle_entry: Could not allocate block in ext2 filesystem while writing file "big"', 'ERR_IMAGE_TOO_SMALL'],
    ['__populate_fs: Could not allocate inode in ext2 filesystem while writing file "146"', 'ERR_IMAGE_TOO_SMALL'],
    ['__populate_fs_from_tar: you need libarchive to be able to process tarballs', 'ERR_TOOL_MISSING'],
    ['mkfs.ext4: Bad magic number', 'ERR_TOOL_FAILED'],
  ])('%s -> %s', (output, code) => {
    expect(toolError({ tool: 'mkfs.ext4', exitCode: 1, output }).code).toBe(code);
  });

  it('keeps the tail of long output', () => {
    const text = trimOutput(`${'x'.repeat(10_000)}END`);
    expect(text.length).toBeLessThan(4100);
    expect(text.endsWith('END')).toBe(true);
  });
});

describe('mkfs runs', () => {
  let dir: string;
  let tarStdin = false;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rootforge-mkfs-'));
    tarStdin = (await detectE2fsprogs()).tarStdin;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const identity = { uuid: '0b5e5a1e-0000-4000-8000-000000000001', hashSeed: '0b5e5a1e-0000-4000-8000-000000000002', env: { SOURCE_DATE_EPOCH: '1700000000' } };

  it('gives byte-identical images for the same tar, UUID, hash seed and SOURCE_DATE_EPOCH', async (ctx) => {
    if (!tarStdin) ctx.skip();
    const a = join(dir, 'a.ext4');
    const b = join(dir, 'b.ext4');
    await mkfsFromTar(a, { bytes: 64 * MiB, inodes: 4096 }, treeTar(sampleTree()), identity);
    await mkfsFromTar(b, { bytes: 64 * MiB, inodes: 4096 }, treeTar(sampleTree()), identity);
    expect((await readFile(a)).equals(await readFile(b))).toBe(true);
  });

  it('makes a sparse file of exactly the size, with rootforge\'s own feature set whatever MKE2FS_CONFIG says', async () => {
    const image = join(dir, 'sparse.ext4');
    await mkdir(join(dir, 'empty'), { recursive: true });
    await mkfsFromDir(image, { bytes: 1024 * MiB, inodes: 1000 }, join(dir, 'empty'), { env: { MKE2FS_CONFIG: '/dev/null' } });
    const st = await stat(image);
    expect(st.size).toBe(1024 * MiB);
    expect(st.blocks * 512).toBeLessThan(200 * MiB);
    const { stdout } = await execa((await findTool(['dumpe2fs'])) as string, ['-h', image]);
    const features = /Filesystem features:\s+(.*)/.exec(stdout)?.[1]?.split(' ') ?? [];
    expect(features).toEqual(expect.arrayContaining(['has_journal', 'extent', '64bit', 'flex_bg', 'metadata_csum', 'dir_index', 'ext_attr']));
    expect(features).not.toContain('orphan_file');
    expect(stdout).toMatch(/Inode size:\s+256/);
    expect(stdout).toMatch(/Block size:\s+4096/);
    expect((await readExt4Tree(image)).get('')).toMatchObject({ uid: 0, gid: 0, mode: 0o755 });
  });

  it('reports an image too small for its content as ERR_IMAGE_TOO_SMALL', async (ctx) => {
    if (!tarStdin) ctx.skip();
    const tree = { entries: [{ path: 'big', type: 'file' as const, mode: 0o644, uid: 0, gid: 0, mtime: 0, size: 40 * MiB }], contents: new Map([['big', Buffer.alloc(40 * MiB, 1)]]) };
    await expect(mkfsFromTar(join(dir, 'small.ext4'), { bytes: 32 * MiB, inodes: 1000 }, treeTar(tree))).rejects.toMatchObject({ code: 'ERR_IMAGE_TOO_SMALL' });
  });

  it('reports the tar source\'s own error when it fails mid-stream', async () => {
    const source = new Readable({
      read() {
        this.destroy(new RootforgeError('ERR_BAD_LAYER', 'layer sha256:abc is truncated'));
      },
    });
    await expect(mkfsFromTar(join(dir, 'broken.ext4'), { bytes: 64 * MiB, inodes: 1000 }, source)).rejects.toMatchObject({ code: 'ERR_BAD_LAYER', message: 'layer sha256:abc is truncated' });
  });

  it('stops mkfs when aborted', async () => {
    const never = new Readable({ read() {} });
    const started = Date.now();
    await expect(mkfsFromTar(join(dir, 'aborted.ext4'), { bytes: 64 * MiB, inodes: 1000 }, never, { signal: AbortSignal.timeout(300) })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('fails with ERR_TOOL_FAILED and mkfs\'s output for a staging directory that is not there', async () => {
    await expect(mkfsFromDir(join(dir, 'x.ext4'), { bytes: 64 * MiB, inodes: 1000 }, join(dir, 'missing'))).rejects.toMatchObject({
      code: 'ERR_TOOL_FAILED',
      message: expect.stringMatching(/^mkfs\.ext4 exited with 1: populate_fs2: No such file or directory/),
    });
  });
});
