import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { planRootfs } from '../../src/layer/plan.js';
import { MTIME } from '../helpers/tar.js';
import { byPath, failure, layersOf, paths, planOf, scratch } from './support.js';

const CAP = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00]);

describe('planRootfs: basics', () => {
  it('lists the root first with its metadata from "./"', async () => {
    const plan = await planOf([[{ name: './', type: 'directory', mode: 0o700, uid: 3, gid: 4, mtime: 42 }, { name: './etc/', type: 'directory' }]]);
    const root = plan.entries()[0]!;
    expect(root).toEqual({ path: '', type: 'dir', mode: 0o700, uid: 3, gid: 4, mtime: 42, size: 0 });
    expect(paths(plan)).toEqual(['', 'etc']);
  });

  it('gives an unnamed root 0755 root:root and mtime 0', async () => {
    const plan = await planOf([[{ name: 'a', content: 'x' }]]);
    expect(plan.entries()[0]).toEqual({ path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 });
  });

  it('strips leading slashes and ./ from names', async () => {
    const plan = await planOf([[{ name: '/etc/', type: 'directory' }, { name: '//etc/./passwd', content: 'root' }, { name: './usr/bin/../lib/x', content: '' }]]);
    expect(paths(plan)).toEqual(['', 'etc', 'etc/passwd', 'usr', 'usr/lib', 'usr/lib/x']);
  });

  it('creates missing parents as 0755 root:root with the mtime of the entry that needed them', async () => {
    const plan = await planOf([[{ name: 'a/b/c', content: 'x', mtime: 1234, uid: 7 }]]);
    const e = byPath(plan);
    expect(e.get('a')).toEqual({ path: 'a', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 1234, size: 0 });
    expect(e.get('a/b')).toMatchObject({ type: 'dir', mode: 0o755, mtime: 1234 });
    expect(e.get('a/b/c')).toMatchObject({ type: 'file', uid: 7, size: 1 });
  });

  it('records file size, mode with setuid/setgid/sticky bits, uid above 65535', async () => {
    const plan = await planOf([
      [
        { name: 'bin/su', content: 'abc', mode: 0o4755 },
        { name: 'bin/wall', content: '', mode: 0o2755, uid: 100000, gid: 200000 },
        { name: 'tmp/', type: 'directory', mode: 0o1777 },
        { name: 'big', content: '', pax: { uid: '5000000', gid: '4294967294', mtime: '1700000001.75' } },
      ],
    ]);
    const e = byPath(plan);
    expect(e.get('bin/su')).toMatchObject({ mode: 0o4755, size: 3 });
    expect(e.get('bin/wall')).toMatchObject({ mode: 0o2755, uid: 100000, gid: 200000 });
    expect(e.get('tmp')).toMatchObject({ type: 'dir', mode: 0o1777 });
    expect(e.get('big')).toMatchObject({ uid: 5000000, gid: 4294967294, mtime: 1700000001 });
  });

  it('records devices and fifos', async () => {
    const plan = await planOf([
      [
        { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
        { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660, gid: 6 },
        { name: 'run/fifo', type: 'fifo', mode: 0o600 },
      ],
    ]);
    const e = byPath(plan);
    expect(e.get('dev/null')).toEqual({ path: 'dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, mtime: MTIME, size: 0, devMajor: 1, devMinor: 3 });
    expect(e.get('dev/sda')).toMatchObject({ type: 'block', devMajor: 8, devMinor: 0, gid: 6 });
    expect(e.get('run/fifo')).toMatchObject({ type: 'fifo', mode: 0o600 });
  });

  it('keeps binary xattr bytes (security.capability) and user.* from PAX', async () => {
    const plan = await planOf([
      [
        { name: 'ping', content: 'elf', rawPax: [['SCHILY.xattr.security.capability', CAP], ['SCHILY.xattr.user.note', Buffer.from('héllo')]] },
        { name: 'other', content: '', pax: { 'SCHILY.xattr.user.k': 'v' } },
      ],
    ]);
    const e = byPath(plan);
    expect(e.get('ping')!.xattrs).toEqual({ 'security.capability': CAP, 'user.note': Buffer.from('héllo') });
    expect(e.get('other')!.xattrs).toEqual({ 'user.k': Buffer.from('v') });
  });

  it('reads PAX long names and long symlink and hardlink targets', async () => {
    const long = `${'d'.repeat(120)}/${'f'.repeat(130)}`;
    const target = `/${'t'.repeat(200)}/x`;
    const plan = await planOf([[{ name: long, content: 'x' }, { name: 'sym', type: 'symlink', linkname: target }, { name: `${'h'.repeat(150)}`, type: 'link', linkname: long }]]);
    const e = byPath(plan);
    expect(e.get(long)).toMatchObject({ type: 'file', size: 1 });
    expect(e.get('sym')!.linkTarget).toBe(target);
    expect(e.get('h'.repeat(150))!.hardlinkTo).toBe(long);
  });

  it('reads GNU long names and long link targets', async () => {
    const long = `${'g'.repeat(110)}/${'n'.repeat(120)}`;
    const target = `../${'q'.repeat(180)}`;
    const plan = await planOf([[{ name: long, content: 'x', gnuLongNames: true }, { name: `${'s'.repeat(140)}`, type: 'symlink', linkname: target, gnuLongNames: true }]]);
    const e = byPath(plan);
    expect(e.get(long)).toMatchObject({ type: 'file', size: 1 });
    expect(e.get('s'.repeat(140))!.linkTarget).toBe(target);
  });

  it('reads non-ASCII (UTF-8) names', async () => {
    const plan = await planOf([[{ name: 'usr/share/zoneinfo/América/São_Paulo', content: 'tz' }, { name: '日本語/ファイル', content: '' }, { name: 'emoji-😀', type: 'symlink', linkname: 'é' }]]);
    const e = byPath(plan);
    expect(e.get('usr/share/zoneinfo/América/São_Paulo')).toMatchObject({ type: 'file', size: 2 });
    expect(e.get('日本語/ファイル')).toMatchObject({ type: 'file' });
    expect(e.get('emoji-😀')!.linkTarget).toBe('é');
  });

  it('treats contiguous files as regular files', async () => {
    const plan = await planOf([[{ name: 'c', type: 'contiguous-file', content: 'abc' }]]);
    expect(byPath(plan).get('c')).toMatchObject({ type: 'file', size: 3 });
  });

  it('sorts paths parent-first by the bytes of their UTF-8 names, the same every time', async () => {
    const layer = [
      { name: 'b/z', content: '' },
      { name: 'a-b', content: '' },
      { name: 'a/y', content: '' },
      { name: 'B', content: '' },
      { name: 'é', content: '' },
      { name: '\u{ff61}', content: '' },
      { name: '\u{1f600}', content: '' },
      { name: 'a/x/1', content: '' },
    ];
    const plan = await planOf([layer]);
    const expected = ['', 'B', 'a', 'a/x', 'a/x/1', 'a/y', 'a-b', 'b', 'b/z', 'é', '\u{ff61}', '\u{1f600}'];
    expect(paths(plan)).toEqual(expected);
    expect(paths(await planOf([[...layer].reverse()]))).toEqual(expected);
  });

  it('counts entries per type, file bytes and the largest directory', async () => {
    const plan = await planOf([
      [{ name: 'a', content: '12345' }, { name: 'b', type: 'link', linkname: 'a' }, { name: 'd/x', content: '12' }, { name: 's', type: 'symlink', linkname: 'a' }, { name: '.wh..wh.plnk', content: '' }],
    ]);
    expect(plan.stats).toEqual({
      byType: { file: 3, dir: 2, symlink: 1, char: 0, block: 0, fifo: 0 },
      hardlinks: 1,
      fileBytes: 7,
      maxDirEntries: 4,
      tarEntries: 5,
      ignoredEntries: 1,
    });
  });
});

describe('planRootfs: whiteouts', () => {
  it('.wh.<name> removes the lower file', async () => {
    const plan = await planOf([[{ name: 'etc/a', content: '1' }, { name: 'etc/b', content: '2' }], [{ name: 'etc/.wh.a', content: '' }]]);
    expect(paths(plan)).toEqual(['', 'etc', 'etc/b']);
  });

  it('.wh.<dir> removes the lower directory with its subtree', async () => {
    const plan = await planOf([[{ name: 'opt/app/bin/x', content: '1' }, { name: 'opt/keep', content: '' }], [{ name: 'opt/.wh.app', content: '' }]]);
    expect(paths(plan)).toEqual(['', 'opt', 'opt/keep']);
  });

  it('never removes what the same layer adds, whichever comes first', async () => {
    const before = await planOf([[{ name: 'f', content: 'old' }], [{ name: '.wh.f', content: '' }, { name: 'f', content: 'new!' }]]);
    const after = await planOf([[{ name: 'f', content: 'old' }], [{ name: 'f', content: 'new!' }, { name: '.wh.f', content: '' }]]);
    for (const plan of [before, after]) {
      expect(byPath(plan).get('f')).toMatchObject({ type: 'file', size: 4 });
      expect(plan.contents(1).get(0) ?? plan.contents(1).get(1)).toMatchObject({ size: 4 });
      expect(plan.contents(0).size).toBe(0);
    }
  });

  it('opaque marker hides lower children but keeps the layer\'s own, marker first', async () => {
    const plan = await planOf([
      [{ name: 'd/', type: 'directory' }, { name: 'd/old', content: '' }, { name: 'd/sub/deep', content: '' }],
      [{ name: 'd/', type: 'directory', mode: 0o750 }, { name: 'd/.wh..wh..opq', content: '' }, { name: 'd/new', content: '' }],
    ]);
    expect(paths(plan)).toEqual(['', 'd', 'd/new']);
    expect(byPath(plan).get('d')!.mode).toBe(0o750);
  });

  it('opaque marker hides lower children but keeps the layer\'s own, marker last', async () => {
    const plan = await planOf([[{ name: 'd/old', content: '' }], [{ name: 'd/new', content: '' }, { name: 'd/newer/x', content: '' }, { name: 'd/.wh..wh..opq', content: '' }]]);
    expect(paths(plan)).toEqual(['', 'd', 'd/new', 'd/newer', 'd/newer/x']);
  });

  it('a directory whited out and recreated in the same layer holds only the new children', async () => {
    const plan = await planOf([[{ name: 'd/old', content: '' }], [{ name: 'd/', type: 'directory', mode: 0o700 }, { name: 'd/new', content: '' }, { name: '.wh.d', content: '' }]]);
    expect(paths(plan)).toEqual(['', 'd', 'd/new']);
    expect(byPath(plan).get('d')!.mode).toBe(0o700);
  });

  it('a directory whited out and recreated in the next layer holds only the new children', async () => {
    const plan = await planOf([[{ name: 'd/old', content: '' }], [{ name: '.wh.d', content: '' }], [{ name: 'd/new', content: '' }]]);
    expect(paths(plan)).toEqual(['', 'd', 'd/new']);
  });

  it('ignores AUFS metadata and never lists whiteout entries', async () => {
    const plan = await planOf([[{ name: 'a', content: '' }], [{ name: '.wh..wh.plnk/', type: 'directory' }, { name: '.wh..wh.aufs', content: '' }, { name: '.wh.missing', content: '' }]]);
    expect(paths(plan)).toEqual(['', 'a']);
  });

  it('a whiteout under a symlink is a no-op', async () => {
    const plan = await planOf([[{ name: 'real/x', content: '' }, { name: 'link', type: 'symlink', linkname: 'real' }], [{ name: 'link/.wh.x', content: '' }, { name: 'link/.wh..wh..opq', content: '' }]]);
    expect(paths(plan)).toEqual(['', 'link', 'real', 'real/x']);
  });

  it('a whiteout of a symlink removes the link, not its target', async () => {
    const plan = await planOf([[{ name: 'real/x', content: '' }, { name: 'link', type: 'symlink', linkname: 'real' }], [{ name: '.wh.link', content: '' }]]);
    expect(paths(plan)).toEqual(['', 'real', 'real/x']);
  });

  it('refuses a whiteout naming the parent directory', async () => {
    const err = await failure(planOf([[{ name: 'a/.wh...', content: '' }]]));
    expect(err.code).toBe('ERR_UNSAFE_PATH');
  });
});

describe('planRootfs: replacing entries', () => {
  it('file -> directory', async () => {
    const plan = await planOf([[{ name: 'x', content: 'f' }], [{ name: 'x/', type: 'directory' }, { name: 'x/child', content: '' }]]);
    expect(byPath(plan).get('x')!.type).toBe('dir');
    expect(paths(plan)).toEqual(['', 'x', 'x/child']);
  });

  it('directory -> file drops the subtree', async () => {
    const plan = await planOf([[{ name: 'x/a/b', content: '' }], [{ name: 'x', content: 'now a file' }]]);
    expect(paths(plan)).toEqual(['', 'x']);
    expect(byPath(plan).get('x')).toMatchObject({ type: 'file', size: 10 });
  });

  it('directory -> symlink (lib -> usr/lib)', async () => {
    const plan = await planOf([[{ name: 'lib/libc.so', content: '' }, { name: 'usr/lib/', type: 'directory' }], [{ name: 'lib', type: 'symlink', linkname: 'usr/lib' }]]);
    expect(paths(plan)).toEqual(['', 'lib', 'usr', 'usr/lib']);
    expect(byPath(plan).get('lib')).toMatchObject({ type: 'symlink', linkTarget: 'usr/lib' });
  });

  it('symlink -> directory', async () => {
    const plan = await planOf([[{ name: 'lib', type: 'symlink', linkname: 'usr/lib' }], [{ name: 'lib/', type: 'directory', mode: 0o711 }, { name: 'lib/x', content: '' }]]);
    expect(byPath(plan).get('lib')).toMatchObject({ type: 'dir', mode: 0o711 });
    expect(byPath(plan).get('lib')!.linkTarget).toBeUndefined();
    expect(paths(plan)).toEqual(['', 'lib', 'lib/x']);
  });

  it('a directory over a directory updates its metadata and keeps its children', async () => {
    const plan = await planOf([[{ name: 'd/', type: 'directory', mode: 0o755, uid: 1 }, { name: 'd/keep', content: '' }], [{ name: 'd/', type: 'directory', mode: 0o700, uid: 2, mtime: 99 }]]);
    expect(byPath(plan).get('d')).toMatchObject({ mode: 0o700, uid: 2, mtime: 99 });
    expect(paths(plan)).toEqual(['', 'd', 'd/keep']);
  });

  it('a path repeated in one layer: the last one wins', async () => {
    const plan = await planOf([[{ name: 'f', content: 'first', mode: 0o600 }, { name: 'f', content: 'second!', mode: 0o644 }]]);
    expect(byPath(plan).get('f')).toMatchObject({ size: 7, mode: 0o644 });
    expect([...plan.contents(0).keys()]).toEqual([1]);
  });
});

describe('planRootfs: hardlinks', () => {
  it('links within one layer share the target inode and metadata', async () => {
    const plan = await planOf([[{ name: 'bin/a', content: 'data', mode: 0o755, uid: 5 }, { name: 'bin/b', type: 'link', linkname: 'bin/a', mode: 0o600, uid: 9 }]]);
    const e = byPath(plan);
    expect(e.get('bin/b')).toMatchObject({ type: 'file', mode: 0o755, uid: 5, size: 4, hardlinkTo: 'bin/a' });
    expect(e.get('bin/a')!.hardlinkTo).toBeUndefined();
    const planned = plan.contents(0).get(0)!;
    expect(planned.file.path).toBe('bin/a');
    expect(planned.links.map((l) => l.path)).toEqual(['bin/b']);
  });

  it('names the first path in plan order as the file, whichever the tar named first', async () => {
    const plan = await planOf([[{ name: 'z', content: 'data' }, { name: 'a', type: 'link', linkname: '/z' }]]);
    const e = byPath(plan);
    expect(e.get('a')!.hardlinkTo).toBeUndefined();
    expect(e.get('z')!.hardlinkTo).toBe('a');
    expect(plan.contents(0).get(0)!.file.path).toBe('a');
  });

  it('links to a file of a lower layer', async () => {
    const plan = await planOf([[{ name: 'orig', content: 'lower' }], [{ name: 'link', type: 'link', linkname: 'orig' }]]);
    expect(byPath(plan).get('orig')!.hardlinkTo).toBe('link');
    expect(plan.contents(0).get(0)!.links.map((l) => l.path)).toEqual(['orig']);
  });

  it('keeps the old content on the link when the original is replaced later', async () => {
    const plan = await planOf([[{ name: 'orig', content: 'old' }, { name: 'link', type: 'link', linkname: 'orig' }], [{ name: 'orig', content: 'brand new' }]]);
    const e = byPath(plan);
    expect(e.get('link')).toMatchObject({ size: 3 });
    expect(e.get('link')!.hardlinkTo).toBeUndefined();
    expect(e.get('orig')).toMatchObject({ size: 9 });
    expect(e.get('orig')!.hardlinkTo).toBeUndefined();
    expect(plan.contents(0).get(0)!.file.path).toBe('link');
    expect(plan.contents(1).get(0)!.file.path).toBe('orig');
  });

  it('keeps the old content on the link when the original is whited out', async () => {
    const plan = await planOf([[{ name: 'orig', content: 'old' }, { name: 'link', type: 'link', linkname: 'orig' }], [{ name: '.wh.orig', content: '' }]]);
    expect(paths(plan)).toEqual(['', 'link']);
    expect(plan.contents(0).get(0)!.file.path).toBe('link');
  });

  it('refuses a link to a missing target', async () => {
    const err = await failure(planOf([[{ name: 'a', content: '' }], [{ name: 'b', type: 'link', linkname: 'nope' }]]));
    expect(err.code).toBe('ERR_BAD_LAYER');
    expect(err.message).toContain('"b"');
    expect(err.message).toContain('layer 2');
    expect(err.blob).toBe(`sha256:${'1'.padStart(64, '0')}`);
  });

  it('refuses a link to a target added later in the same layer', async () => {
    const err = await failure(planOf([[{ name: 'b', type: 'link', linkname: 'a' }, { name: 'a', content: '' }]]));
    expect(err.code).toBe('ERR_BAD_LAYER');
  });

  it('refuses a link to a directory', async () => {
    const err = await failure(planOf([[{ name: 'd/', type: 'directory' }, { name: 'l', type: 'link', linkname: 'd' }]]));
    expect(err.code).toBe('ERR_BAD_LAYER');
  });

  it('refuses a link target outside the root', async () => {
    const err = await failure(planOf([[{ name: 'l', type: 'link', linkname: '../../etc/shadow' }]]));
    expect(err.code).toBe('ERR_UNSAFE_PATH');
  });

  it('refuses a link target reached through a symlink', async () => {
    const err = await failure(planOf([[{ name: 'real/f', content: '' }, { name: 's', type: 'symlink', linkname: 'real' }, { name: 'l', type: 'link', linkname: 's/f' }]]));
    expect(err.code).toBe('ERR_UNSAFE_PATH');
  });
});

describe('planRootfs: path safety', () => {
  it('keeps absolute symlink targets verbatim', async () => {
    const plan = await planOf([[{ name: 'etc/localtime', type: 'symlink', linkname: '/usr/share/zoneinfo/UTC' }]]);
    expect(byPath(plan).get('etc/localtime')!.linkTarget).toBe('/usr/share/zoneinfo/UTC');
  });

  it('allows a relative symlink that climbs out: only the guest resolves it', async () => {
    const plan = await planOf([[{ name: 'a/up', type: 'symlink', linkname: '../../../../etc/passwd' }]]);
    expect(byPath(plan).get('a/up')!.linkTarget).toBe('../../../../etc/passwd');
  });

  it('refuses a name that climbs above the root, naming layer and entry', async () => {
    const err = await failure(planOf([[{ name: 'ok', content: '' }, { name: 'a/../../evil', content: 'x' }]]));
    expect(err.code).toBe('ERR_UNSAFE_PATH');
    expect(err.message).toContain('a/../../evil');
    expect(err.message).toContain('layer 1');
    expect(err.blob).toBe(`sha256:${'0'.padStart(64, '0')}`);
  });

  it('refuses a NUL byte in a name', async () => {
    const err = await failure(planOf([[{ name: 'x', content: '', pax: { path: 'a\0b' } }]]));
    expect(err.code).toBe('ERR_UNSAFE_PATH');
  });

  it('refuses to write through a symlink planted earlier in the same layer', async () => {
    const err = await failure(planOf([[{ name: 'evil', type: 'symlink', linkname: '/etc' }, { name: 'evil/passwd', content: 'pwned' }]]));
    expect(err.code).toBe('ERR_UNSAFE_PATH');
    expect(err.message).toContain('would be written through symlink evil');
    expect(err.message).toContain('evil/passwd');
  });

  it('refuses to write through a symlink planted by a lower layer', async () => {
    const err = await failure(planOf([[{ name: 'lib', type: 'symlink', linkname: '../../../tmp' }], [{ name: 'lib/x/y', content: 'pwned' }]]));
    expect(err.code).toBe('ERR_UNSAFE_PATH');
    expect(err.message).toContain('layer 2');
  });

  it('refuses a child of a regular file', async () => {
    const err = await failure(planOf([[{ name: 'f', content: '' }, { name: 'f/child', content: '' }]]));
    expect(err.code).toBe('ERR_BAD_LAYER');
    expect(err.message).toContain('not a directory');
  });

  it('refuses a whiteout name used as a directory', async () => {
    const err = await failure(planOf([[{ name: '.wh.x/y', content: '' }]]));
    expect(err.code).toBe('ERR_BAD_LAYER');
  });
});

describe('planRootfs: refusals and limits', () => {
  it('refuses GNU sparse files', async () => {
    const err = await failure(planOf([[{ name: 'sparse', content: 'abc', typeflag: 'S' }]]));
    expect(err.code).toBe('ERR_BAD_LAYER');
    expect(err.message).toContain('sparse');
    expect(err.message).toContain('"sparse"');
  });

  it('refuses a regular file named with a trailing slash, which Docker reads as a directory when its typeflag is NUL', async () => {
    for (const typeflag of ['\0', '0']) {
      const err = await failure(planOf([[{ name: 'x/', content: 'not a directory', typeflag }]]));
      expect(err.code).toBe('ERR_BAD_LAYER');
      expect(err.message).toContain('trailing slash');
    }
  });

  it('refuses a symlink, hardlink or fifo whose header claims data: Go reads the next blocks as headers, tar-stream as content', async () => {
    const hidden = { name: 'hidden', content: '' };
    for (const entry of [
      { name: 's', type: 'symlink' as const, linkname: 't', headerSize: 512 },
      { name: 'l', type: 'link' as const, linkname: 'a', headerSize: 512 },
      { name: 'p', type: 'fifo' as const, headerSize: 512 },
    ]) {
      const err = await failure(planOf([[{ name: 'a', content: 'x' }, entry, hidden, { name: 'after', content: '' }]]));
      expect(err.code).toBe('ERR_BAD_LAYER');
      expect(err.message).toContain('carries 512 bytes');
    }
  });

  it('refuses PAX-format sparse files', async () => {
    const err = await failure(planOf([[{ name: 'x', content: '', pax: { 'GNU.sparse.major': '1' } }]]));
    expect(err.code).toBe('ERR_BAD_LAYER');
  });

  it('refuses a malformed tar, naming the layer', async () => {
    const dir = await scratch();
    const path = join(dir, 'bad.tar');
    await writeFile(path, Buffer.alloc(1536, 0x41));
    const err = await failure(planRootfs([{ path, diffId: 'sha256:bad' }]));
    expect(err.code).toBe('ERR_BAD_LAYER');
    expect(err.blob).toBe('sha256:bad');
  });

  it('refuses a truncated tar', async () => {
    const [layer] = await layersOf([{ name: 'f', content: 'x'.repeat(5000) }]);
    const { readFile } = await import('node:fs/promises');
    const bytes = await readFile(layer!.path);
    await writeFile(layer!.path, bytes.subarray(0, 2048));
    const err = await failure(planRootfs([layer!]));
    expect(err.code).toBe('ERR_BAD_LAYER');
  });

  it('enforces maxDepth and maxEntries', async () => {
    const deep = await failure(planOf([[{ name: 'a/b/c/d/e', content: '' }]], { limits: { maxDepth: 4 } }));
    expect(deep.code).toBe('ERR_LIMIT_EXCEEDED');
    const many = await failure(planOf([[{ name: 'a', content: '' }], [{ name: 'b', content: '' }, { name: 'c', content: '' }]], { limits: { maxEntries: 2 } }));
    expect(many.code).toBe('ERR_LIMIT_EXCEEDED');
  });

  it('stops with ERR_ABORTED when the signal fires', async () => {
    const layers = await layersOf([{ name: 'a', content: '' }]);
    const controller = new AbortController();
    controller.abort();
    const err = await failure(planRootfs(layers, { signal: controller.signal }));
    expect(err.code).toBe('ERR_ABORTED');
  });

  it('plans 60k entries', async () => {
    const entries = Array.from({ length: 60_000 }, (_, i) => ({ name: `d${i % 300}/f${i}`, content: i % 1000 === 0 ? 'x' : '' }));
    const started = performance.now();
    const plan = await planOf([entries, [{ name: 'd7/.wh.f7', content: '' }]]);
    expect(plan.entries()).toHaveLength(1 + 300 + 60_000 - 1);
    expect(plan.stats.maxDirEntries).toBe(300);
    expect(performance.now() - started).toBeLessThan(30_000);
  });
});

describe('planRootfs: xattr limits', () => {
  it('refuses more than 64 KiB of xattrs on one entry', async () => {
    const err = await failure(planOf([[{ name: 'x', content: '', rawPax: [['SCHILY.xattr.user.big', Buffer.alloc(70_000, 1)]] }]]));
    expect(err.code).toBe('ERR_LIMIT_EXCEEDED');
  });
});
