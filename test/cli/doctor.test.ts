import { execa } from 'execa';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecks } from '../../src/cli/commands/doctor.js';
import { CLI_MAIN } from '../helpers/cli.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootforge-doctor-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('rootforge doctor', () => {
  it('passes on this machine and exits 0', async () => {
    const run = await execa('node', [CLI_MAIN, 'doctor', '--cache-dir', join(dir, 'cache'), '--json'], { reject: false });
    expect(run.exitCode, run.stdout).toBe(0);
    const { checks } = JSON.parse(run.stdout) as { checks: { name: string; ok: boolean }[] };
    expect(checks.map((c) => c.name)).toEqual(expect.arrayContaining(['node', 'mkfs.ext4', 'debugfs', 'e2fsck', 'tune2fs', 'zstd', 'cache']));
    expect(checks.every((c) => c.ok), 'e2fsck, tune2fs and zstd are found too').toBe(true);
  });

  it('names the packages to install when e2fsprogs is missing', async () => {
    const empty = join(dir, 'empty');
    await execa('mkdir', ['-p', empty]);
    const checks = await runChecks(join(dir, 'cache2'), undefined, [empty]);
    const e2fs = checks.find((c) => c.name === 'e2fsprogs');
    expect(e2fs).toMatchObject({ ok: false, required: true });
    expect(e2fs?.detail).toMatch(/apt-get install e2fsprogs.*dnf install e2fsprogs.*apk add e2fsprogs/);
    // zstd only speeds zstd layers up: missing, it warns and says what to install.
    expect(checks.find((c) => c.name === 'zstd')).toMatchObject({ ok: false, required: false, detail: expect.stringContaining('install zstd') as unknown });
  });

  it('warns that builds fall back to the dir path when e2fsprogs is too old for tar input', async () => {
    const old = join(dir, 'old');
    await execa('mkdir', ['-p', old]);
    for (const tool of ['mkfs.ext4', 'debugfs']) {
      await writeFile(join(old, tool), '#!/bin/sh\necho "mke2fs 1.46.5 (30-Dec-2021)" >&2\n');
      await chmod(join(old, tool), 0o755);
    }
    const checks = await runChecks(join(dir, 'cache3'), undefined, [old]);
    expect(checks.find((c) => c.name === 'mkfs.ext4')).toMatchObject({ ok: true });
    const tar = checks.find((c) => c.name.startsWith('tar populate'));
    expect(tar).toMatchObject({ ok: false, required: false });
    expect(tar?.detail).toContain('1.46.5 is older than 1.47.1');
  });
});
