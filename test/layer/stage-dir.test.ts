import { lstat, mkdir, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planRootfs } from '../../src/layer/plan.js';
import { materializeTree } from '../../src/layer/stage-dir.js';
import type { TarSpec } from '../helpers/tar.js';
import { debugfs, e2fsck, inodeStat, mkfsFromDir } from './e2fs.js';
import { failure, layersOf, planOf, scratch } from './support.js';

const LAYERS: TarSpec[][] = [
  [
    { name: './', type: 'directory', mode: 0o755, mtime: 1_500_000_000 },
    { name: 'etc/', type: 'directory', mode: 0o755, mtime: 1_500_000_001 },
    { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n', mode: 0o644, mtime: 1_500_000_002 },
    { name: 'etc/shadow', content: 'root:*:1::::::\n', mode: 0o000 },
    { name: 'bin/su', content: 'ELF-su', mode: 0o4755 },
    { name: 'bin/wall', content: 'ELF-wall', mode: 0o2755 },
    { name: 'bin/a', content: 'shared', mode: 0o750 },
    { name: 'bin/b', type: 'link', linkname: 'bin/a' },
    { name: 'ro/', type: 'directory', mode: 0o555, mtime: 1_500_000_003 },
    { name: 'ro/file', content: 'in a read-only dir', mode: 0o444 },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'run/initctl', type: 'fifo', mode: 0o600 },
    { name: 'usr/lib/libc.so', content: 'libc' },
  ],
  [
    { name: 'lib', type: 'symlink', linkname: 'usr/lib', mtime: 1_500_000_004 },
    { name: 'abs', type: 'symlink', linkname: '/etc/passwd' },
    { name: 'dev/null2', type: 'link', linkname: 'dev/null' },
    { name: 'lib2', type: 'link', linkname: 'lib' },
  ],
];

async function staging(): Promise<string> {
  const dir = join(await scratch(), 'rootfs');
  await mkdir(dir);
  return dir;
}

