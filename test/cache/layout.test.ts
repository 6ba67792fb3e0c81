import { mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OciLayout, REF_NAME_ANNOTATION } from '../../src/cache/layout.js';
import { isStaleTemp, tempOwnerPid } from '../../src/cache/stale.js';
import { verifyCache } from '../../src/cache/verify.js';
import { pruneCache } from '../../src/cache/prune.js';
import { defaultCacheDir } from '../../src/cache/dirs.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';

let dir: string;
let layout: OciLayout;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootforge-cache-'));
  layout = await OciLayout.open(join(dir, 'oci'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('OciLayout', () => {
  it('creates a layout other OCI tools recognise', async () => {
    expect(JSON.parse(await readFile(join(layout.root, 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(await layout.readIndex()).toMatchObject({ schemaVersion: 2, manifests: [] });
  });

  it('publishes a blob only after size and digest check out', async () => {
    const data = Buffer.from('hello blob');
    const digest = sha256Digest(data);
    const writer = await layout.createWriter({ digest, size: data.length });
    await writer.write(data.subarray(0, 5));
    expect(await layout.hasBlob(digest)).toBe(false);
    await writer.write(data.subarray(5));
    await writer.commit();
    expect(await readFile(layout.blobPath(digest))).toEqual(data);
    expect(await readdir(layout.tempDir)).toEqual([]);
  });

  it('rejects wrong content and leaves nothing behind', async () => {
    const digest = sha256Digest('expected');
    const writer = await layout.createWriter({ digest, size: 5 });
    await writer.write(Buffer.from('wrong'));
    await expect(writer.commit()).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
    expect(await layout.hasBlob(digest)).toBe(false);
    expect(await readdir(layout.tempDir)).toEqual([]);
  });

  it('refuses bytes past the declared size, and short content', async () => {
    const digest = sha256Digest('abc');
    const long = await layout.createWriter({ digest, size: 2 });
    await expect(long.write(Buffer.from('abc'))).rejects.toMatchObject({ code: 'ERR_SIZE_MISMATCH' });
    await long.abort();
    const short = await layout.createWriter({ digest, size: 4 });
    await short.write(Buffer.from('abc'));
    await expect(short.commit()).rejects.toMatchObject({ code: 'ERR_SIZE_MISMATCH' });
    expect(await layout.hasBlob(digest)).toBe(false);
  });

  it('reset() restarts the hash and the file', async () => {
    const data = Buffer.from('whole body');
    const writer = await layout.createWriter({ digest: sha256Digest(data), size: data.length });
    await writer.write(Buffer.from('garbage'));
    await writer.reset();
    await writer.write(data);
    await writer.commit();
    expect(await readFile(layout.blobPath(sha256Digest(data)))).toEqual(data);
  });

  it('records refs in index.json with the ref.name annotation, replacing older ones', async () => {
    const d1 = sha256Digest('m1');
    const d2 = sha256Digest('m2');
    await layout.setRef('docker.io/library/debian:bookworm', { mediaType: MediaType.OciManifest, digest: d1, size: 2 });
    await layout.setRef('docker.io/library/debian:bookworm', { mediaType: MediaType.OciManifest, digest: d2, size: 2 });
    await Promise.all(['a', 'b', 'c', 'd'].map((t) => layout.setRef(`x/y:${t}`, { mediaType: MediaType.OciManifest, digest: d1, size: 2 })));
    const index = await layout.readIndex();
    expect(index.manifests).toHaveLength(5);
    expect(index.manifests.find((m) => m.annotations?.[REF_NAME_ANNOTATION] === 'docker.io/library/debian:bookworm')?.digest).toBe(d2);
  });

  it('leaves index.json untouched when a ref is recorded again unchanged', async () => {
    const descriptor = { mediaType: MediaType.OciManifest, digest: sha256Digest('m1'), size: 2 };
    await layout.setRef('x/y:a', descriptor);
    const indexPath = join(layout.root, 'index.json');
    const before = await stat(indexPath);
    await layout.setRef('x/y:a', descriptor);
    expect((await stat(indexPath)).ino).toBe(before.ino);
    await layout.setRef('x/y:a', { ...descriptor, size: 3 });
    expect((await stat(indexPath)).ino).not.toBe(before.ino);
    expect((await layout.readIndex()).manifests).toMatchObject([{ size: 3 }]);
  });

  it('verify finds and fixes bad blobs, ignoring temp files', async () => {
    const good = Buffer.from('good');
    await layout.putBlob(sha256Digest(good), good);
    const badDigest = sha256Digest('original');
    await writeFile(layout.blobPath(badDigest), 'bit rot');
    await writeFile(join(layout.tempDir, '999999-0123456789ab-abc.partial'), 'partial');
    const report = await verifyCache(layout);
    expect(report).toMatchObject({ checked: 2, bad: [badDigest], removed: [] });
    const fixed = await verifyCache(layout, { fix: true });
    expect(fixed.removed).toEqual([badDigest]);
    expect((await verifyCache(layout)).bad).toEqual([]);
  });

  it('prune removes unreferenced blobs past the grace period and stale temps of dead processes', async () => {
    const orphan = Buffer.from('orphan');
    await layout.putBlob(sha256Digest(orphan), orphan);
    const stale = join(layout.tempDir, '999999-0123456789ab-abc.partial');
    await writeFile(stale, 'x');
    const live = join(layout.tempDir, `${process.pid}-0123456789ab-abc.partial`);
    await writeFile(live, 'x');
    expect((await pruneCache(layout)).removed).toEqual([]);
    const report = await pruneCache(layout, { graceMs: 0, now: Date.now() + 1000 });
    expect(report.removed).toEqual([sha256Digest(orphan)]);
    await expect(stat(stale)).rejects.toThrow();
    await expect(stat(live)).resolves.toBeTruthy();
  });
});

describe('prune: merged tars that earlier builds kept', () => {
  it('removes them once past the grace period, with their directory, even for a cached image', async () => {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Digest('layer')] } }));
    await layout.putBlob(sha256Digest(config), config);
    const manifest = Buffer.from(
      JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: sha256Digest(config), size: config.length }, layers: [] }),
    );
    await layout.putBlob(sha256Digest(manifest), manifest);
    await layout.setRef('example.com/kept:v1', { mediaType: MediaType.OciManifest, digest: sha256Digest(manifest), size: manifest.length });
    const leftover = join(layout.root, 'rootforge-flattened', `${'ab'.repeat(32)}.tar`);
    await mkdir(dirname(leftover), { recursive: true });
    await writeFile(leftover, 'tar');

    expect((await pruneCache(layout)).flattened).toBe(0);
    await expect(stat(leftover)).resolves.toBeTruthy();
    const report = await pruneCache(layout, { graceMs: 0, now: Date.now() + 1000 });
    expect(report.flattened).toBe(1);
    expect(report.freedBytes).toBeGreaterThanOrEqual(3);
    await expect(stat(dirname(leftover))).rejects.toThrow();
  });
});

