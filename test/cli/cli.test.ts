import { execa } from 'execa';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '../../src/cache/layout.js';
import { buildLayer, pushImage, type PushedImage } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { readExt4Tree } from '../helpers/ext4-read.js';

import { CLI_MAIN as MAIN } from '../helpers/cli.js';
let reg: TestRegistry;
let dir: string;
let image: PushedImage;

function rootforge(args: string[], opts: { env?: Record<string, string> } = {}) {
  return execa('node', [MAIN, ...args], { reject: false, env: { ...opts.env, NO_COLOR: '1' } });
}

beforeAll(async () => {
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'rootforge-cli-'));
  const layer = await buildLayer([{ name: 'etc/hostname', content: 'cli\n' }, { name: 'usr/lib/systemd/systemd', content: 'x', mode: 0o755 }]);
  image = await pushImage(reg, 'cli/img', 'v1', { layers: [layer] });
});
afterAll(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('rootforge CLI', () => {
  it('answers --help with 0 on every command, and usage errors with 2', async () => {
    for (const args of [['--help'], ['warm', '--help'], ['build', '--help'], ['cache', '--help'], ['cache', 'ls', '--help'], ['cache', 'verify', '--help'], ['cache', 'prune', '--help'], ['doctor', '--help'], ['inspect', '--help'], ['completion', '--help']]) {
      const run = await rootforge(args);
      expect(run.exitCode, args.join(' ')).toBe(0);
      expect(run.stdout).toContain('Usage: rootforge');
    }
    expect((await rootforge(['build', '--bogus'])).exitCode).toBe(2);
    expect((await rootforge(['warm'])).exitCode).toBe(2);
    expect((await rootforge(['warm', 'UPPER/Case'])).exitCode).toBe(2);
    expect((await rootforge(['nosuchcommand'])).exitCode).toBe(2);
  });

  it('warm --json prints one document on stdout and logs on stderr; exit 1 when an image fails', async () => {
    const cache = join(dir, 'cache');
    const run = await rootforge(['warm', `${reg.host}/cli/img:v1`, `${reg.host}/cli/missing:v1`, '--cache-dir', cache, '--json', '--retries', '0']);
    expect(run.exitCode).toBe(1);
    const doc = JSON.parse(run.stdout) as { images: Record<string, unknown>[] };
    expect(doc.images[0]).toMatchObject({ ref: `${reg.host}/cli/img:v1`, status: 'ok', manifestDigest: image.manifestDigest, configDigest: image.configDigest, layers: [{ digest: image.layers[0]?.digest }] });
    expect(doc.images[1]).toMatchObject({ status: 'failed', error: { code: 'ERR_MANIFEST_UNKNOWN' } });
    expect(run.stderr).toContain('ERR_MANIFEST_UNKNOWN');

    const ls = await rootforge(['cache', 'ls', '--cache-dir', cache, '--json']);
    expect(JSON.parse(ls.stdout).images[0]).toMatchObject({ name: `${reg.host}/cli/img:v1`, complete: true });
  });

  it('two processes warming overlapping images on one cache both succeed, reading --file lists', async () => {
    const cache = join(dir, 'cache-shared');
    const list = join(dir, 'refs.txt');
    await writeFile(list, `# images to warm\n${reg.host}/cli/img:v1\n\n${reg.host}/cli/img@${image.manifestDigest}  # same image by digest\n`);
    const [a, b] = await Promise.all([
      rootforge(['warm', '--file', list, '--cache-dir', cache, '--json']),
      rootforge(['warm', `${reg.host}/cli/img:v1`, '--cache-dir', cache, '--json']),
    ]);
    expect(a.exitCode, a.stderr).toBe(0);
    expect(b.exitCode, b.stderr).toBe(0);
    expect((JSON.parse(a.stdout) as { images: unknown[] }).images).toHaveLength(2);
    const verify = await rootforge(['cache', 'verify', '--cache-dir', cache]);
    expect(verify.exitCode, verify.stdout).toBe(0);
    const layout = await OciLayout.open(cache);
    expect(await readdir(layout.tempDir)).toEqual([]);
    expect((await layout.readIndex()).manifests).toHaveLength(2);
  });

  it('cache verify prints each bad blob and exits 1; --fix removes it', async () => {
    const cache = join(dir, 'cache-verify');
    expect((await rootforge(['warm', `${reg.host}/cli/img:v1`, '--cache-dir', cache, '-q'])).exitCode).toBe(0);
    expect((await rootforge(['cache', 'verify', '--cache-dir', cache])).exitCode).toBe(0);
    const layout = await OciLayout.open(cache);
    const digest = image.layers[0]?.digest as `sha256:${string}`;
    await writeFile(layout.blobPath(digest), 'corrupted');
    const bad = await rootforge(['cache', 'verify', '--cache-dir', cache]);
    expect(bad.exitCode).toBe(1);
    expect(bad.stdout.trim()).toBe(digest);
    expect((await rootforge(['cache', 'verify', '--cache-dir', cache, '--fix'])).exitCode).toBe(1);
    expect((await rootforge(['cache', 'verify', '--cache-dir', cache])).exitCode).toBe(0);
    // warm heals the cache again
    expect((await rootforge(['warm', `${reg.host}/cli/img:v1`, '--cache-dir', cache, '-q'])).exitCode).toBe(0);
    expect(await layout.hasBlob(digest)).toBe(true);
  });

  it('build --json reports outputs; --overlay and --inject land in the same batch', async () => {
    const overlay = join(dir, 'overlay');
    await mkdir(join(overlay, 'etc/app'), { recursive: true });
    await writeFile(join(overlay, 'etc/app/app.conf'), 'key=value\n');
    const spec = join(dir, 'inject.json');
    await writeFile(spec, JSON.stringify({ files: [{ path: '/etc/motd', content: 'hello\n', mode: '0600', uid: 1000, gid: 1000 }], symlinks: [{ path: '/etc/app/link', target: 'app.conf' }] }));
    const out = join(dir, 'out');
    const run = await rootforge(['build', `${reg.host}/cli/img:v1`, '--out', out, '--cache-dir', join(dir, 'cache'), '--json', '--overlay', overlay, '--overlay-owner', '10:20', '--inject', spec]);
    expect(run.exitCode, run.stderr).toBe(0);
    const doc = JSON.parse(run.stdout) as { images: { output: string; status: string }[] };
    expect(doc.images[0]).toMatchObject({ status: 'ok', output: join(out, 'img-v1.ext4') });
    expect(run.stderr).toContain('no --agent');
    const tree = await readExt4Tree(join(out, 'img-v1.ext4'));
    expect(tree.get('etc/app/app.conf')).toMatchObject({ uid: 10, gid: 20, size: 10 });
    expect(tree.get('etc/motd')).toMatchObject({ mode: 0o600, uid: 1000, gid: 1000, size: 6 });
    expect(tree.get('etc/app/link')).toMatchObject({ type: 'symlink', linkTarget: 'app.conf' });
    expect(tree.get('etc/systemd/system/multi-user.target.wants/rootforge-network.service')).toMatchObject({ type: 'symlink', linkTarget: '/etc/systemd/system/rootforge-network.service' });
    expect(tree.has('usr/local/bin/rootforge-vsock-agent')).toBe(false);
  });

  it('stops on SIGINT with exit 130 and leaves no half output or staging behind', async () => {
    const big = await buildLayer(Array.from({ length: 400 }, (_, i) => ({ name: `data/f${i}`, content: Buffer.alloc(64 * 1024, i) })));
    await pushImage(reg, 'cli/big', 'v1', { layers: [big] });
    const out = join(dir, 'out-int');
    const work = join(dir, 'work-int');
    await mkdir(work);
    const child = execa('node', [MAIN, 'build', `${reg.host}/cli/big:v1`, '--out', out, '--cache-dir', join(dir, 'cache-int'), '--work-dir', work, '--populate', 'dir'], { reject: false, env: { NO_COLOR: '1' } });
    let stderr = '';
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
      if (/: (stage|mkfs)/.test(stderr)) child.kill('SIGINT');
    });
    const result = await child;
    expect(result.exitCode, result.stderr).toBe(130);
    expect(await readdir(work)).toEqual([]);
    expect(await readdir(out).catch(() => [])).toEqual([]);
  });
});
