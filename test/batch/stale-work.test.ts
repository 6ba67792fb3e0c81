import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanStaleWork } from '../../src/batch/stale-work.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('cleanStaleWork', () => {
  it('removes staging dirs, temp images and temp sidecars of dead processes only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rootforge-stale-test-'));
    dirs.push(dir);
    const dead = 999_999;
    await mkdir(join(dir, `rootforge-${dead}-0123abcd-xyz`));
    await writeFile(join(dir, `.img.ext4.${dead}-0123abcd.tmp`), '');
    await writeFile(join(dir, `.img.json.${dead}-0123abcd.tmp`), '{');
    await writeFile(join(dir, `.img.json.${process.pid}-0123abcd.tmp`), '{');
    await mkdir(join(dir, `rootforge-${process.pid}-0123abcd-live`));
    await writeFile(join(dir, `.img.ext4.${process.pid}-0123abcd.tmp`), '');
    await writeFile(join(dir, 'img.ext4'), 'a finished output');
    await mkdir(join(dir, 'rootforge-registry-unrelated'));
    const removed = await cleanStaleWork([dir]);
    expect(removed.sort()).toEqual([join(dir, `.img.ext4.${dead}-0123abcd.tmp`), join(dir, `.img.json.${dead}-0123abcd.tmp`), join(dir, `rootforge-${dead}-0123abcd-xyz`)].sort());
    expect((await readdir(dir)).sort()).toEqual([`.img.ext4.${process.pid}-0123abcd.tmp`, `.img.json.${process.pid}-0123abcd.tmp`, 'img.ext4', `rootforge-${process.pid}-0123abcd-live`, 'rootforge-registry-unrelated'].sort());
  });
});
