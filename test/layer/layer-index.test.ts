import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { decodeLayerIndex, encodeLayerIndex, layerIndex, scanLayer } from '../../src/layer/layer-index.js';
import { mergedTarStream } from '../../src/layer/merged-tar.js';
import { planRootfs } from '../../src/layer/plan.js';
import type { LayerSource } from '../../src/layer/types.js';
import { failure, layersOf, scratch } from './support.js';
import type { TarSpec } from '../helpers/tar.js';

const longName = `${'deep/'.repeat(30)}file.txt`;
const SPECS: TarSpec[] = [
  { name: 'etc', type: 'directory' },
  { name: 'etc/hostname', content: 'box\n' },
  { name: 'empty', content: '' },
  { name: 'big', content: Buffer.alloc(3 * 1024 * 1024 + 7, 0x61) },
  { name: longName, content: 'via PAX' },
  { name: `gnu/${'x'.repeat(150)}`, content: 'via GNU L', gnuLongNames: true },
  { name: 'caps', content: 'xattr', rawPax: [['SCHILY.xattr.security.capability', Buffer.from([1, 0, 0, 2, 0xff])]] },
  { name: 'link', type: 'link', linkname: 'etc/hostname' },
  { name: 'sym', type: 'symlink', linkname: '/etc/hostname' },
  { name: 'dev', type: 'character-device', devmajor: 1, devminor: 3 },
];

async function oneLayer(specs: TarSpec[] = SPECS): Promise<LayerSource> {
  const [layer] = await layersOf(specs);
  return { ...layer!, indexPath: join(await scratch(), 'index', 'layer') };
}

/** Everything the plan and the merged tar make of the layers, to compare a kept index with a fresh scan. */
async function outcome(layers: LayerSource[]): Promise<{ entries: unknown; tar: Buffer }> {
  const plan = await planRootfs(layers);
  const chunks: Buffer[] = [];
  await pipeline(mergedTarStream(plan), new Writable({ write: (chunk: Buffer, _e, cb) => (chunks.push(chunk), cb()) }));
  return { entries: plan.entries(), tar: Buffer.concat(chunks) };
}

describe('layer index', () => {
  it('records where each entry content starts, whatever headers come before it', async () => {
    const layer = await oneLayer();
    const index = await scanLayer(layer, 0);
    const tar = await readFile(layer.path);
    expect(index.tarBytes).toBe(tar.length);
    expect(index.entries.map((e) => e.meta.name)).toEqual(SPECS.map((s) => s.name));
    for (const [i, spec] of SPECS.entries()) {
      const { meta, offset } = index.entries[i]!;
      if (spec.content === undefined) continue;
      // Buffer.equals: vitest's deep equality walks a 3 MB buffer byte by byte.
      expect(tar.subarray(offset, offset + meta.size).equals(Buffer.from(spec.content)), spec.name).toBe(true);
    }
    expect(index.entries[6]!.meta.xattrs).toEqual({ 'security.capability': Buffer.from([1, 0, 0, 2, 0xff]) });
  });

  it('round-trips through its file form, and refuses a torn, edited or foreign one', async () => {
    const layer = await oneLayer();
    const index = await scanLayer(layer, 0);
    const text = encodeLayerIndex(layer.diffId, index);
    expect(decodeLayerIndex(text, layer.diffId)).toEqual(index);
    expect(decodeLayerIndex(text.slice(0, -10), layer.diffId)).toBeUndefined();
    expect(decodeLayerIndex(text.replace('etc/hostname', 'etc/hostnamf'), layer.diffId)).toBeUndefined();
    expect(decodeLayerIndex(text, 'sha256:other')).toBeUndefined();
    expect(decodeLayerIndex('', layer.diffId)).toBeUndefined();
  });

  it('is kept after the first scan and read back instead of scanning again', async () => {
    const layer = await oneLayer();
    const first = await layerIndex(layer, 0);
    const kept = decodeLayerIndex(await readFile(layer.indexPath!, 'utf8'), layer.diffId);
    expect(kept).toEqual(first);
    // A kept index that names the first entry differently, intact otherwise, shows the next call reads it and skips the tar.
    first.entries[0]!.meta.name = 'renamed';
    await writeFile(layer.indexPath!, encodeLayerIndex(layer.diffId, first));
    expect((await layerIndex(layer, 0)).entries[0]!.meta.name).toBe('renamed');
  });

  it('scans again, and rewrites the index, when the kept one is torn or describes a file of another size', async () => {
    const layer = await oneLayer();
    const good = await readFile((await layerIndex(layer, 0), layer.indexPath!), 'utf8');
    await writeFile(layer.indexPath!, good.slice(0, good.length / 2));
    expect((await layerIndex(layer, 0)).entries).toHaveLength(SPECS.length);
    expect(await readFile(layer.indexPath!, 'utf8')).toBe(good);
    const [other] = await layersOf([{ name: 'only', content: 'x' }]);
    await writeFile(layer.indexPath!, encodeLayerIndex(layer.diffId, await scanLayer(other!, 0)));
    expect((await layerIndex(layer, 0)).entries).toHaveLength(SPECS.length);
  });

  it('builds the same tree and the same merged tar from a kept index as from a scan', async () => {
    const layers = await layersOf(SPECS, [
      { name: 'etc/.wh.hostname', content: '' },
      { name: 'big', content: 'smaller now' },
      { name: 'new', content: 'added' },
    ]);
    const scanned = await outcome(layers);
    const dir = await scratch();
    const indexed = layers.map((l, i) => ({ ...l, indexPath: join(dir, `index-${i}`) }));
    expect(await outcome(indexed)).toEqual(scanned);
    expect(await outcome(indexed)).toEqual(scanned);
  });

  it('holds the entry limit whether it scans or reads a kept index', async () => {
    const layer = await oneLayer();
    expect((await failure(layerIndex(layer, 0, { maxEntries: 3 }))).code).toBe('ERR_LIMIT_EXCEEDED');
    await layerIndex(layer, 0);
    expect((await failure(layerIndex(layer, 0, { maxEntries: 3 }))).code).toBe('ERR_LIMIT_EXCEEDED');
    const err = await failure(planRootfs([layer, layer], { limits: { maxEntries: SPECS.length + 1 } }));
    expect(err.code).toBe('ERR_LIMIT_EXCEEDED');
  });

  it('keeps nothing for a layer it cannot read, and names the layer and the entry', async () => {
    const layer = await oneLayer([{ name: 'ok', content: 'x' }, { name: 'sparse', content: 'y', typeflag: 'S' }]);
    const err = await failure(layerIndex(layer, 0));
    expect(err.code).toBe('ERR_BAD_LAYER');
    expect(err.message).toContain('"sparse"');
    expect(err.blob).toBe(layer.diffId);
    await expect(readFile(layer.indexPath!)).rejects.toThrow();
  });
});