describe('stale temps', () => {
  it('reads the owner pid from temp names', () => {
    expect(tempOwnerPid('1234-0123456789ab-deadbeef.partial')).toBe(1234);
    expect(tempOwnerPid('.index.json.42-abcdef01.tmp')).toBe(42);
    expect(tempOwnerPid('unrelated')).toBeUndefined();
  });
  it('keeps a live owner’s temp, drops a dead one’s and day-old ones', async () => {
    const now = Date.now();
    expect(isStaleTemp(`${process.pid}-0123456789ab.partial`, now, now)).toBe(false);
    expect(isStaleTemp('999999-0123456789ab.partial', now, now)).toBe(true);
    expect(isStaleTemp(`${process.pid}-0123456789ab.partial`, now - 2 * 86_400_000, now)).toBe(true);
  });
});

describe('defaultCacheDir', () => {
  it('honours ROOTFORGE_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(defaultCacheDir({ ROOTFORGE_CACHE_DIR: '/c' }, '/home/u')).toBe('/c');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x' }, '/home/u')).toBe('/x/rootforge/oci');
    expect(defaultCacheDir({ XDG_CACHE_HOME: 'relative' }, '/home/u')).toBe('/home/u/.cache/rootforge/oci');
    expect(defaultCacheDir({}, '/home/u')).toBe('/home/u/.cache/rootforge/oci');
  });
});
