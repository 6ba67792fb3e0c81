import { cp, mkdir, readFile, rm, symlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir as makeTemp } from '../helpers/tar.js';

const ROOT = join(import.meta.dirname, '../..');
const EXAMPLE = `oci:${join(ROOT, 'test/fixtures/example-oci')}:latest`;
const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tempDir(): Promise<string> {
  const dir = await makeTemp('rootforge-bundle-');
  dirs.push(dir);
  return dir;
}

/** An install holding the bin and the bundle only: no dist/src modules, no dist/workers. */
async function bundleOnlyInstall(): Promise<string> {
  const pkg = await tempDir();
  await mkdir(join(pkg, 'dist/src/cli'), { recursive: true });
  await cp(join(ROOT, 'dist/bundle'), join(pkg, 'dist/bundle'), { recursive: true });
  await cp(join(ROOT, 'dist/src/cli/launch.js'), join(pkg, 'dist/src/cli/launch.js'));
  await cp(join(ROOT, 'package.json'), join(pkg, 'package.json'));
  await symlink(join(ROOT, 'assets'), join(pkg, 'assets'));
  await symlink(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
  return pkg;
}

interface Built {
  images: { status: string; sha256?: string }[];
}

async function build(cli: string, work: string): Promise<Built> {
  const { stdout } = await execa('node', [cli, 'build', EXAMPLE, '--out', join(work, 'out'), '--cache-dir', join(work, 'cache'), '--work-dir', work, '--json', '--quiet']);
  return JSON.parse(stdout) as Built;
}

describe('the bundled CLI', () => {
  it('is built by npm run build, CLI and layer worker both', () => {
    expect(existsSync(join(ROOT, 'dist/bundle/rootforge.js'))).toBe(true);
    expect(existsSync(join(ROOT, 'dist/bundle/layer-worker.js'))).toBe(true);
  });

  it('builds, from a cold cache and with its own worker, the image the compiled modules build', async () => {
    const pkg = await bundleOnlyInstall();
    const [work1, work2] = [await tempDir(), await tempDir()];
    const bundled = await build(join(pkg, 'dist/src/cli/launch.js'), work1);
    const compiled = await build(join(ROOT, 'dist/src/cli/main.js'), work2);
    expect(bundled.images[0]).toMatchObject({ status: 'ok' });
    expect(compiled.images[0]).toMatchObject({ status: 'ok' });
    expect(bundled.images[0]!.sha256).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(bundled.images[0]!.sha256).toBe(compiled.images[0]!.sha256);
  });

  it('falls back to the compiled modules when there is no bundle', async () => {
    const pkg = await tempDir();
    await cp(join(ROOT, 'dist/src'), join(pkg, 'dist/src'), { recursive: true });
    await cp(join(ROOT, 'package.json'), join(pkg, 'package.json'));
    await symlink(join(ROOT, 'assets'), join(pkg, 'assets'));
    await symlink(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
    const { stdout } = await execa('node', [join(pkg, 'dist/src/cli/launch.js'), '--version']);
    expect(stdout.trim()).toBe((JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });
});
