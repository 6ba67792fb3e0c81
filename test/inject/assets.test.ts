import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ASSET_FILES, assetPath, assetsDir, findAssetsDir } from '../../src/inject/assets.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootforge-assets-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('assets', () => {
  it('finds assets/ next to package.json from the source tree', () => {
    expect(assetsDir()).toBe(fileURLToPath(new URL('../../assets', import.meta.url)));
    for (const name of Object.keys(ASSET_FILES) as Array<keyof typeof ASSET_FILES>) expect(existsSync(assetPath(name)), name).toBe(true);
  });

  it('walks up from a compiled dist/src/inject directory', async () => {
    await mkdir(join(dir, 'pkg/dist/src/inject'), { recursive: true });
    await mkdir(join(dir, 'pkg/assets'));
    await writeFile(join(dir, 'pkg/package.json'), '{}');
    expect(findAssetsDir(join(dir, 'pkg/dist/src/inject'))).toBe(join(dir, 'pkg/assets'));
  });

  it('skips a package.json without assets/ beside it', async () => {
    await mkdir(join(dir, 'pkg/node_modules/dep/lib'), { recursive: true });
    await writeFile(join(dir, 'pkg/node_modules/dep/package.json'), '{}');
    await mkdir(join(dir, 'pkg/assets'));
    await writeFile(join(dir, 'pkg/package.json'), '{}');
    expect(findAssetsDir(join(dir, 'pkg/node_modules/dep/lib'))).toBe(join(dir, 'pkg/assets'));
  });

  it('fails with ERR_INTERNAL when there is none', () => {
    expect(() => findAssetsDir(dir)).toThrow(expect.objectContaining({ code: 'ERR_INTERNAL' }));
  });
});
