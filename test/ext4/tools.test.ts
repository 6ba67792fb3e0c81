import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { choosePopulate, compareVersions, detectE2fsprogs, findTool, parseE2fsVersion, searchDirs } from '../../src/ext4/tools.js';

describe('version handling', () => {
  it('reads the version mke2fs -V prints', () => {
    expect(parseE2fsVersion('mke2fs 1.47.2 (1-Jan-2025)\n\tUsing EXT2FS Library version 1.47.2\n')).toBe('1.47.2');
    expect(parseE2fsVersion('mke2fs 1.46.5 (30-Dec-2021)')).toBe('1.46.5');
    expect(parseE2fsVersion('nothing here')).toBeUndefined();
  });

  it('compares dotted versions numerically', () => {
    expect(compareVersions('1.47.1', '1.47.1')).toBe(0);
    expect(compareVersions('1.47.10', '1.47.9')).toBeGreaterThan(0);
    expect(compareVersions('1.47', '1.47.1')).toBeLessThan(0);
    expect(compareVersions('1.46.5', '1.47.1')).toBeLessThan(0);
  });
});

describe('choosePopulate', () => {
  const modern = { version: '1.47.2', tarStdin: true };
  const old = { version: '1.47.0', tarStdin: false, tarProblem: 'e2fsprogs 1.47.0 is older than 1.47.1' };
  const noLibarchive = { version: '1.47.2', tarStdin: false, tarProblem: 'mkfs.ext4 cannot load libarchive' };

  it('defaults to tar when mkfs reads it, dir otherwise', () => {
    expect(choosePopulate(undefined, modern)).toBe('tar');
    expect(choosePopulate(undefined, old)).toBe('dir');
    expect(choosePopulate(undefined, noLibarchive)).toBe('dir');
  });

  it('honours an explicit choice that can work', () => {
    expect(choosePopulate('dir', modern)).toBe('dir');
    expect(choosePopulate('tar', modern)).toBe('tar');
  });

  it('refuses tar on e2fsprogs older than 1.47.1 with ERR_TOOL_TOO_OLD', () => {
    expect(() => choosePopulate('tar', old)).toThrow(expect.objectContaining({ code: 'ERR_TOOL_TOO_OLD', message: expect.stringContaining('1.47.0') }));
  });

  it('refuses tar without libarchive with ERR_TOOL_MISSING', () => {
    expect(() => choosePopulate('tar', noLibarchive)).toThrow(expect.objectContaining({ code: 'ERR_TOOL_MISSING', message: expect.stringContaining('libarchive') }));
  });
});

describe('finding the tools', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rootforge-tools-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('searches PATH first, then the sbin directories', () => {
    expect(searchDirs('/a:/b:/usr/sbin')).toEqual(['/a', '/b', '/usr/sbin', '/usr/local/sbin', '/sbin']);
  });

  it('finds mkfs.ext4 in sbin even when PATH lacks it, as for many non-root users', async () => {
    const tools = await detectE2fsprogs(undefined, { pathEnv: '/usr/bin:/bin' });
    expect(tools.mkfs).toMatch(/sbin\/(mkfs\.ext4|mke2fs)$/);
    expect(tools.debugfs).toMatch(/debugfs$/);
    expect(tools.version).toMatch(/^1\.\d+/);
    expect(tools.tarStdin).toBe(compareVersions(tools.version, '1.47.1') >= 0);
  });

  it('prefers a tool on PATH', async () => {
    const real = (await findTool(['debugfs'])) as string;
    await symlink(real, join(dir, 'debugfs'));
    expect(await findTool(['debugfs'], searchDirs(dir))).toBe(join(dir, 'debugfs'));
  });

  it('reports ERR_TOOL_MISSING, naming the package, when e2fsprogs is absent', async () => {
    await expect(detectE2fsprogs(undefined, { dirs: [join(dir, 'empty')] })).rejects.toMatchObject({
      code: 'ERR_TOOL_MISSING',
      message: expect.stringContaining('mkfs.ext4'),
      hint: expect.stringMatching(/apt-get install e2fsprogs.*dnf install e2fsprogs.*apk add e2fsprogs/),
    });
  });
});