describe('materializeTree', () => {
  it('writes files, directories, hardlinks and symlinks; leaves out devices and fifos', async () => {
    const plan = await planOf(LAYERS);
    const dir = await staging();
    const staged = await materializeTree(plan, dir);

    expect(await readFile(join(dir, 'etc/passwd'), 'utf8')).toBe('root:x:0:0::/root:/bin/sh\n');
    expect(await readFile(join(dir, 'etc/shadow'), 'utf8')).toBe('root:*:1::::::\n');
    expect(await readFile(join(dir, 'ro/file'), 'utf8')).toBe('in a read-only dir');
    const a = await stat(join(dir, 'bin/a'));
    const b = await stat(join(dir, 'bin/b'));
    expect(b.ino).toBe(a.ino);
    expect(a.nlink).toBe(2);
    expect(await readlink(join(dir, 'lib'))).toBe('usr/lib');
    expect(await readlink(join(dir, 'abs'))).toBe('/etc/passwd');
    const lib2 = await lstat(join(dir, 'lib2'));
    expect(lib2.isSymbolicLink()).toBe(true);
    expect(lib2.ino).toBe((await lstat(join(dir, 'lib'))).ino);

    expect(staged.special.map((e) => e.path)).toEqual(['dev/null', 'dev/null2', 'run/initctl']);
    expect(staged.special[1]).toMatchObject({ hardlinkTo: 'dev/null', type: 'char' });
    await expect(lstat(join(dir, 'dev/null'))).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(lstat(join(dir, 'run/initctl'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await lstat(join(dir, 'dev'))).isDirectory()).toBe(true);
  });

  it('sets real modes where the runner keeps access and lists the rest', async () => {
    const plan = await planOf(LAYERS);
    const dir = await staging();
    const staged = await materializeTree(plan, dir);
    const mode = async (p: string): Promise<number> => (await lstat(join(dir, p))).mode & 0o7777;

    expect(await mode('etc/passwd')).toBe(0o644);
    expect(await mode('bin/a')).toBe(0o750);
    expect(await mode('tmp')).toBe(0o1777);
    expect(await mode('ro/file')).toBe(0o444);
    expect(await mode('etc/shadow')).toBe(0o400);
    expect(await mode('bin/su')).toBe(0o755);
    expect(await mode('bin/wall')).toBe(0o755);
    expect(await mode('ro')).toBe(0o755);
    expect(staged.stagedModes).toEqual(
      new Map([
        ['ro', 0o755],
        ['etc/shadow', 0o400],
        ['bin/wall', 0o755],
        ['bin/su', 0o755],
      ]),
    );
  });

  it('sets mtimes on files, directories and symlinks', async () => {
    const plan = await planOf(LAYERS);
    const dir = await staging();
    await materializeTree(plan, dir);
    const mtime = async (p: string): Promise<number> => Math.floor((await lstat(join(dir, p))).mtimeMs / 1000);
    expect(await mtime('')).toBe(1_500_000_000);
    expect(await mtime('etc')).toBe(1_500_000_001);
    expect(await mtime('etc/passwd')).toBe(1_500_000_002);
    expect(await mtime('ro')).toBe(1_500_000_003);
    expect(await mtime('lib')).toBe(1_500_000_004);
  });

  it('sets no xattrs of its own in staging', async () => {
    const plan = await planOf([[{ name: 'f', content: 'x', pax: { 'SCHILY.xattr.user.k': 'v' } }]]);
    const dir = await staging();
    await materializeTree(plan, dir);
    const image = join(await scratch(), 'root.img');
    const made = mkfsFromDir(image, dir);
    expect(made.code).toBe(0);
    expect(debugfs(image, 'ea_list /f')).not.toContain('user.');
  });

  it('gives mkfs.ext4 -d a tree it can read, as whichever user runs it', async () => {
    const plan = await planOf(LAYERS);
    const dir = await staging();
    await materializeTree(plan, dir);
    const image = join(await scratch(), 'root.img');
    const made = mkfsFromDir(image, dir);
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    expect(debugfs(image, 'cat /etc/shadow')).toBe('root:*:1::::::\n');
    expect(inodeStat(image, '/bin/a').links).toBe(2);
    expect(inodeStat(image, '/lib').text).toContain('Fast link dest: "usr/lib"');
    expect(e2fsck(image).code).toBe(0);
  });

  it('streams large files', async () => {
    const big = Buffer.alloc(6 * 1024 * 1024 + 7);
    for (let i = 0; i < big.length; i += 4096) big[i] = i % 251;
    const plan = await planOf([[{ name: 'big.bin', content: big }]]);
    const dir = await staging();
    await materializeTree(plan, dir);
    expect((await readFile(join(dir, 'big.bin'))).equals(big)).toBe(true);
  });

  it('refuses a staging directory that is not empty', async () => {
    const plan = await planOf([[{ name: 'a', content: '' }]]);
    const dir = await staging();
    await writeFile(join(dir, 'junk'), '');
    const err = await failure(materializeTree(plan, dir));
    expect(err.code).toBe('ERR_INTERNAL');
    expect(err.message).toContain('not empty');
  });

  it('stops with ERR_ABORTED', async () => {
    const plan = await planOf(LAYERS);
    const controller = new AbortController();
    controller.abort();
    const err = await failure(materializeTree(plan, await staging(), { signal: controller.signal }));
    expect(err.code).toBe('ERR_ABORTED');
  });
});

describe('materializeTree: containment', () => {
  async function setup(): Promise<{ top: string; stage: string; outside: string; before: string[] }> {
    const top = await scratch();
    const outside = join(top, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'victim'), 'safe');
    const stage = join(top, 'stage');
    await mkdir(stage);
    return { top, stage, outside, before: await listing(top) };
  }

  /** Everything under dir except the staging root, with size and mtime; never follows symlinks (Node 20's recursive readdir does). */
  async function listing(dir: string, prefix = ''): Promise<string[]> {
    const out: string[] = [];
    for (const d of await readdir(join(dir, prefix), { withFileTypes: true })) {
      const rel = prefix ? `${prefix}/${d.name}` : d.name;
      if (rel === 'stage') continue;
      const info = await lstat(join(dir, rel));
      out.push(`${rel} ${info.size} ${info.mtimeMs}`);
      if (d.isDirectory()) out.push(...(await listing(dir, rel)));
    }
    return out.sort();
  }

  it('keeps escaping symlinks as links and writes nothing outside the staging root', async () => {
    const { top, stage, outside, before } = await setup();
    const plan = await planOf([
      [
        { name: 'escape', type: 'symlink', linkname: '../outside' },
        { name: 'abs', type: 'symlink', linkname: outside },
        { name: 'victim', type: 'symlink', linkname: '../outside/victim' },
        { name: 'dir/up', type: 'symlink', linkname: '../../..' },
        { name: 'dir/file', content: 'inside' },
      ],
      [{ name: 'victim2', type: 'link', linkname: 'victim' }, { name: 'escape/../owned', content: 'lexically inside' }],
    ]);
    await materializeTree(plan, stage);
    expect(await listing(top)).toEqual(before);
    expect(await readFile(join(outside, 'victim'), 'utf8')).toBe('safe');
    expect((await lstat(join(stage, 'escape'))).isSymbolicLink()).toBe(true);
    expect((await lstat(join(stage, 'victim2'))).isSymbolicLink()).toBe(true);
    expect(await readFile(join(stage, 'owned'), 'utf8')).toBe('lexically inside');
    expect((await readdir(stage)).sort()).toEqual(['abs', 'dir', 'escape', 'owned', 'victim', 'victim2']);
  });

  it('a layer writing through a planted symlink is refused before anything is written', async () => {
    const { top, stage, before } = await setup();
    const layers = await layersOf([{ name: 'escape', type: 'symlink', linkname: '../outside' }], [{ name: 'escape/victim', content: 'pwned' }, { name: 'escape/new', content: 'pwned' }]);
    const err = await failure(planRootfs(layers).then((plan) => materializeTree(plan, stage)));
    expect(err.code).toBe('ERR_UNSAFE_PATH');
    expect(await listing(top)).toEqual(before);
    expect(await readdir(stage)).toEqual([]);
    expect(await readFile(join(top, 'outside', 'victim'), 'utf8')).toBe('safe');
  });

  it('a hardlink to a file outside the root is refused', async () => {
    const { top, stage, before } = await setup();
    const err = await failure(planOf([[{ name: 'l', type: 'link', linkname: '../outside/victim' }]]).then((plan) => materializeTree(plan, stage)));
    expect(err.code).toBe('ERR_UNSAFE_PATH');
    expect(await listing(top)).toEqual(before);
  });
});
