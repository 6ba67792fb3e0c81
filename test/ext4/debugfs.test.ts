import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DebugfsOp } from '../../src/ext4/debugfs-ops.js';
import { buildDebugfsScript } from '../../src/ext4/debugfs-script.js';
import { runDebugfs } from '../../src/ext4/debugfs.js';
import { mkfsFromDir } from '../../src/ext4/mkfs.js';
import { e2fsckClean, readExt4Tree } from '../helpers/ext4-read.js';

let dir: string;
let image: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootforge-debugfs-'));
  await mkdir(join(dir, 'staging/etc'), { recursive: true });
  await writeFile(join(dir, 'staging/etc/motd'), 'hello\n');
  image = join(dir, 'image.ext4');
  await mkfsFromDir(image, { bytes: 128 * 1024 * 1024, inodes: 65536 }, join(dir, 'staging'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('runDebugfs', () => {
  it('runs a script and tolerates mkdir of a directory that exists', async () => {
    await runDebugfs(image, buildDebugfsScript([{ op: 'mkdir', path: '/etc' }, { op: 'mkdir', path: '/srv' }]));
    expect((await readExt4Tree(image)).get('srv')?.type).toBe('dir');
  });

  it('throws ERR_TOOL_FAILED naming the failing command, though debugfs exits 0', async () => {
    const script = buildDebugfsScript([
      { op: 'set_inode_field', path: '/etc/motd', field: 'uid', value: 1 },
      { op: 'rm', path: '/no/such/file' },
    ]);
    await expect(runDebugfs(image, script)).rejects.toMatchObject({
      code: 'ERR_TOOL_FAILED',
      message: expect.stringMatching(/line 2 `rm "\/no\/such\/file"`: .*File not found/),
    });
  });

  it('throws on a command debugfs does not know', async () => {
    await expect(runDebugfs(image, 'frobnicate "/x"\n')).rejects.toMatchObject({ code: 'ERR_TOOL_FAILED', message: expect.stringMatching(/Command not found/) });
  });

  it('throws when the image is not ext4', async () => {
    const junk = join(dir, 'junk.img');
    await writeFile(junk, Buffer.alloc(1024 * 1024));
    await expect(runDebugfs(junk, 'mkdir "a"\n')).rejects.toMatchObject({ code: 'ERR_TOOL_FAILED', message: expect.stringMatching(/opening the image|Bad magic/) });
  });

  it('rejects an aborted signal with ERR_ABORTED', async () => {
    await expect(runDebugfs(image, 'mkdir "b"\n', { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });

  it('streams a 50k-line script (20k set_inode_field on 5k new files) and reports its timing', async () => {
    const host = join(dir, 'small');
    await writeFile(host, 'x');
    const ops: DebugfsOp[] = [{ op: 'mkdir', path: '/many' }];
    for (let i = 0; i < 5000; i++) ops.push({ op: 'write', hostPath: host, path: `/many/f${i}` });
    for (let i = 0; i < 5000; i++) {
      const path = `/many/f${i}`;
      ops.push({ op: 'set_inode_field', path, field: 'uid', value: 100000 + i });
      ops.push({ op: 'set_inode_field', path, field: 'gid', value: 1000 });
      ops.push({ op: 'set_inode_field', path, field: 'mode', value: 0o100600 });
      ops.push({ op: 'set_inode_field', path, field: 'mtime', value: 1_600_000_000 + i });
    }
    // Another 25k lines that only change what is already there, to pass 50k lines in one run.
    for (let i = 0; i < 25_000; i++) ops.push({ op: 'set_inode_field', path: `/many/f${i % 5000}`, field: 'gid', value: 1000 });
    const script = buildDebugfsScript(ops);
    const lines = script.split('\n').length - 1;
    const started = performance.now();
    await runDebugfs(image, script);
    const seconds = (performance.now() - started) / 1000;
    console.log(`debugfs: ${lines} lines (5000 write, 45000 set_inode_field) in ${seconds.toFixed(2)} s`);
    expect(lines).toBeGreaterThanOrEqual(50_000);
    await e2fsckClean(image);
    const nodes = await readExt4Tree(image);
    expect(nodes.get('many/f4999')).toMatchObject({ uid: 104999, gid: 1000, mode: 0o600, mtime: 1_600_004_999 });
  });
});
