import { mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RootforgeError } from '../errors.js';
import { digestHex, isDigest, sha256Digest, sha256File, type Digest } from '../oci/digest.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor, ImageIndex } from '../oci/types.js';
import { writeFileAtomic } from './atomic.js';
import { BlobWriter, type ExpectedBlob } from './blob-writer.js';
import { isStaleTemp } from './stale.js';
import { acquireDirLock, removeIfAbandoned, type ReleaseLock } from './dir-lock.js';
import { KEPT_IMAGES_DIR } from './kept-images.js';
import { TOOLS_RECORD_DIR } from './tools-record.js';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
const TEMP_DIR = '.rootforge-tmp';
/** Layer tables of contents (layer-index.ts), named by diff_id; other OCI tools ignore the directory. */
const LAYER_INDEX_DIR = 'rootforge-layer-index';

/** An OCI image layout (oci-layout, index.json, blobs/sha256/<hex>) that other OCI tools can read. */
export class OciLayout {
  private constructor(readonly root: string) {}

  static async open(root: string): Promise<OciLayout> {
    const layout = new OciLayout(root);
    try {
      await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
      await mkdir(layout.tempDir, { recursive: true });
      await ensureFile(join(root, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
      await ensureFile(layout.indexPath, JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] }, null, 2));
    } catch (error) {
      throw new RootforgeError('ERR_CACHE', `cannot use cache directory ${root}: ${(error as Error).message}`, { cause: error });
    }
    return layout;
  }

  get tempDir(): string {
    return join(this.root, TEMP_DIR);
  }

  get indexPath(): string {
    return join(this.root, 'index.json');
  }

  /** Taken while fetching and unpacking one blob, so processes sharing the cache fetch it once. */
  lockBlob(digest: Digest, signal?: AbortSignal): Promise<ReleaseLock> {
    return acquireDirLock(join(this.tempDir, `${digestHex(digest)}.lock`), signal ? { signal } : {});
  }

  /** Where the index of the uncompressed layer `diffId` is kept; it goes when the layer goes. */
  layerIndexPath(diffId: Digest): string {
    return join(this.root, LAYER_INDEX_DIR, digestHex(diffId));
  }

  blobPath(digest: Digest): string {
    return join(this.root, 'blobs', 'sha256', digestHex(digest));
  }

  /** Only verified blobs ever carry a final name, so presence (with the right size) means verified at write time. */
  async hasBlob(digest: Digest, size?: number): Promise<boolean> {
    try {
      const s = await stat(this.blobPath(digest));
      return s.isFile() && (size === undefined || s.size === size);
    } catch {
      return false;
    }
  }

  async blobSize(digest: Digest): Promise<number | undefined> {
    try {
      return (await stat(this.blobPath(digest))).size;
    } catch {
      return undefined;
    }
  }

  createWriter(expected: ExpectedBlob): Promise<BlobWriter> {
    return BlobWriter.create(this.tempDir, this.blobPath(expected.digest), expected);
  }

  /** Stores small content (manifests, configs) already held in memory, verified like any blob. */
  async putBlob(digest: Digest, bytes: Uint8Array): Promise<void> {
    if (await this.hasBlob(digest, bytes.byteLength)) return;
    const writer = await this.createWriter({ digest, size: bytes.byteLength });
    try {
      await writer.write(bytes);
      await writer.commit();
    } finally {
      await writer.abort();
    }
  }

  /** Reads a small blob and re-checks its digest, so a bit-rotted cache entry is never trusted. */
  async readBlob(digest: Digest, maxBytes = 64 * 1024 * 1024): Promise<Buffer> {
    const path = this.blobPath(digest);
    const s = await stat(path);
    if (s.size > maxBytes) throw new RootforgeError('ERR_CACHE', `cached blob is ${s.size} bytes, over the ${maxBytes}-byte limit`, { blob: digest });
    const bytes = await readFile(path);
    if (sha256Digest(bytes) !== digest) {
      throw new RootforgeError('ERR_DIGEST_MISMATCH', 'cached blob does not match its digest; run rootforge cache verify --fix', { blob: digest });
    }
    return bytes;
  }

  async readIndex(): Promise<ImageIndex> {
    return this.parseIndex(await readFile(this.indexPath, 'utf8'));
  }

  private parseIndex(text: string): ImageIndex {
    const index = JSON.parse(text) as ImageIndex;
    if (!Array.isArray(index.manifests)) throw new RootforgeError('ERR_CACHE', `${this.indexPath} has no manifests array`);
    return index;
  }

  /** Records `name` -> manifest in index.json, replacing an older entry of that name (read-modify-write under a lock). */
  async setRef(name: string, descriptor: Descriptor): Promise<void> {
    const updated = (index: ImageIndex): string => {
      const manifests = index.manifests.filter((d) => d.annotations?.[REF_NAME_ANNOTATION] !== name);
      manifests.push({ ...descriptor, annotations: { ...descriptor.annotations, [REF_NAME_ANNOTATION]: name } });
      manifests.sort((a, b) => (a.annotations?.[REF_NAME_ANNOTATION] ?? '').localeCompare(b.annotations?.[REF_NAME_ANNOTATION] ?? ''));
      return JSON.stringify({ ...index, manifests }, null, 2) + '\n';
    };
    // Rebuilds mostly find the ref recorded already: index.json is replaced atomically, so reading it unlocked is safe.
    const current = await readFile(this.indexPath, 'utf8').catch(() => undefined);
    if (current !== undefined && updated(this.parseIndex(current)) === current) return;
    await this.withIndexLock(async () => {
      const before = await readFile(this.indexPath, 'utf8');
      const text = updated(this.parseIndex(before));
      if (text !== before) await writeFileAtomic(this.indexPath, text);
    });
  }

  async withIndexLock<T>(fn: () => Promise<T>): Promise<T> {
    const release = await acquireDirLock(`${this.indexPath}.lock`, { pollMs: 20 });
    try {
      return await fn();
    } finally {
      await release();
    }
  }

  /** Every file under blobs/sha256 with a digest name. */
  async listBlobs(): Promise<{ digest: Digest; size: number; mtimeMs: number }[]> {
    const dir = join(this.root, 'blobs', 'sha256');
    const names = await readdir(dir);
    const blobs: { digest: Digest; size: number; mtimeMs: number }[] = [];
    for (const name of names.sort()) {
      const digest = `sha256:${name}`;
      if (!isDigest(digest)) continue;
      const s = await stat(join(dir, name)).catch(() => undefined);
      if (s?.isFile()) blobs.push({ digest, size: s.size, mtimeMs: s.mtimeMs });
    }
    return blobs;
  }

  /** Re-hashes one blob on disk. */
  hashBlob(digest: Digest, signal?: AbortSignal): Promise<Digest> {
    return sha256File(this.blobPath(digest), signal);
  }

  /** Removes temp files whose writer is gone (dead process, or untouched for a day); never a live writer's. */
  async cleanStaleTemps(now = Date.now()): Promise<string[]> {
    const removed: string[] = [];
    const inTemp = (await readdir(this.tempDir).catch(() => [] as string[])).map((name) => ({ name, path: join(this.tempDir, name) }));
    // Index files, kept-image records and the e2fsprogs record are written atomically beside their final name, so a killed writer leaves its temp there.
    const besideFinal = [];
    for (const dir of [join(this.root, LAYER_INDEX_DIR), join(this.root, KEPT_IMAGES_DIR), join(this.root, TOOLS_RECORD_DIR)]) {
      const names = await readdir(dir).catch(() => [] as string[]);
      besideFinal.push(...names.filter((name) => name.endsWith('.tmp')).map((name) => ({ name, path: join(dir, name) })));
    }
    for (const { name, path } of [...inTemp, ...besideFinal]) {
      if (name.endsWith('.lock')) {
        if (await removeIfAbandoned(path)) removed.push(path);
        continue;
      }
      const s = await stat(path).catch(() => undefined);
      if (s && isStaleTemp(name, s.mtimeMs, now)) {
        await rm(path, { force: true, recursive: true });
        removed.push(path);
      }
    }
    return removed;
  }

  async removeBlob(digest: Digest): Promise<void> {
    await rm(this.blobPath(digest), { force: true });
    await rm(this.layerIndexPath(digest), { force: true });
  }
}

async function ensureFile(path: string, content: string): Promise<void> {
  try {
    await stat(path);
  } catch {
    await writeFileAtomic(path, content + '\n');
  }
}
