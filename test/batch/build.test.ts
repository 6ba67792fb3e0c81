import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/batch/build.js';
import type { Sidecar } from '../../src/batch/sidecar.js';
import { buildLayer, pushImage, type TarEntrySpec } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { e2fsckClean, readExt4Tree, type Ext4Node } from '../helpers/ext4-read.js';

const CAP = Buffer.from('0100000200040000000000000000000000000000', 'hex');
const T = new Date('2023-06-01T12:00:00Z');
const mtime = Math.floor(T.getTime() / 1000);

/** Three layers that exercise every replay rule the build must carry into the ext4. */
const LAYERS: TarEntrySpec[][] = [
  [
    { name: 'bin/', type: 'directory' },
    { name: 'bin/sudo', content: 'sudo', mode: 0o4755, mtime: T },
    { name: 'usr/lib/systemd/systemd', content: 'init', mode: 0o755 },
    { name: 'bin/ping', content: 'ping', mode: 0o755, pax: { 'SCHILY.xattr.security.capability': CAP.toString('latin1') } },
    { name: 'etc/shadow', content: 'root:*:', mode: 0o000, gid: 42 },
    { name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/sh\n', mtime: T },
    { name: 'etc/alternatives/awk', type: 'symlink', linkname: '/usr/bin/mawk' },
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660, gid: 6 },
    { name: 'run/initctl', type: 'fifo', mode: 0o600 },
    { name: 'tmp/', type: 'directory', mode: 0o1777 },
    { name: 'home/user/', type: 'directory', uid: 100000, gid: 100000, mode: 0o750 },
    { name: 'home/user/file', content: 'high uid', uid: 100000, gid: 100000 },
    { name: 'opt/ro/', type: 'directory', mode: 0o555 },
    { name: 'opt/ro/inside', content: 'in a read-only dir' },
    { name: 'usr/share/doc/a', content: 'doc a' },
    { name: 'usr/share/doc/b', content: 'doc b' },
    { name: 'var/lib/gone', content: 'whited out later' },
    { name: 'srv/hard1', content: 'linked content' },
    { name: 'srv/hard2', type: 'link', linkname: 'srv/hard1' },
    { name: 'lib/modules', content: 'becomes a symlink dir' },
  ],
  [
    { name: 'usr/share/doc/', type: 'directory' },
    { name: 'usr/share/doc/.wh..wh..opq', content: '' },
    { name: 'usr/share/doc/new', content: 'only this survives' },
    { name: 'var/lib/.wh.gone', content: '' },
    { name: 'srv/hard3', type: 'link', linkname: 'srv/hard1' },
    { name: 'srv/user-xattr', content: 'x', pax: { 'SCHILY.xattr.user.comment': 'hello xattr' } },
    { name: 'names/with space', content: 'spaces' },
    // Later than the config's created time: mke2fs clamps to SOURCE_DATE_EPOCH, which must not cut it.
    { name: 'srv/newer', content: 'n', mtime: new Date('2025-06-01T00:00:00Z') },
    { name: 'names/quote"d', content: 'quote' },
    { name: 'names/ünïcødé', content: 'unicode' },
    { name: 'lib/modules/', type: 'directory' },
    { name: 'lib/modules/kernel', content: 'now a dir' },
  ],
  [{ name: 'etc/passwd', content: 'root:x:0:0::/root:/bin/bash\n', mtime: T }],
];

let reg: TestRegistry;
let dir: string;
let ref: string;

