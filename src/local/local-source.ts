import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { RootforgeError } from '../errors.js';
import { REF_NAME_ANNOTATION } from '../cache/layout.js';
import { digestHex, isDigest, newHasher, hasherDigest, sha256Digest, type Digest } from '../oci/digest.js';
import { MAX_MANIFEST_BYTES, parseManifest } from '../oci/manifest.js';
import { MediaType } from '../oci/media-types.js';
import type { Descriptor, ImageIndex } from '../oci/types.js';
import type { ImageReference } from '../registry/reference.js';
import type { ManifestResponse } from '../registry/client.js';
import { extractArchive } from './extract.js';
import type { LocalTransport } from './transport.js';

/** What resolveImage needs of a place images come from: a registry client, or a local layout or archive. */
export interface ManifestSource {
  getManifest(ref: ImageReference, signal?: AbortSignal): Promise<ManifestResponse>;
  getBlobBytes(ref: ImageReference, descriptor: Descriptor, maxBytes: number, signal?: AbortSignal): Promise<Buffer>;
}

interface DockerSaveEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/**
 * An image layout on disk (oci:), the same packed as a tar (oci-archive:), or `docker save` output
 * (docker-archive:, legacy manifest.json or OCI form). Everything read is verified like a registry pull.
 */
export class LocalImageSource implements ManifestSource {
  /** Blob files by digest; a legacy docker-archive names its layers by path, not digest. */
  private readonly files = new Map<Digest, string>();
  /** The manifest of a legacy docker-archive, made from its manifest.json. */
  private synthetic?: { bytes: Buffer; digest: Digest };

  private constructor(
    readonly root: string,
    private readonly label: string,
    private readonly name: string | undefined,
  ) {}

