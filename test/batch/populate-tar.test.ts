import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { mkfsFromPlan } from '../../src/batch/populate-tar.js';
import { computeImageSize } from '../../src/ext4/size.js';
import { mergedTarStream } from '../../src/layer/merged-tar.js';
import { planRootfs, type RootfsPlan } from '../../src/layer/plan.js';
import { debugfs, e2fsck } from '../layer/e2fs.js';
import { failure, layersOf, scratch } from '../layer/support.js';
import { writeLayers } from '../helpers/tar.js';

const OPTS = { uuid: '6a1e1c3e-52a4-4f0c-9d55-9a3f2d3c8b11', hashSeed: '0b0c9f2e-2f59-4e8b-8a9c-13f7c1b6d2aa', env: { SOURCE_DATE_EPOCH: '1700000000' } };

async function tarBytes(plan: RootfsPlan): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await pipeline(mergedTarStream(plan), new Writable({ write: (chunk: Buffer, _e, cb) => (chunks.push(chunk), cb()) }));
  return Buffer.concat(chunks);
}

async function setup(content = 'hello from the layer\n'): Promise<{ dir: string; plan: RootfsPlan; store: { path: string; tempDir: string } }> {
  const dir = await scratch();
  const plan = await planRootfs(await layersOf([{ name: 'etc', type: 'directory' }, { name: 'etc/motd', content }]));
  return { dir, plan, store: { path: join(dir, 'flattened', 'chain.tar'), tempDir: dir } };
}

const motd = (image: string): string => debugfs(image, 'cat /etc/motd');

describe('mkfs from the merged tar as a file on stdin', () => {
  it('writes the merged tar, builds a clean image from it, and keeps exactly that tar', async () => {
    const { dir, plan, store } = await setup();
    const image = join(dir, 'a.ext4');
    await mkfsFromPlan(image, computeImageSize(plan.entries()), plan, store, OPTS);
    expect(e2fsck(image).code).toBe(0);
    expect(motd(image)).toBe('hello from the layer\n');
    expect((await readFile(store.path)).equals(await tarBytes(plan))).toBe(true);
    expect((await readdir(dir)).filter((name) => name.endsWith('.tar'))).toEqual([]);
  });

  it('builds from the kept tar on the next run instead of writing it again', async () => {
    const { dir, plan, store } = await setup();
    const first = join(dir, 'first.ext4');
    await mkfsFromPlan(first, computeImageSize(plan.entries()), plan, store, OPTS);
    // Swap in another chain's tar: an image that shows its content proves the kept file was read.
    const other = await setup('other content\n');
    await mkfsFromPlan(join(other.dir, 'o.ext4'), computeImageSize(other.plan.entries()), other.plan, other.store, OPTS);
    await copyFile(other.store.path, store.path);
    const second = join(dir, 'second.ext4');
    await mkfsFromPlan(second, computeImageSize(plan.entries()), plan, store, OPTS);
    expect(motd(second)).toBe('other content\n');
  });

  it('drops a kept tar mkfs cannot read and writes it afresh', async () => {
    const { dir, plan, store } = await setup();
    await mkdir(dirname(store.path), { recursive: true });
    await writeFile(store.path, Buffer.alloc(4096, 0x41));
    const image = join(dir, 'rewritten.ext4');
    await mkfsFromPlan(image, computeImageSize(plan.entries()), plan, store, OPTS);
    expect(motd(image)).toBe('hello from the layer\n');
    expect((await readFile(store.path)).equals(await tarBytes(plan))).toBe(true);
  });

  it('pipes the tar instead when the cache refuses the file, and keeps nothing', async () => {
    const { dir, plan } = await setup();
    const image = join(dir, 'piped.ext4');
    // /sys refuses new files even to root (EACCES).
    await mkfsFromPlan(image, computeImageSize(plan.entries()), plan, { path: join(dir, 'kept.tar'), tempDir: '/sys' }, OPTS);
    expect(e2fsck(image).code).toBe(0);
    expect(motd(image)).toBe('hello from the layer\n');
    await expect(stat(join(dir, 'kept.tar'))).rejects.toThrow();
  });

  it('fails on a layer that changed since it was indexed, leaving no kept tar and no temp file', async () => {
    const dir = await scratch();
    const layers = await layersOf([{ name: 'a', content: 'one' }]);
    const plan = await planRootfs(layers);
    const [changed] = await writeLayers(await scratch(), [[{ name: 'a', content: 'three' }]]);
    await copyFile(changed!.path, layers[0]!.path);
    const store = { path: join(dir, 'kept.tar'), tempDir: dir };
    const err = await failure(mkfsFromPlan(join(dir, 'x.ext4'), computeImageSize(plan.entries()), plan, store, OPTS));
    expect(err.code).toBe('ERR_BAD_LAYER');
    expect((await readdir(dir)).filter((name) => name.endsWith('.tar'))).toEqual([]);
    await rm(join(dir, 'x.ext4'), { force: true });
  });
});
