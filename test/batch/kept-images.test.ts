import { execa } from 'execa';
import { appendFile, mkdir, mkdtemp, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, type BuildOptions } from '../../src/batch/build.js';
import type { Sidecar } from '../../src/batch/sidecar.js';
import { OciLayout } from '../../src/cache/layout.js';
import { pruneCache } from '../../src/cache/prune.js';
import { verifyCache } from '../../src/cache/verify.js';
import { KEPT_IMAGES_DIR } from '../../src/cache/kept-images.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { buildLayer, pushImage } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { e2fsckClean, readExt4Tree } from '../helpers/ext4-read.js';
import { CLI_MAIN } from '../helpers/cli.js';

let reg: TestRegistry;
let dir: string;
let ref: string;
let alias: string;

beforeAll(async () => {
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'rootforge-kept-'));
  const layer = await buildLayer([
    { name: 'etc/os-release', content: 'ID=debian\n' },
    { name: 'usr/lib/systemd/systemd', content: 'init', mode: 0o755 },
    { name: 'srv/data', content: 'x'.repeat(300_000) },
  ]);
  await pushImage(reg, 'kept/app', 'v1', { layers: [layer] });
  // The same manifest under a second name: one build key, two outputs with their own sidecars.
  await pushImage(reg, 'kept/app', 'alias', { layers: [layer] });
  ref = `${reg.host}/kept/app:v1`;
  alias = `${reg.host}/kept/app:alias`;
});
afterAll(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

const cacheDir = (): string => join(dir, 'cache');
const keptDir = (): string => join(cacheDir(), KEPT_IMAGES_DIR);
const run = (refs: string[], out: string, extra: Partial<BuildOptions> = {}) => build({ refs, outDir: join(dir, out), cacheDir: cacheDir(), inject: false, ...extra });
const keptImages = async (): Promise<string[]> => (await readdir(keptDir()).catch(() => [] as string[])).filter((n) => n.endsWith('.ext4'));

describe('kept images', () => {
  it('keeps a build as a hard link to its output, costing no second copy', async () => {
    const result = await run([ref], 'out1');
    expect(result.images[0]).toMatchObject({ status: 'ok' });
    expect(result.images[0]?.fromCache).toBeUndefined();
    const kept = await keptImages();
    expect(kept).toHaveLength(1);
    const [output, entry] = await Promise.all([stat(join(dir, 'out1', 'app-v1.ext4')), stat(join(keptDir(), kept[0] as string))]);
    expect(entry.ino).toBe(output.ino);
    expect(output.nlink).toBe(2);
  });

  it('hands out the kept image itself once no output links it, and copies it while one does, each with its own sidecar', async () => {
    const original = await readFile(join(dir, 'out1', 'app-v1.ext4'));
    const first = JSON.parse(await readFile(join(dir, 'out1', 'app-v1.json'), 'utf8')) as Sidecar;
    // Deleting the output it was linked to leaves the entry usable, and nothing else shares its bytes.
    await rm(join(dir, 'out1'), { recursive: true });
    const entry = join(keptDir(), (await keptImages())[0] as string);
    const result = await run([alias], 'out2');
    const image = result.images[0];
    expect(image).toMatchObject({ status: 'ok', fromCache: true });
    expect(Object.keys(image?.seconds ?? {})).not.toContain('mkfs');
    const linked = join(dir, 'out2', 'app-alias.ext4');
    const [linkedStat, entryStat] = await Promise.all([stat(linked), stat(entry)]);
    expect(linkedStat.ino).toBe(entryStat.ino);
    expect(linkedStat.nlink).toBe(2);
    // With that output still there, the next one is a copy of its own: booting one must not change the other.
    const again = await run([alias], 'out2b');
    expect(again.images[0]).toMatchObject({ status: 'ok', fromCache: true });
    const copy = join(dir, 'out2b', 'app-alias.ext4');
    expect((await stat(copy)).nlink).toBe(1);
    expect((await stat(copy)).ino).not.toBe(entryStat.ino);
    for (const out of [linked, copy]) {
      expect((await readFile(out)).equals(original)).toBe(true);
      await e2fsckClean(out);
    }
    expect((await readExt4Tree(copy)).get('srv/data')?.size).toBe(300_000);
    const second = JSON.parse(await readFile(join(dir, 'out2', 'app-alias.json'), 'utf8')) as Sidecar;
    expect(second).toEqual({ ...first, ref: alias, name: alias });
    expect(image?.sha256).toBe(first.sha256);
    expect(again.images[0]?.sha256).toBe(first.sha256);
  });

  it('copies an unshared entry that a process holds a lock on, as QEMU and Cloud Hypervisor hold their disks', async () => {
    // out2 linked the entry; deleted, as under a VM still running on it.
    await rm(join(dir, 'out2'), { recursive: true });
    const entry = join(keptDir(), (await keptImages())[0] as string);
    expect((await stat(entry)).nlink).toBe(1);
    // One process holds the lock (the shell execs into sleep with the locked descriptor), so killing it releases it.
    const holder = execa('sh', ['-c', 'exec 9<"$1" && flock --shared 9 && exec sleep 60', 'sh', entry]);
    holder.catch(() => undefined);
    try {
      await expect.poll(async () => (await readFile('/proc/locks', 'utf8')).includes(`:${(await stat(entry)).ino} `)).toBe(true);
      const result = await run([alias], 'out2c');
      expect(result.images[0]).toMatchObject({ status: 'ok', fromCache: true });
      const copy = await stat(join(dir, 'out2c', 'app-alias.ext4'));
      expect(copy.nlink).toBe(1);
      expect(copy.ino).not.toBe((await stat(entry)).ino);
    } finally {
      holder.kill();
    }
  });

  it('drops an entry whose output was written to since, and builds the image again, identical', async () => {
    // --force links a fresh output to the entry.
    await run([ref], 'out1', { force: true });
    const original = join(dir, 'out1', 'app-v1.ext4');
    expect((await stat(original)).nlink).toBe(2);
    const before = await readFile(original);
    // What booting the output does to the shared inode.
    await appendFile(original, Buffer.alloc(4096, 1));
    // That is not damage: cache verify passes over the entry, and the build below drops it.
    expect(await verifyCache(await OciLayout.open(cacheDir()))).toMatchObject({ keptImagesChecked: 0, badKeptImages: [] });
    const result = await run([ref], 'out3');
    expect(result.images[0]).toMatchObject({ status: 'ok' });
    expect(result.images[0]?.fromCache).toBeUndefined();
    expect((await readFile(join(dir, 'out3', 'app-v1.ext4'))).equals(before)).toBe(true);
    // The fresh build is kept in its place.
    const entry = await stat(join(keptDir(), (await keptImages())[0] as string));
    expect(entry.ino).toBe((await stat(join(dir, 'out3', 'app-v1.ext4'))).ino);
  });

  it('re-hashes every copy: a kept image whose bytes rotted is found by cache verify and never used', async () => {
    const [name] = await keptImages();
    const entry = join(keptDir(), name as string);
    const recordPath = entry.replace(/\.ext4$/, '.json');
    // Flip bytes in place, then make the record agree with the new mtime, as silent corruption would.
    const handle = await open(entry, 'r+');
    await handle.write(Buffer.from('rot'), 0, 3, 2048);
    await handle.close();
    const record = JSON.parse(await readFile(recordPath, 'utf8')) as { mtimeNs: string };
    record.mtimeNs = (await stat(entry, { bigint: true })).mtimeNs.toString();
    await writeFile(recordPath, JSON.stringify(record));

    const layout = await OciLayout.open(cacheDir());
    const report = await verifyCache(layout);
    expect(report).toMatchObject({ keptImagesChecked: 1, badKeptImages: [entry] });

    const result = await run([ref], 'out4');
    expect(result.images[0]).toMatchObject({ status: 'ok' });
    expect(result.images[0]?.fromCache).toBeUndefined();
    const built = await readFile(join(dir, 'out4', 'app-v1.ext4'));
    expect(built.subarray(2048, 2051).toString()).not.toBe('rot');
    await e2fsckClean(join(dir, 'out4', 'app-v1.ext4'));
    expect((await verifyCache(layout)).badKeptImages).toEqual([]);
  });

  it('re-hashes an entry it would hand out itself: rotted, it never becomes the output', async () => {
    // --force keeps a fresh entry linked to out9 alone; deleting out9 leaves the entry unshared.
    await run([ref], 'out9', { force: true });
    await rm(join(dir, 'out9'), { recursive: true });
    const entry = join(keptDir(), (await keptImages())[0] as string);
    expect((await stat(entry)).nlink).toBe(1);
    const handle = await open(entry, 'r+');
    await handle.write(Buffer.from('rot'), 0, 3, 2048);
    await handle.close();
    const recordPath = entry.replace(/\.ext4$/, '.json');
    const record = JSON.parse(await readFile(recordPath, 'utf8')) as { mtimeNs: string; facts: { sha256: string } };
    record.mtimeNs = (await stat(entry, { bigint: true })).mtimeNs.toString();
    await writeFile(recordPath, JSON.stringify(record));

    const result = await run([ref], 'out10');
    expect(result.images[0]).toMatchObject({ status: 'ok' });
    expect(result.images[0]?.fromCache).toBeUndefined();
    // Built again, reproducibly: the bytes the entry had before it rotted (ext4 may give the new file the freed inode's number).
    const output = join(dir, 'out10', 'app-v1.ext4');
    expect(sha256Digest(await readFile(output))).toBe(record.facts.sha256);
    expect(result.images[0]?.sha256).toBe(record.facts.sha256);
    await e2fsckClean(output);
  });

  it('neither uses nor keeps images with --no-image-cache, uses none with --force or --check, and keeps per build key', async () => {
    const off = await run([ref], 'out5', { imageCache: false });
    expect(off.images[0]?.fromCache).toBeUndefined();
    expect((await stat(join(dir, 'out5', 'app-v1.ext4'))).nlink).toBe(1);
    const forced = await run([ref], 'out6', { force: true });
    expect(forced.images[0]?.fromCache).toBeUndefined();
    const checked = await run([ref], 'out6', { check: true });
    expect(checked.images[0]).toMatchObject({ status: 'ok' });
    expect(checked.images[0]?.fromCache).toBeUndefined();
    // Other options make another image: a second entry, not a copy of the first.
    const roomier = await run([ref], 'out7', { headroomPercent: 80 });
    expect(roomier.images[0]?.fromCache).toBeUndefined();
    expect(await keptImages()).toHaveLength(2);
    expect((await run([ref], 'out8', { headroomPercent: 80 })).images[0]?.fromCache).toBe(true);
  });

  it('prune keeps entries of cached images, removes those of images no ref names, and --images removes all', async () => {
    const layout = await OciLayout.open(cacheDir());
    expect((await pruneCache(layout, { graceMs: 0 })).keptImages).toBe(0);
    expect(await keptImages()).toHaveLength(2);
    const cli = await execa(process.execPath, [CLI_MAIN, 'cache', 'prune', '--images', '--cache-dir', cacheDir(), '--json']);
    expect(JSON.parse(cli.stdout)).toMatchObject({ keptImages: 2 });
    expect(await keptImages()).toHaveLength(0);
    await run([ref], 'out9', { force: true });
    expect(await keptImages()).toHaveLength(1);
    const indexPath = join(cacheDir(), 'index.json');
    const index = JSON.parse(await readFile(indexPath, 'utf8')) as { manifests: unknown[] };
    await writeFile(indexPath, JSON.stringify({ ...index, manifests: [] }));
    const report = await pruneCache(layout, { graceMs: 0 });
    expect(report.keptImages).toBe(1);
    expect(await keptImages()).toHaveLength(0);
    expect(await readdir(keptDir())).toEqual([]);
    // An image whose record never got written (a crash between link and record) is an orphan.
    await writeFile(join(keptDir(), `${'a'.repeat(64)}.ext4`), Buffer.alloc(8192, 1));
    expect((await pruneCache(layout, { graceMs: 60_000 })).keptImages).toBe(0);
    expect(await pruneCache(layout, { graceMs: 0 })).toMatchObject({ keptImages: 1, freedBytes: 8192 });
    expect(await readdir(keptDir())).toEqual([]);
  });

  it('keeps nothing, and says nothing, when the output is on another filesystem than the cache', async () => {
    const out = join(dir, 'tmpfs-out');
    const cache = join(dir, 'cache-exdev');
    await mkdir(out);
    // A tmpfs in a user+mount namespace, so this runs unprivileged too.
    const script = `mount -t tmpfs tmpfs '${out}' && node '${CLI_MAIN}' build '${ref}' --out '${out}' --cache-dir '${cache}' --no-inject --json && ls -A '${out}'`;
    const shell = await execa('unshare', ['-rm', 'sh', '-c', script], { reject: false });
    expect(shell.exitCode, shell.stderr).toBe(0);
    expect(shell.stdout).toContain('"status": "ok"');
    expect(shell.stdout).toContain('app-v1.ext4');
    expect(shell.stderr).not.toContain('could not keep');
    expect(await readdir(join(cache, KEPT_IMAGES_DIR)).catch(() => [])).toEqual([]);
  });
});