  static async open(transport: LocalTransport, path: string, name: string | undefined, workDir = tmpdir(), signal?: AbortSignal): Promise<LocalImageSource> {
    const label = `${transport}:${path}`;
    let root = path;
    try {
      if (transport !== 'oci') {
        root = await mkdtemp(join(workDir, `rootforge-${process.pid}-${Date.now().toString(16)}-archive-`));
        await extractArchive(path, root, signal);
      }
      const source = new LocalImageSource(root, label, name);
      if (transport === 'docker-archive' && !(await exists(join(root, 'index.json')))) await source.loadDockerSave();
      return source;
    } catch (error) {
      if (error instanceof RootforgeError) throw error;
      throw new RootforgeError('ERR_MANIFEST_UNKNOWN', `cannot read ${label}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** Path of a blob in the source, for the layer workers to copy (and verify) into the cache. */
  blobFile(digest: Digest): string {
    return this.files.get(digest) ?? join(this.root, 'blobs', 'sha256', digestHex(digest));
  }

  async getManifest(ref: ImageReference): Promise<ManifestResponse> {
    if (ref.digest) return this.manifestByDigest(ref.digest);
    if (this.synthetic) return { bytes: this.synthetic.bytes, digest: this.synthetic.digest, mediaType: MediaType.DockerManifest };
    const index = JSON.parse(await readFile(join(this.root, 'index.json'), 'utf8')) as ImageIndex;
    const manifests = index.manifests ?? [];
    const names = (d: Descriptor): string[] => [d.annotations?.[REF_NAME_ANNOTATION], d.annotations?.['io.containerd.image.name']].filter((n): n is string => Boolean(n));
    const wanted = this.name;
    const matches = wanted ? manifests.filter((d) => names(d).some((n) => n === wanted || n.endsWith(`:${wanted}`) || n.endsWith(`/${wanted}`))) : manifests;
    if (matches.length !== 1) {
      const offered = manifests.flatMap(names);
      throw new RootforgeError(
        'ERR_MANIFEST_UNKNOWN',
        wanted
          ? `${this.label} has no image named ${wanted}${offered.length ? `; it has ${offered.join(', ')}` : ''}`
          : `${this.label} holds ${manifests.length} images; name one: ${offered.join(', ') || '(no names)'}`,
      );
    }
    return this.manifestByDigest((matches[0] as Descriptor).digest, (matches[0] as Descriptor).mediaType);
  }

  async getBlobBytes(_ref: ImageReference, descriptor: Descriptor, maxBytes: number): Promise<Buffer> {
    if (descriptor.size > maxBytes) throw new RootforgeError('ERR_MANIFEST_TOO_LARGE', `blob is ${descriptor.size} bytes, over ${maxBytes}`, { blob: descriptor.digest });
    const bytes = await this.readVerified(descriptor.digest, maxBytes);
    if (bytes.byteLength !== descriptor.size) {
      throw new RootforgeError('ERR_SIZE_MISMATCH', `blob is ${bytes.byteLength} bytes, its descriptor says ${descriptor.size}`, { blob: descriptor.digest });
    }
    return bytes;
  }

  private async manifestByDigest(digest: Digest, mediaType?: string): Promise<ManifestResponse> {
    if (this.synthetic?.digest === digest) return { bytes: this.synthetic.bytes, digest, mediaType: MediaType.DockerManifest };
    const bytes = await this.readVerified(digest, MAX_MANIFEST_BYTES);
    return { bytes, digest, mediaType: mediaType ?? (JSON.parse(bytes.toString('utf8')) as { mediaType?: string }).mediaType ?? MediaType.OciManifest };
  }

  private async readVerified(digest: Digest, maxBytes: number): Promise<Buffer> {
    const path = this.blobFile(digest);
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch {
      throw new RootforgeError('ERR_NOT_FOUND', `${this.label} has no blob ${digest}`, { blob: digest });
    }
    if (size > maxBytes) throw new RootforgeError('ERR_MANIFEST_TOO_LARGE', `blob is ${size} bytes, over ${maxBytes}`, { blob: digest });
    const bytes = await readFile(path);
    if (sha256Digest(bytes) !== digest) throw new RootforgeError('ERR_DIGEST_MISMATCH', `${this.label}: blob does not match its digest`, { blob: digest });
    return bytes;
  }

  /** `docker save` before Docker 25: manifest.json names a config file and layer tars; make the manifest they imply. */
  private async loadDockerSave(): Promise<void> {
    const entries = JSON.parse(await readFile(join(this.root, 'manifest.json'), 'utf8')) as DockerSaveEntry[];
    const wanted = this.name;
    const chosen = wanted
      ? entries.find((e, i) => wanted === `@${i}` || (e.RepoTags ?? []).some((t) => t === wanted || t.endsWith(`/${wanted}`)))
      : entries.length === 1 ? entries[0] : undefined;
    if (!chosen) {
      const offered = entries.flatMap((e) => e.RepoTags ?? []);
      throw new RootforgeError('ERR_MANIFEST_UNKNOWN', `${this.label}: ${wanted ? `no image ${wanted}` : `${entries.length} images, name one`}; it has ${offered.join(', ') || 'untagged images (use @0, @1, …)'}`);
    }
    const describe = async (relative: string, mediaType: string): Promise<Descriptor> => {
      const path = join(this.root, relative);
      const hash = newHasher();
      let size = 0;
      let head: Buffer | undefined;
      for await (const chunk of createReadStream(path)) {
        head ??= chunk as Buffer;
        hash.update(chunk as Buffer);
        size += (chunk as Buffer).byteLength;
      }
      const digest = hasherDigest(hash);
      if (!isDigest(digest)) throw new RootforgeError('ERR_INTERNAL', 'bad digest');
      this.files.set(digest, path);
      // Legacy saves hold uncompressed layer tars; gzip ones are recognised by their magic bytes.
      const gzip = head !== undefined && head[0] === 0x1f && head[1] === 0x8b;
      return { mediaType: mediaType === MediaType.DockerLayer && gzip ? MediaType.DockerLayerGzip : mediaType, digest, size };
    };
    const config = await describe(chosen.Config, MediaType.DockerConfig);
    const layers = [];
    for (const layer of chosen.Layers) layers.push(await describe(layer, MediaType.DockerLayer));
    const bytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.DockerManifest, config, layers }));
    this.synthetic = { bytes, digest: sha256Digest(bytes) };
    parseManifest(bytes);
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
