import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { scanLayer } from '../../src/layer/layer-index.js';
import { MERGED_TAR_CHUNK, mergedTarChunks, mergedTarStream } from '../../src/layer/merged-tar.js';
import { writeMergedTarFile } from '../../src/layer/merged-tar-file.js';
import { planRootfs, type RootfsPlan } from '../../src/layer/plan.js';
import type { TarSpec } from '../helpers/tar.js';
import { debugfs, e2fsck, inodeStat, mkfsFromTar } from './e2fs.js';
import { failure, layersOf, planOf, scratch } from './support.js';

const CAP = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
const LONG_DIR = `usr/share/${'ü'.repeat(60)}`;
const LONG_TARGET = `../${'target-'.repeat(30)}end`;

interface ReadBack {
  name: string;
  kind: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname?: string;
  devMajor?: number;
  devMinor?: number;
  xattrs?: Record<string, Buffer>;
  content: string;
}

async function writeMerged(plan: RootfsPlan): Promise<string> {
  const path = join(await scratch(), 'merged.tar');
  await pipeline(mergedTarStream(plan), createWriteStream(path));
  return path;
}

async function readBack(path: string): Promise<ReadBack[]> {
  const out: ReadBack[] = [];
  const tar = await readFile(path);
  // tar-stream's headers, and each content at the offset tar-stream reports.
  for (const { meta, offset } of (await scanLayer({ path, diffId: 'merged' }, 0)).entries) {
    const rec: ReadBack = { name: meta.name, kind: meta.kind, mode: meta.mode, uid: meta.uid, gid: meta.gid, mtime: meta.mtime, content: tar.subarray(offset, offset + meta.size).toString() };
    if (meta.linkname !== undefined) rec.linkname = meta.linkname;
    if (meta.devMajor !== undefined) rec.devMajor = meta.devMajor;
    if (meta.devMinor !== undefined) rec.devMinor = meta.devMinor;
    if (meta.xattrs) rec.xattrs = meta.xattrs;
    out.push(rec);
  }
  return out;
}

const LAYERS: TarSpec[][] = [
  [
    { name: './', type: 'directory', mode: 0o751, uid: 0, gid: 0, mtime: 1_600_000_000 },
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n' },
    { name: 'etc/shadow', content: 'root:*:1::::::\n', mode: 0o000 },
    { name: 'bin/ping', content: 'ELF-ping', mode: 0o755, rawPax: [['SCHILY.xattr.security.capability', CAP], ['SCHILY.xattr.user.origin', Buffer.from('layer0')]] },
    { name: 'bin/su', content: 'ELF-su', mode: 0o4755 },
    { name: 'bin/old', content: 'OLD CONTENT' },
    { name: 'bin/keeper', type: 'link', linkname: 'bin/old' },
    { name: 'bin/a', content: 'shared', mode: 0o750, uid: 12, gid: 34 },
    { name: 'bin/b', type: 'link', linkname: 'bin/a' },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 16, mode: 0o660, gid: 6 },
    { name: 'run/initctl', type: 'fifo', mode: 0o600 },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
    { name: 'usr/lib/libc.so', content: 'libc' },
    { name: 'home/user/file', content: 'mine', uid: 100000, gid: 100000 },
    { name: 'home/big', content: 'big', pax: { uid: '5000000', gid: '5000001' } },
    { name: `${LONG_DIR}/${'n'.repeat(90)}.txt`, content: 'long name' },
    { name: 'garbage.txt', content: 'to be whited out' },
  ],
  [
    { name: 'lib', type: 'symlink', linkname: 'usr/lib' },
    { name: 'far', type: 'symlink', linkname: LONG_TARGET },
    { name: 'bin/old', content: 'NEW' },
    { name: '.wh.garbage.txt', content: '' },
    { name: 'bin/c', type: 'link', linkname: 'bin/a' },
    { name: 'dev/null2', type: 'link', linkname: 'dev/null' },
    { name: 'lib2', type: 'link', linkname: 'lib' },
  ],
];

