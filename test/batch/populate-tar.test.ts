import { copyFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { mkfsFromPlan } from '../../src/batch/populate-tar.js';
import { computeImageSize } from '../../src/ext4/size.js';
import * as mkfs from '../../src/ext4/mkfs.js';
import * as mergedTarFile from '../../src/layer/merged-tar-file.js';
import { planRootfs, type RootfsPlan } from '../../src/layer/plan.js';
import { debugfs, e2fsck } from '../layer/e2fs.js';
import { failure, layersOf, scratch } from '../layer/support.js';
import { writeLayers } from '../helpers/tar.js';

const OPTS = { uuid: '6a1e1c3e-52a4-4f0c-9d55-9a3f2d3c8b11', hashSeed: '0b0c9f2e-2f59-4e8b-8a9c-13f7c1b6d2aa', env: { SOURCE_DATE_EPOCH: '1700000000' } };

async function setup(content = 'hello from the layer\n'): Promise<{ dir: string; plan: RootfsPlan }> {
  const dir = await scratch();
  const plan = await planRootfs(await layersOf([{ name: 'etc', type: 'directory' }, { name: 'etc/motd', content }]));
  return { dir, plan };
}

const motd = (image: string): string => debugfs(image, 'cat /etc/motd');
const tarsIn = async (dir: string): Promise<string[]> => (await readdir(dir)).filter((name) => name.endsWith('.tar'));

describe('mkfs from the merged tar as a file on stdin', () => {
  it('writes the merged tar to a temp file, builds a clean image from it, and leaves no tar behind', async () => {
    const { dir, plan } = await setup();
    const image = join(dir, 'a.ext4');
    const written = vi.spyOn(mergedTarFile, 'writeMergedTarFile');
    await mkfsFromPlan(image, computeImageSize(plan.entries()), plan, dir, OPTS);
    expect(written).toHaveBeenCalledOnce();
    written.mockRestore();
    expect(e2fsck(image).code).toBe(0);
    expect(motd(image)).toBe('hello from the layer\n');
    expect(await tarsIn(dir)).toEqual([]);
  });

  it('holds the tar open but unnamed while mkfs reads it', async () => {
    const { dir, plan } = await setup();
    let namesDuringMkfs: string[] | undefined;
    const realMkfs = mkfs.mkfsFromTarFile;
    const reading = vi.spyOn(mkfs, 'mkfsFromTarFile').mockImplementation(async (...args) => {
      namesDuringMkfs = await tarsIn(dir);
      return realMkfs(...args);
    });
    const image = join(dir, 'b.ext4');
    await mkfsFromPlan(image, computeImageSize(plan.entries()), plan, dir, OPTS);
    reading.mockRestore();
    expect(namesDuringMkfs).toEqual([]);
    expect(motd(image)).toBe('hello from the layer\n');
  });

  it('pipes the tar instead when the temp dir refuses the file', async () => {
    const { dir, plan } = await setup();
    const image = join(dir, 'piped.ext4');
    const piped = vi.spyOn(mkfs, 'mkfsFromTar');
    // /sys refuses new files even to root (EACCES).
    await mkfsFromPlan(image, computeImageSize(plan.entries()), plan, '/sys', OPTS);
    expect(piped).toHaveBeenCalledOnce();
    piped.mockRestore();
    expect(e2fsck(image).code).toBe(0);
    expect(motd(image)).toBe('hello from the layer\n');
  });

  it('fails on a layer that changed since it was indexed, leaving no temp file', async () => {
    const dir = await scratch();
    const layers = await layersOf([{ name: 'a', content: 'one' }]);
    const plan = await planRootfs(layers);
    const [changed] = await writeLayers(await scratch(), [[{ name: 'a', content: 'three' }]]);
    await copyFile(changed!.path, layers[0]!.path);
    const err = await failure(mkfsFromPlan(join(dir, 'x.ext4'), computeImageSize(plan.entries()), plan, dir, OPTS));
    expect(err.code).toBe('ERR_BAD_LAYER');
    expect(await tarsIn(dir)).toEqual([]);
    await rm(join(dir, 'x.ext4'), { force: true });
  });
});
