import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DebugfsOp } from '../../src/ext4/debugfs-ops.js';
import { buildDebugfsScript, MAX_DEBUGFS_LINE_BYTES, quoteDebugfsArg } from '../../src/ext4/debugfs-script.js';
import { runDebugfs } from '../../src/ext4/debugfs.js';
import { mkfsFromDir } from '../../src/ext4/mkfs.js';
import { e2fsckClean, readExt4Tree } from '../helpers/ext4-read.js';

describe('quoteDebugfsArg', () => {
  it.each([
    ['plain', '"plain"'],
    ['with space', '"with space"'],
    ['q"uote', '"q""uote"'],
    ['"', '""""'],
    ['', '""'],
    ['tab\there', '"tab\there"'],
    ['back\\slash', '"back\\slash"'],
    ['#hash', '"#hash"'],
    ['-dash', '"-dash"'],
    ['!bang', '"!bang"'],
    ['<12>', '"<12>"'],
    ['ünïcødé 日本', '"ünïcødé 日本"'],
  ])('%j -> %s', (value, quoted) => {
    expect(quoteDebugfsArg(value)).toBe(quoted);
  });

  it.each([['new\nline'], ['carriage\rreturn'], ['nul\0byte']])('refuses %j with ERR_DEBUGFS_NAME naming the path', (value) => {
    expect(() => quoteDebugfsArg(value, '/etc/x')).toThrow(expect.objectContaining({ code: 'ERR_DEBUGFS_NAME', message: expect.stringContaining('/etc/x') }));
  });
});

describe('buildDebugfsScript', () => {
  it('creates from inside the parent (debugfs mknod links its whole argument as one name) and removes from the root', () => {
    const ops: DebugfsOp[] = [
      { op: 'mkdir', path: '/srv' },
      { op: 'mkdir', path: '/srv/app' },
      { op: 'write', hostPath: '/tmp/x y', path: '/srv/app/config' },
      { op: 'symlink', path: '/srv/app/current', target: '../"v1"' },
      { op: 'mknod', path: 'dev/null', kind: 'char', major: 1, minor: 3 },
      { op: 'mknod', path: 'dev/fifo', kind: 'fifo' },
      { op: 'rm', path: '/old' },
      { op: 'set_inode_field', path: '/srv/app', field: 'mode', value: 0o40750 },
      { op: 'set_inode_field', path: '/srv/app', field: 'uid', value: 100000 },
      { op: 'set_inode_field', path: '/srv/app', field: 'mtime', value: 1_700_000_000 },
      { op: 'ea_set', path: '/srv/app', name: 'user.a "b"', valueFile: '/tmp/v 1' },
      { op: 'link', path: '/dev/fifo2', target: 'dev/fifo' },
      { op: 'set_inode_field', path: '/dev/fifo', field: 'links_count', value: 2 },
    ];
    expect(buildDebugfsScript(ops).split('\n')).toEqual([
      'mkdir "srv"',
      'cd "/srv"',
      'mkdir "app"',
      'cd "/srv/app"',
      'write "/tmp/x y" "config"',
      'symlink "current" "../""v1"""',
      'cd "/dev"',
      'mknod "null" c 1 3',
      'mknod "fifo" p',
      'cd "/"',
      'rm "/old"',
      'set_inode_field "/srv/app" mode 040750',
      'set_inode_field "/srv/app" uid 100000',
      'set_inode_field "/srv/app" mtime 0x6553f100',
      'ea_set -f "/tmp/v 1" "/srv/app" "user.a ""b"""',
      'link "/dev/fifo" "/dev/fifo2"',
      'set_inode_field "/dev/fifo" links_count 2',
      '',
    ]);
  });

  it('writes times in hex, since debugfs reads 10-digit decimals as YYYYMMDDHH dates', () => {
    const line = (value: number) => buildDebugfsScript([{ op: 'set_inode_field', path: '/f', field: 'mtime', value }]).trim().split('\n');
    expect(line(2012010112)).toEqual(['set_inode_field "/f" mtime 0x77ecd680']);
    expect(line(4_102_444_800)).toEqual(['set_inode_field "/f" mtime 0xf4865700']);
    expect(line(-86400)).toEqual(['set_inode_field "/f" mtime 0x0', 'set_inode_field "/f" mtime_lo 0xfffeae80']);
  });

  it('puts minors above 65535 straight into i_block[1], past mknod\'s parser', () => {
    expect(buildDebugfsScript([{ op: 'mknod', path: '/dev/big', kind: 'char', major: 300, minor: 70000 }]).trim().split('\n')).toEqual([
      'cd "/dev"',
      'mknod "big" c 300 0',
      'set_inode_field "/dev/big" block[0] 0',
      'set_inode_field "/dev/big" block[1] 286338160',
    ]);
  });

  it('refuses modes without file type bits, which would corrupt the inode', () => {
    expect(() => buildDebugfsScript([{ op: 'set_inode_field', path: '/f', field: 'mode', value: 0o644 }])).toThrow(expect.objectContaining({ code: 'ERR_INTERNAL' }));
  });

  it.each([
    ['a newline in a name', { op: 'mkdir', path: '/a\nb' }],
    ['a carriage return in a symlink target', { op: 'symlink', path: '/l', target: 'x\ry' }],
    ['a NUL in an xattr name', { op: 'ea_set', path: '/f', name: 'user.\0', valueFile: '/v' }],
    ['a line longer than debugfs reads', { op: 'symlink', path: `/${'n'.repeat(200)}`, target: '"'.repeat(4100) }],
  ] as Array<[string, DebugfsOp]>)('refuses %s with ERR_DEBUGFS_NAME', (_what, op) => {
    expect(() => buildDebugfsScript([op])).toThrow(expect.objectContaining({ code: 'ERR_DEBUGFS_NAME' }));
  });

  it('keeps every line within debugfs\'s buffer', () => {
    const script = buildDebugfsScript([{ op: 'symlink', path: '/l', target: 'x'.repeat(4095) }]);
    for (const line of script.split('\n')) expect(Buffer.byteLength(line)).toBeLessThanOrEqual(MAX_DEBUGFS_LINE_BYTES);
  });
});