describe('mergedTarStream', () => {
  it('emits directories first, parent-first, then nodes, then files with their hardlinks', async () => {
    const plan = await planOf(LAYERS);
    const back = await readBack(await writeMerged(plan));
    const names = back.map((e) => e.name);
    expect(names.slice(0, 12)).toEqual(['./', 'bin/', 'dev/', 'etc/', 'home/', 'home/user/', 'run/', 'tmp/', 'usr/', 'usr/lib/', 'usr/share/', `${LONG_DIR}/`]);
    expect(names.slice(12, 19)).toEqual(['dev/null', 'dev/null2', 'dev/sda', 'far', 'lib', 'lib2', 'run/initctl']);
    expect(names.slice(19)).toEqual([
      'etc/passwd',
      'etc/shadow',
      'bin/ping',
      'bin/su',
      'bin/keeper',
      'bin/a',
      'bin/b',
      'bin/c',
      'usr/lib/libc.so',
      'home/user/file',
      'home/big',
      `${LONG_DIR}/${'n'.repeat(90)}.txt`,
      'bin/old',
    ]);
    for (const name of names) {
      expect(name.startsWith('/')).toBe(false);
      expect(name.split('/')).not.toContain('..');
    }
  });

  it('carries metadata, contents, links, devices and binary xattrs', async () => {
    const back = new Map((await readBack(await writeMerged(await planOf(LAYERS)))).map((e) => [e.name, e]));
    expect(back.get('./')).toMatchObject({ kind: 'dir', mode: 0o751, mtime: 1_600_000_000 });
    expect(back.get('tmp/')).toMatchObject({ kind: 'dir', mode: 0o1777 });
    expect(back.get('bin/su')).toMatchObject({ kind: 'file', mode: 0o4755, content: 'ELF-su' });
    expect(back.get('etc/shadow')).toMatchObject({ mode: 0o000, content: 'root:*:1::::::\n' });
    expect(back.get('bin/keeper')).toMatchObject({ kind: 'file', content: 'OLD CONTENT' });
    expect(back.get('bin/old')).toMatchObject({ kind: 'file', content: 'NEW' });
    expect(back.get('bin/b')).toMatchObject({ kind: 'hardlink', linkname: 'bin/a', mode: 0o750, uid: 12, gid: 34, content: '' });
    expect(back.get('bin/c')).toMatchObject({ kind: 'hardlink', linkname: 'bin/a' });
    expect(back.get('dev/null')).toMatchObject({ kind: 'char', devMajor: 1, devMinor: 3, mode: 0o666 });
    expect(back.get('dev/null2')).toMatchObject({ kind: 'hardlink', linkname: 'dev/null' });
    expect(back.get('dev/sda')).toMatchObject({ kind: 'block', devMajor: 8, devMinor: 16, gid: 6 });
    expect(back.get('run/initctl')).toMatchObject({ kind: 'fifo', mode: 0o600 });
    expect(back.get('lib')).toMatchObject({ kind: 'symlink', linkname: 'usr/lib' });
    expect(back.get('far')).toMatchObject({ kind: 'symlink', linkname: LONG_TARGET });
    expect(back.get('home/user/file')).toMatchObject({ uid: 100000, gid: 100000, content: 'mine' });
    expect(back.get('home/big')).toMatchObject({ uid: 5000000, gid: 5000001 });
    expect(back.get(`${LONG_DIR}/${'n'.repeat(90)}.txt`)).toMatchObject({ content: 'long name' });
    expect(back.get('bin/ping')!.xattrs).toEqual({ 'security.capability': CAP, 'user.origin': Buffer.from('layer0') });
    expect(back.has('garbage.txt')).toBe(false);
  });

  it('gives the same bytes for the same plan', async () => {
    const plan = await planOf(LAYERS);
    const collect = async (): Promise<Buffer> => {
      const chunks: Buffer[] = [];
      for await (const chunk of mergedTarStream(plan)) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };
    expect((await collect()).equals(await collect())).toBe(true);
  });

  it('is a tar GNU tar lists', async () => {
    const path = await writeMerged(await planOf(LAYERS));
    const r = spawnSync('tar', ['--numeric-owner', '-tvf', path], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('100000/100000');
    expect(r.stdout).toContain('5000000/5000001');
    expect(r.stdout).toContain(`far -> ${LONG_TARGET}`);
    expect(r.stdout).toContain('bin/b link to bin/a');
  });

  it('builds an ext4 with mkfs.ext4 -d - that e2fsck accepts', async () => {
    const plan = await planOf(LAYERS);
    const image = join(await scratch(), 'root.img');
    const made = await mkfsFromTar(image, mergedTarStream(plan));
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);

    const root = inodeStat(image, '/');
    expect(root).toMatchObject({ type: 'directory', mode: 0o751, uid: 0, mtime: 1_600_000_000 });
    expect(inodeStat(image, '/tmp')).toMatchObject({ type: 'directory', mode: 0o1777 });
    expect(inodeStat(image, '/bin/su')).toMatchObject({ type: 'regular', mode: 0o4755 });
    expect(inodeStat(image, '/etc/shadow')).toMatchObject({ type: 'regular', mode: 0o000 });
    expect(inodeStat(image, '/home/user/file')).toMatchObject({ uid: 100000, gid: 100000 });
    expect(inodeStat(image, '/home/big')).toMatchObject({ uid: 5000000, gid: 5000001 });
    expect(inodeStat(image, '/bin/a')).toMatchObject({ links: 3, mode: 0o750, uid: 12, gid: 34, size: 6 });
    expect(inodeStat(image, '/bin/keeper')).toMatchObject({ links: 1, size: 11 });
    const dev = inodeStat(image, '/dev/null');
    expect(dev).toMatchObject({ type: 'character special', mode: 0o666, links: 2 });
    expect(dev.text).toMatch(/Device major\/minor number: 01:03/);
    expect(inodeStat(image, '/dev/sda').text).toMatch(/Device major\/minor number: 08:16/);
    expect(inodeStat(image, '/run/initctl').type).toBe('FIFO');
    expect(inodeStat(image, '/lib').text).toContain('Fast link dest: "usr/lib"');
    expect(inodeStat(image, '/lib2')).toMatchObject({ type: 'symlink', links: 2 });
    expect(debugfs(image, 'cat /bin/keeper')).toBe('OLD CONTENT');
    expect(debugfs(image, 'cat /bin/old')).toBe('NEW');
    expect(debugfs(image, `cat "/${LONG_DIR}/${'n'.repeat(90)}.txt"`)).toBe('long name');
    // mke2fs copies only security.capability (and gnu.translator) from a tar; the bytes must be exact.
    expect(debugfs(image, 'ea_list /bin/ping')).toContain('security.capability (20) = 01 00 00 02 00 20 00 00 00 00 00 00 80 ff 00 00 00 00 00 00');

    const fsck = e2fsck(image);
    expect(fsck.output).not.toContain('UNEXPECTED');
    expect(fsck.code).toBe(0);
  });

  it('streams a large file through with backpressure', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024 + 123, 7);
    const plan = await planOf([[{ name: 'big.bin', content: big }]]);
    let total = 0;
    const slow = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _enc, cb) {
        total += chunk.length;
        setImmediate(cb);
      },
    });
    await pipeline(mergedTarStream(plan), slow);
    expect(total).toBe(512 * 2 + big.length + (512 - (big.length % 512)) + 1024);
  });

  it('fails with ERR_ABORTED when aborted midway', async () => {
    const plan = await planOf([[{ name: 'big.bin', content: Buffer.alloc(4 * 1024 * 1024) }]]);
    const controller = new AbortController();
    const stream = mergedTarStream(plan, { signal: controller.signal });
    let seen = 0;
    const err = await failure(
      pipeline(
        stream,
        new Writable({
          write(chunk: Buffer, _enc, cb) {
            seen += chunk.length;
            if (seen > 1024 * 1024) controller.abort();
            cb();
          },
        }),
      ),
    );
    expect(err.code).toBe('ERR_ABORTED');
  });

  it.each([
    ['a file of another size in its place', [{ name: 'b', content: 'three' }]],
    ['offsets that no longer land on its header', [{ name: 'pad', content: 'x'.repeat(700) }, { name: 'a', content: 'one' }]],
  ])('fails when a layer changed since planning: %s', async (_why, replacement) => {
    const layers = await layersOf([{ name: 'a', content: 'one' }]);
    const plan = await planRootfs(layers);
    const { writeLayers } = await import('../helpers/tar.js');
    const [changed] = await writeLayers(await scratch(), [replacement]);
    const { copyFile } = await import('node:fs/promises');
    await copyFile(changed!.path, layers[0]!.path);
    const err = await failure(pipeline(mergedTarStream(plan), new Writable({ write: (_c, _e, cb) => cb() })));
    expect(err.code).toBe('ERR_BAD_LAYER');
    expect(err.message).toContain('changed since it was indexed');
  });

  it('propagates a missing layer file as an error', async () => {
    const layers = await layersOf([{ name: 'a', content: 'one' }]);
    const plan = await planRootfs(layers);
    const { rm } = await import('node:fs/promises');
    await rm(layers[0]!.path);
    const err = await failure(pipeline(mergedTarStream(plan), new Writable({ write: (_c, _e, cb) => cb() })));
    expect(err.code).toBe('ERR_CACHE');
    expect(err.blob).toBe(layers[0]!.diffId);
  });

  it('ends cleanly for an empty image', async () => {
    const plan = await planRootfs([]);
    const chunks: Buffer[] = [];
    for await (const chunk of Readable.from(mergedTarStream(plan))) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).length).toBe(512 + 1024);
  });
});

