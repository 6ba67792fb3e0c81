import { RootforgeError } from '../errors.js';
import type { OciLayout } from '../cache/layout.js';
import { layerCompression } from '../oci/media-types.js';
import { MAX_CONFIG_BYTES, parseImageConfig, parseManifest } from '../oci/manifest.js';
import { formatPlatform, offeredPlatforms, selectPlatform } from '../oci/platform.js';
import type { Digest } from '../oci/digest.js';
import type { Descriptor, ImageConfig, ImageManifest, Platform } from '../oci/types.js';
import { formatReference, type ImageReference } from '../registry/reference.js';
import type { ManifestSource } from '../local/local-source.js';

export interface ResolvedLayer {
  descriptor: Descriptor;
  diffId: Digest;
}

export interface ResolvedImage {
  ref: ImageReference;
  /** Digest of the index or manifest the reference pointed at. */
  topDigest: Digest;
  manifestDigest: Digest;
  manifestDescriptor: Descriptor;
  manifest: ImageManifest;
  configDigest: Digest;
  config: ImageConfig;
  platform: string;
  /** Platforms the index offers (attestations left out); undefined when the reference named a single manifest. */
  platforms?: string[];
  /** The chosen manifest as the registry sent it. */
  manifestBytes: Buffer;
  layers: ResolvedLayer[];
  /** For images from a local layout or archive: blob digest -> file to copy from, instead of a registry. */
  localBlobs?: Record<string, string>;
}

/**
 * Resolves a reference to one platform's manifest and config, storing each verified
 * manifest and config blob in the cache on the way.
 */
export async function resolveImage(
  client: ManifestSource,
  layout: OciLayout,
  ref: ImageReference,
  platform: Platform,
  signal?: AbortSignal,
): Promise<ResolvedImage> {
  const top = await client.getManifest(ref, signal);
  await layout.putBlob(top.digest, top.bytes);
  let parsed = parseManifest(top.bytes, top.mediaType);
  let manifestDescriptor: Descriptor = { mediaType: top.mediaType, digest: top.digest, size: top.bytes.byteLength };
  let manifestBytes = top.bytes;
  let platforms: string[] | undefined;
  if (parsed.kind === 'index') {
    platforms = offeredPlatforms(parsed.index.manifests);
    const chosen = selectPlatform(parsed.index.manifests, platform);
    const child = await client.getManifest({ ...ref, digest: chosen.digest }, signal);
    if (child.bytes.byteLength !== chosen.size) {
      throw new RootforgeError('ERR_SIZE_MISMATCH', `manifest is ${child.bytes.byteLength} bytes, the index says ${chosen.size}`, { blob: chosen.digest });
    }
    await layout.putBlob(child.digest, child.bytes);
    manifestBytes = child.bytes;
    parsed = parseManifest(child.bytes, child.mediaType);
    if (parsed.kind === 'index') throw new RootforgeError('ERR_MANIFEST_INVALID', 'an index entry points at another index', { blob: chosen.digest });
    manifestDescriptor = { mediaType: parsed.mediaType, digest: child.digest, size: child.bytes.byteLength, platform: chosen.platform };
  }
  const manifest = parsed.manifest;
  for (const layer of manifest.layers) {
    if (!layerCompression(layer.mediaType)) {
      throw new RootforgeError('ERR_UNSUPPORTED_MEDIA_TYPE', `layer media type ${layer.mediaType} is not supported`, { blob: layer.digest });
    }
  }
  if (manifest.config.size > MAX_CONFIG_BYTES) {
    throw new RootforgeError('ERR_MANIFEST_TOO_LARGE', `config is ${manifest.config.size} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`, { blob: manifest.config.digest });
  }
  const configBytes = (await layout.hasBlob(manifest.config.digest, manifest.config.size))
    ? await layout.readBlob(manifest.config.digest, MAX_CONFIG_BYTES)
    : await client.getBlobBytes(ref, manifest.config, MAX_CONFIG_BYTES, signal);
  let config: ImageConfig;
  try {
    config = parseImageConfig(configBytes);
  } catch (error) {
    throw Object.assign(error as RootforgeError, { blob: manifest.config.digest });
  }
  await layout.putBlob(manifest.config.digest, configBytes);
  const diffIds = config.rootfs.diff_ids;
  if (diffIds.length !== manifest.layers.length) {
    throw new RootforgeError('ERR_CONFIG_INVALID', `config lists ${diffIds.length} diff_ids for ${manifest.layers.length} layers`, { blob: manifest.config.digest });
  }
  return {
    ref,
    topDigest: top.digest,
    manifestDigest: manifestDescriptor.digest,
    manifestDescriptor,
    manifest,
    configDigest: manifest.config.digest,
    config,
    platform: formatPlatform({ os: config.os ?? platform.os, architecture: config.architecture ?? platform.architecture, ...(config.variant ? { variant: config.variant } : {}) }),
    ...(platforms ? { platforms } : {}),
    manifestBytes,
    layers: manifest.layers.map((descriptor, i) => ({ descriptor, diffId: diffIds[i] as Digest })),
  };
}

export function refName(ref: ImageReference): string {
  return formatReference(ref);
}