describe('the quoting against real debugfs', () => {
  let dir: string;
  let image: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rootforge-quoting-'));
    image = join(dir, 'q.ext4');
    await mkdir(join(dir, 'empty'));
    await mkfsFromDir(image, { bytes: 64 * 1024 * 1024, inodes: 1024 }, join(dir, 'empty'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates exactly the names, targets and xattrs asked for', async () => {
    const names = ['with space', 'q"uote', '""', 'end"', 'tab\there', 'back\\slash', '#hash', '-dash', '!bang', '<12>', 'ünïcødé 日本', ' lead', 'trail '];
    const host = join(dir, 'host file "1"');
    await writeFile(host, 'content\n');
    const value = join(dir, 'value');
    await writeFile(value, 'v');
    const ops: DebugfsOp[] = [{ op: 'mkdir', path: '/d' }];
    for (const name of names) {
      ops.push({ op: 'mkdir', path: `/d/${name}` });
      ops.push({ op: 'write', hostPath: host, path: `/d/${name}/file ${name}` });
      ops.push({ op: 'symlink', path: `/d/${name}/link`, target: `-${name}` });
      ops.push({ op: 'mknod', path: `/d/${name}/fifo ${name}`, kind: 'fifo' });
      ops.push({ op: 'set_inode_field', path: `/d/${name}/fifo ${name}`, field: 'mode', value: 0o10640 });
      ops.push({ op: 'ea_set', path: `/d/${name}/file ${name}`, name: `user.${name}`, valueFile: value });
    }
    ops.push({ op: 'mknod', path: '/d/big', kind: 'block', major: 259, minor: 1_000_000 });
    ops.push({ op: 'set_inode_field', path: '/d/big', field: 'mode', value: 0o60600 });
    ops.push({ op: 'rm', path: '/d/-dash/file -dash' });
    await runDebugfs(image, buildDebugfsScript(ops));
    await e2fsckClean(image);
    const nodes = await readExt4Tree(image);
    for (const name of names) {
      expect(nodes.get(`d/${name}`)?.type, name).toBe('dir');
      expect(nodes.get(`d/${name}/link`)?.linkTarget, name).toBe(`-${name}`);
      expect(nodes.get(`d/${name}/fifo ${name}`), name).toMatchObject({ type: 'fifo', mode: 0o640 });
      if (name === '-dash') continue;
      expect(nodes.get(`d/${name}/file ${name}`)?.xattrs, name).toEqual({ [`user.${name}`]: '76' });
    }
    expect(nodes.has('d/-dash/file -dash')).toBe(false);
    expect(nodes.get('d/big')).toMatchObject({ type: 'block', devMajor: 259, devMinor: 1_000_000, mode: 0o600 });
    expect([...nodes.keys()].filter((p) => !p.startsWith('d/') && p !== 'd' && p !== '' && p !== 'lost+found')).toEqual([]);
  });
});
