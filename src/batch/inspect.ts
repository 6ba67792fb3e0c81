import { parseLocation } from '../local/transport.js';
import type { Digest } from '../oci/digest.js';
import { REF_NAME_ANNOTATION } from '../cache/layout.js';
import type { ImageConfig } from '../oci/types.js';
import { Session, type SessionOptions } from './session.js';

export interface InspectedLayer {
  digest: Digest;
  mediaType: string;
  /** Compressed size, as the manifest declares it. */
  size: number;
  diffId: Digest;
  /** The verified blob is in the cache. */
  cached: boolean;
  /** Its uncompressed tar is in the cache too, so builds skip decompression. */
  uncompressedCached: boolean;
}

/** What `rootforge inspect` reports: like `skopeo inspect`, plus what the cache already holds. */
export interface InspectResult {
  ref: string;
  /** Digest of what the reference points at: the index for multi-platform images. */
  digest: Digest;
  /** Platforms the index offers; absent when the reference names one manifest. */
  platforms?: string[];
  platform: string;
  manifestDigest: Digest;
  manifestMediaType: string;
  configDigest: Digest;
  created?: string;
  config: NonNullable<ImageConfig['config']>;
  layers: InspectedLayer[];
  /** Sum of the compressed layer sizes. */
  totalSize: number;
  /** Names under which the cache's index.json records this manifest. */
  cachedAs: string[];
  /** The manifest and config exactly as fetched, for --raw and --config. */
  raw: { manifest: string; config: string };
}

export interface InspectOptions extends Omit<SessionOptions, 'workers'> {
  ref: string;
}

/** Resolves one reference (registry or local transport) and reports it; manifests and config are verified and cached on the way. */
export async function inspect(options: InspectOptions): Promise<InspectResult> {
  const location = parseLocation(options.ref);
  const session = await Session.open({ ...options, workers: 1 });
  try {
    const image = await session.resolve(location, options.platform, options.signal);
    const layers: InspectedLayer[] = [];
    for (const { descriptor, diffId } of image.layers) {
      layers.push({
        digest: descriptor.digest,
        mediaType: descriptor.mediaType,
        size: descriptor.size,
        diffId,
        cached: await session.layout.hasBlob(descriptor.digest, descriptor.size),
        uncompressedCached: await session.layout.hasBlob(diffId),
      });
    }
    const index = await session.layout.readIndex();
    const cachedAs = index.manifests
      .filter((d) => d.digest === image.manifestDigest || d.digest === image.topDigest)
      .map((d) => d.annotations?.[REF_NAME_ANNOTATION])
      .filter((name): name is string => Boolean(name));
    const configBytes = await session.layout.readBlob(image.configDigest);
    return {
      ref: options.ref,
      digest: image.topDigest,
      ...(image.platforms ? { platforms: image.platforms } : {}),
      platform: image.platform,
      manifestDigest: image.manifestDigest,
      manifestMediaType: image.manifestDescriptor.mediaType,
      configDigest: image.configDigest,
      ...(image.config.created ? { created: image.config.created } : {}),
      config: image.config.config ?? {},
      layers,
      totalSize: layers.reduce((sum, l) => sum + l.size, 0),
      cachedAs,
      raw: { manifest: image.manifestBytes.toString('utf8'), config: configBytes.toString('utf8') },
    };
  } finally {
    await session.close();
  }
}