describe('writeMergedTarFile', () => {
  it('writes the bytes the stream gives, through reused chunk and window buffers', async () => {
    // Random contents of many sizes, so a buffer overwritten before it is written shows as changed bytes.
    const bytes = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 131 + seed * 7919) % 251));
    const sizes = [0, 1, 511, 512, 513, 70_000, 1 << 20, (1 << 20) + 1, 3_500_000, 65_536, 200_000];
    const lower: TarSpec[] = sizes.map((n, i) => ({ name: `big/f${i}`, content: bytes(n, i) }));
    for (let i = 0; i < 400; i++) lower.push({ name: `small/s${i}`, content: bytes(1 + ((i * 977) % 9000), i + 100) });
    const upper: TarSpec[] = [{ name: 'big/f6', content: bytes(2_222_222, 999) }, { name: 'small/s7', content: 'replaced' }];
    const plan = await planOf([lower, upper]);
    const path = join(await scratch(), 'merged-file.tar');
    await writeMergedTarFile(plan, path);
    const fromStream = await readFile(await writeMerged(plan));
    const fromFile = await readFile(path);
    expect(fromFile.length).toBe(fromStream.length);
    expect(fromFile.equals(fromStream)).toBe(true);
    const back = new Map((await readBack(path)).map((r) => [r.name, r]));
    expect(back.get('big/f6')!.content).toBe(bytes(2_222_222, 999).toString());
    expect(back.get('big/f8')!.content).toBe(bytes(3_500_000, 8).toString());
    expect(back.get('small/s7')!.content).toBe('replaced');
  });

  it('keeps each ring chunk intact until the consumer asks for the one after next', async () => {
    const bytes = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 131 + seed * 7919) % 251));
    const plan = await planOf([[{ name: 'a', content: bytes(3_000_000, 1) }, { name: 'b', content: bytes(1_500_000, 2) }]]);
    const expected = await readFile(await writeMerged(plan));
    // Each chunk is copied only when the next one arrives, as a write still in flight would read it.
    const consume = async (ring: Buffer[]): Promise<Buffer> => {
      const copies: Buffer[] = [];
      let held: Buffer | undefined;
      for await (const chunk of mergedTarChunks(plan, { ring })) {
        if (held) copies.push(Buffer.from(held));
        held = chunk;
      }
      if (held) copies.push(Buffer.from(held));
      return Buffer.concat(copies);
    };
    const ring = (): Buffer[] => [Buffer.alloc(MERGED_TAR_CHUNK), Buffer.alloc(MERGED_TAR_CHUNK), Buffer.alloc(MERGED_TAR_CHUNK)];
    expect((await consume(ring())).equals(expected)).toBe(true);
    expect((await failure(consume(ring().slice(0, 2)))).code).toBe('ERR_INTERNAL');
  });

  it('refuses to overwrite a file and stops on abort', async () => {
    const plan = await planOf(LAYERS);
    const path = join(await scratch(), 'taken.tar');
    await writeMergedTarFile(plan, path);
    expect((await failure(writeMergedTarFile(plan, path))).code).toBe('EEXIST');
    const controller = new AbortController();
    controller.abort();
    expect((await failure(writeMergedTarFile(plan, join(await scratch(), 'aborted.tar'), { signal: controller.signal }))).code).toBe('ERR_ABORTED');
  });
});
