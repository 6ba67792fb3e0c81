import { chmod, cp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { tempDir as makeTemp } from '../helpers/tar.js';
import { codeCachePath } from '../../src/cli/bundle-loader.js';

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
  for (const file of ['launch.js', 'bundle-loader.js']) await cp(join(ROOT, 'dist/src/cli', file), join(pkg, 'dist/src/cli', file));
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
    expect(existsSync(join(ROOT, 'dist/bundle/rootforge.cjs'))).toBe(true);
    expect(existsSync(join(ROOT, 'dist/bundle/layer-worker.js'))).toBe(true);
  });

  it('is plain ASCII, so V8 holds each bundle as a one-byte string and decodes it without the slow path', async () => {
    for (const name of ['rootforge.cjs', 'layer-worker.cjs']) {
      const bytes = await readFile(join(ROOT, 'dist/bundle', name));
      expect(bytes.findIndex((byte) => byte > 0x7f), name).toBe(-1);
    }
  });

  it('starts from a code cache beside it, written by the build or by the first run on another Node', async () => {
    const pkg = await bundleOnlyInstall();
    const loader = join(pkg, 'dist/src/cli/bundle-loader.js');
    const bundle = join(pkg, 'dist/bundle/rootforge.cjs');
    const probe = `const { loadBundle } = await import(${JSON.stringify(loader)}); const { cacheUsed, exports } = loadBundle(${JSON.stringify(bundle)}); console.log(JSON.stringify({ cacheUsed, run: typeof exports.run }));`;
    const load = async (env: Record<string, string> = {}): Promise<unknown> => JSON.parse((await execa('node', ['--input-type=module', '-e', probe], { env })).stdout);
    // CI runs the tests on Node 24 against a build made on Node 20: that first load writes the Node 24 cache.
    await load();
    expect(await load()).toEqual({ cacheUsed: true, run: 'function' });
    expect(await load({ NODE_DISABLE_COMPILE_CACHE: '1' })).toEqual({ cacheUsed: false, run: 'function' });
    expect(existsSync(codeCachePath(bundle, await readFile(bundle)))).toBe(true);
  });

  it('never uses the cache of another bundle of the same length', async () => {
    const pkg = await bundleOnlyInstall();
    const bundle = join(pkg, 'dist/bundle/rootforge.cjs');
    const before = await readFile(bundle, 'utf8');
    // V8 checks only the length of the source its cache was made from; a tab turned space keeps it.
    await writeFile(bundle, before.replace('\t', ' '));
    const loader = join(pkg, 'dist/src/cli/bundle-loader.js');
    const probe = `const { loadBundle } = await import(${JSON.stringify(loader)}); console.log(JSON.stringify(loadBundle(${JSON.stringify(bundle)}).cacheUsed));`;
    const load = async (): Promise<unknown> => JSON.parse((await execa('node', ['--input-type=module', '-e', probe])).stdout);
    expect(await load()).toBe(false);
    expect(await load()).toBe(true);
  });

  it('runs, compiling as usual, when the code cache is damaged or gone', async () => {
    const pkg = await bundleOnlyInstall();
    const version = (JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
    const bundle = join(pkg, 'dist/bundle/rootforge.cjs');
    const cache = codeCachePath(bundle, await readFile(bundle));
    await writeFile(cache, 'not a code cache');
    expect((await execa('node', [join(pkg, 'dist/src/cli/launch.js'), '--version'])).stdout.trim()).toBe(version);
    // The damaged cache was replaced by a good one.
    expect((await readFile(cache)).length).toBeGreaterThan(100_000);
    await rm(cache);
    // As nobody when the tests run as root, for whom a 0555 directory is still writable.
    await chmod(pkg, 0o755);
    await chmod(join(pkg, 'dist/bundle'), 0o555);
    try {
      // A read-only install runs without a cache and without complaint.
      const { stdout, stderr } = await execa('node', [join(pkg, 'dist/src/cli/launch.js'), '--version'], process.getuid?.() === 0 ? { uid: 65534, gid: 65534, env: { HOME: pkg } } : {});
      expect(stdout.trim()).toBe(version);
      expect(stderr).toBe('');
    } finally {
      await chmod(join(pkg, 'dist/bundle'), 0o755);
    }
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