beforeAll(async () => {
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'rootforge-build-'));
  await chmod(dir, 0o755);
  const layers = [];
  for (const [i, entries] of LAYERS.entries()) layers.push(await buildLayer(entries, { compression: i === 1 ? 'zstd' : 'gzip' }));
  await pushImage(reg, 'build/rules', 'v1', { layers, config: { config: { Entrypoint: ['/bin/sh'], Cmd: ['-c', 'true'], WorkingDir: '/srv', User: '0' } } });
  ref = `${reg.host}/build/rules:v1`;
});
afterAll(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

function strip(tree: Map<string, Ext4Node>): Record<string, Omit<Ext4Node, 'inode'>> {
  const out: Record<string, Omit<Ext4Node, 'inode'>> = {};
  for (const [path, node] of tree) {
    if (path === 'lost+found' || path.startsWith('lost+found/')) continue;
    const { inode: _inode, ...rest } = node;
    out[path] = rest;
  }
  return out;
}

describe('rootforge build', () => {
  const trees: Record<string, Map<string, Ext4Node>> = {};

  for (const populate of ['tar', 'dir'] as const) {
    it(`builds the image exactly on the ${populate} path`, async () => {
      const out = join(dir, `out-${populate}`);
      const workDir = join(dir, `work-${populate}`);
      await mkdir(workDir);
      const result = await build({ refs: [ref], outDir: out, cacheDir: join(dir, 'cache'), populate, workDir, inject: false });
      const image = result.images[0];
      expect(image?.error).toBeUndefined();
      expect(image?.status).toBe('ok');
      expect(image?.output).toBe(join(out, 'rules-v1.ext4'));
      expect(await readdir(workDir), 'staging is removed').toEqual([]);
      expect((await readdir(out)).sort()).toEqual(['rules-v1.ext4', 'rules-v1.json']);
      await e2fsckClean(image?.output as string);

      const tree = await readExt4Tree(image?.output as string);
      trees[populate] = tree;
      const get = (p: string): Ext4Node => {
        const node = tree.get(p);
        if (!node) throw new Error(`missing ${p}`);
        return node;
      };
      expect(get('')).toMatchObject({ type: 'dir', uid: 0, gid: 0, mode: 0o755 });
      expect(get('bin/sudo')).toMatchObject({ type: 'file', mode: 0o4755, uid: 0, mtime });
      expect(get('bin/ping').xattrs['security.capability']).toBe(CAP.toString('hex'));
      expect(get('etc/shadow')).toMatchObject({ mode: 0o000, gid: 42, size: 7 });
      expect(get('etc/passwd')).toMatchObject({ size: 28, mtime });
      expect(get('etc/alternatives/awk')).toMatchObject({ type: 'symlink', linkTarget: '/usr/bin/mawk' });
      expect(get('dev/null')).toMatchObject({ type: 'char', devMajor: 1, devMinor: 3, mode: 0o666 });
      expect(get('dev/sda')).toMatchObject({ type: 'block', devMajor: 8, devMinor: 0, mode: 0o660, gid: 6 });
      expect(get('run/initctl')).toMatchObject({ type: 'fifo', mode: 0o600 });
      expect(get('tmp')).toMatchObject({ type: 'dir', mode: 0o1777 });
      expect(get('home/user')).toMatchObject({ uid: 100000, gid: 100000, mode: 0o750 });
      expect(get('home/user/file')).toMatchObject({ uid: 100000, gid: 100000 });
      expect(get('opt/ro')).toMatchObject({ mode: 0o555 });
      expect(get('opt/ro/inside').size).toBe(18);
      expect([...tree.keys()].filter((p) => p.startsWith('usr/share/doc/'))).toEqual(['usr/share/doc/new']);
      expect(tree.has('var/lib/gone')).toBe(false);
      expect(tree.has('var/lib')).toBe(true);
      const links = ['srv/hard1', 'srv/hard2', 'srv/hard3'].map(get);
      expect(new Set(links.map((l) => l.inode)).size).toBe(1);
      expect(links[0]?.links).toBe(3);
      expect(get('srv/user-xattr').xattrs['user.comment']).toBe(Buffer.from('hello xattr').toString('hex'));
      expect(get('names/with space').size).toBe(6);
      expect(get('srv/newer').mtime).toBe(Date.parse('2025-06-01T00:00:00Z') / 1000);
      expect(get('names/quote"d').size).toBe(5);
      expect(get('names/ünïcødé').size).toBe(7);
      expect(get('lib/modules')).toMatchObject({ type: 'dir' });
      expect(get('lib/modules/kernel').size).toBe(9);

      const sidecar = JSON.parse(await readFile(join(out, 'rules-v1.json'), 'utf8')) as Sidecar;
      expect(sidecar).toMatchObject({
        ref,
        name: ref,
        platform: 'linux/amd64',
        populate,
        config: { Entrypoint: ['/bin/sh'], Cmd: ['-c', 'true'], WorkingDir: '/srv', User: '0' },
      });
      expect(sidecar.diffIds).toHaveLength(3);
      expect(sidecar.sizeBytes).toBe((await stat(image?.output as string)).size);
      expect(sidecar.entries).toBeGreaterThan(30);
    });
  }

  it('gives the same tree on both paths', () => {
    expect(strip(trees.dir as Map<string, Ext4Node>)).toEqual(strip(trees.tar as Map<string, Ext4Node>));
  });

  it('injects the guest files with root ownership and exact modes', async () => {
    const out = join(dir, 'out-inject');
    const agent = join(dir, 'agent');
    await writeFile(agent, '#!/bin/sh\necho agent\n');
    const result = await build({ refs: [ref], outDir: out, cacheDir: join(dir, 'cache'), agentPath: agent });
    expect(result.images[0]?.error).toBeUndefined();
    const tree = await readExt4Tree(result.images[0]?.output as string);
    await e2fsckClean(result.images[0]?.output as string);
    const expectations: [string, number][] = [
      ['usr/local/bin/rootforge-vsock-agent', 0o755],
      ['usr/local/libexec/rootforge-network-bootstrap', 0o755],
      ['usr/local/libexec/rootforge-first-boot', 0o755],
      ['etc/systemd/system/rootforge-network.service', 0o644],
      ['etc/systemd/system/rootforge-vsock-agent.service', 0o644],
      ['etc/systemd/system/rootforge-first-boot.service', 0o644],
      ['etc/modules-load.d/rootforge-vsock.conf', 0o644],
      ['var/lib/rootforge/first-boot-pending', 0o644],
    ];
    for (const [path, mode] of expectations) {
      expect(tree.get(path), path).toMatchObject({ type: 'file', mode, uid: 0, gid: 0 });
    }
    expect(tree.get('usr/local/bin/rootforge-vsock-agent')?.sha256).toBe(createHash('sha256').update(await readFile(agent)).digest('hex'));
    for (const unit of ['rootforge-network.service', 'rootforge-vsock-agent.service', 'rootforge-first-boot.service']) {
      expect(tree.get(`etc/systemd/system/multi-user.target.wants/${unit}`), unit).toMatchObject({ type: 'symlink', linkTarget: `/etc/systemd/system/${unit}`, uid: 0, gid: 0 });
    }
    expect(tree.get('var/lib/rootforge/first-boot-pending')?.size).toBe(0);
  });

  it('reuses an output built from the same manifest and options, unless --force', async () => {
    const out = join(dir, 'out-tar');
    const again = await build({ refs: [ref], outDir: out, cacheDir: join(dir, 'cache'), populate: 'tar', inject: false });
    expect(again.images[0]?.status).toBe('skipped');
    const forced = await build({ refs: [ref], outDir: out, cacheDir: join(dir, 'cache'), populate: 'tar', inject: false, force: true });
    expect(forced.images[0]?.status).toBe('ok');
    const changed = await build({ refs: [ref], outDir: out, cacheDir: join(dir, 'cache'), populate: 'tar', inject: false, headroomPercent: 50 });
    expect(changed.images[0]?.status).toBe('ok');
  });

  it('fails a hostile image with ERR_UNSAFE_PATH, writes nothing outside its dirs, and builds the rest', async () => {
    const evil = await buildLayer([
      { name: 'escape', type: 'symlink', linkname: '/tmp' },
      { name: 'escape/pwned', content: 'through the symlink' },
    ]);
    await pushImage(reg, 'build/evil', 'v1', { layers: [evil] });
    const climb = await buildLayer([{ name: '../../../../tmp/rootforge-climb', content: 'x' }]);
    await pushImage(reg, 'build/climb', 'v1', { layers: [climb] });
    const out = join(dir, 'out-hostile');
    const workDir = join(dir, 'work-hostile');
    await mkdir(workDir);
    for (const populate of ['tar', 'dir'] as const) {
      const result = await build({
        refs: [`${reg.host}/build/evil:v1`, `${reg.host}/build/climb:v1`, ref],
        outDir: out,
        cacheDir: join(dir, 'cache'),
        populate,
        workDir,
        inject: false,
        force: true,
      });
      expect(result.images.map((i) => i.status)).toEqual(['failed', 'failed', 'ok']);
      expect(result.images[0]?.error?.code).toBe('ERR_UNSAFE_PATH');
      expect(result.images[1]?.error?.code).toBe('ERR_UNSAFE_PATH');
      expect(result.images[0]?.error?.message).toContain('build/evil:v1');
      expect(result.images[0]?.error?.message).toContain(evil.diffId);
      await expect(stat('/tmp/pwned')).rejects.toThrow();
      await expect(stat('/tmp/rootforge-climb')).rejects.toThrow();
      expect(await readdir(workDir)).toEqual([]);
      expect((await readdir(out)).sort()).toEqual(['rules-v1.ext4', 'rules-v1.json']);
    }
  });
});
