import { parseImageConfig, parseManifest } from '../oci/manifest.js';
import type { Digest } from '../oci/digest.js';
import type { OciLayout } from './layout.js';
import { REF_NAME_ANNOTATION } from './layout.js';

export interface CachedImage {
  name: string;
  manifestDigest: Digest;
  platform?: string;
  /** Blobs the image needs: manifest, config, layers and their uncompressed tars. */
  blobs: Digest[];
  /** Manifest, config and compressed layer blobs: what the image is, as registries serve it. */
  distributed: Digest[];
  /** The uncompressed layer tars (diff_ids) kept for builds. */
  uncompressed: Digest[];
  /** Bytes of the compressed layers. */
  size: number;
  complete: boolean;
}

/** The images index.json names (only those in `names`, when given), with the blobs each one reaches. */
export async function listCachedImages(layout: OciLayout, names?: ReadonlySet<string>): Promise<CachedImage[]> {
  const index = await layout.readIndex();
  const images: CachedImage[] = [];
  for (const descriptor of index.manifests) {
    const name = descriptor.annotations?.[REF_NAME_ANNOTATION] ?? descriptor.digest;
    if (names && !names.has(name)) continue;
    const image: CachedImage = { name, manifestDigest: descriptor.digest, blobs: [descriptor.digest], distributed: [descriptor.digest], uncompressed: [], size: 0, complete: false };
    if (descriptor.platform) image.platform = [descriptor.platform.os, descriptor.platform.architecture, descriptor.platform.variant].filter(Boolean).join('/');
    images.push(image);
    try {
      const parsed = parseManifest(await layout.readBlob(descriptor.digest));
      if (parsed.kind !== 'manifest') continue;
      const { manifest } = parsed;
      image.distributed.push(manifest.config.digest, ...manifest.layers.map((l) => l.digest));
      image.blobs.push(manifest.config.digest, ...manifest.layers.map((l) => l.digest));
      image.size = manifest.layers.reduce((sum, l) => sum + l.size, 0);
      const config = parseImageConfig(await layout.readBlob(manifest.config.digest));
      image.uncompressed = config.rootfs.diff_ids;
      image.blobs.push(...config.rootfs.diff_ids);
      const present = await Promise.all(image.blobs.map((d) => layout.hasBlob(d)));
      image.complete = present.every(Boolean);
    } catch {
      // a missing or bad manifest/config leaves the image incomplete
    }
  }
  return images;
}
