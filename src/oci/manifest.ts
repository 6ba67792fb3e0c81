import { RootforgeError } from '../errors.js';
import { isDigest } from './digest.js';
import { isIndexMediaType, isManifestMediaType, MediaType } from './media-types.js';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest } from './types.js';

/** Hard caps: a manifest or config beyond these is refused before it is parsed. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
export const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
export const MAX_LAYERS = 500;

export type ParsedManifest =
  | { kind: 'index'; mediaType: string; index: ImageIndex }
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest };

function parseJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through to the coded error
  }
  throw new RootforgeError('ERR_MANIFEST_INVALID', `${what} is not a JSON object`);
}

function checkDescriptor(value: unknown, what: string): Descriptor {
  const d = value as Partial<Descriptor> | undefined;
  if (!d || typeof d.mediaType !== 'string' || typeof d.digest !== 'string' || !isDigest(d.digest) || !Number.isSafeInteger(d.size) || (d.size as number) < 0) {
    throw new RootforgeError('ERR_MANIFEST_INVALID', `${what} is not a valid descriptor`);
  }
  return d as Descriptor;
}

/** Parses a manifest or index; the media type comes from the body, else the Content-Type. */
export function parseManifest(bytes: Uint8Array, contentType?: string): ParsedManifest {
  const json = parseJson(bytes, 'manifest');
  const declared = typeof json.mediaType === 'string' ? json.mediaType : undefined;
  const mediaType = declared ?? contentType?.split(';')[0]?.trim() ?? (Array.isArray(json.manifests) ? MediaType.OciIndex : MediaType.OciManifest);
  if (json.schemaVersion !== 2) {
    throw new RootforgeError('ERR_UNSUPPORTED_MEDIA_TYPE', `manifest schemaVersion ${String(json.schemaVersion)} is not supported (schema 1 is deprecated)`);
  }
  if (isIndexMediaType(mediaType) || (declared === undefined && Array.isArray(json.manifests))) {
    if (!Array.isArray(json.manifests)) throw new RootforgeError('ERR_MANIFEST_INVALID', 'index has no manifests array');
    const manifests = json.manifests.map((m, i) => checkDescriptor(m, `index entry ${i}`));
    return { kind: 'index', mediaType, index: { ...(json as unknown as ImageIndex), manifests } };
  }
  if (isManifestMediaType(mediaType) || declared === undefined) {
    const config = checkDescriptor(json.config, 'manifest config');
    if (!Array.isArray(json.layers)) throw new RootforgeError('ERR_MANIFEST_INVALID', 'manifest has no layers array');
    if (json.layers.length > MAX_LAYERS) {
      throw new RootforgeError('ERR_TOO_MANY_LAYERS', `manifest lists ${json.layers.length} layers; at most ${MAX_LAYERS} are accepted`);
    }
    const layers = json.layers.map((l, i) => checkDescriptor(l, `layer ${i}`));
    return { kind: 'manifest', mediaType, manifest: { ...(json as unknown as ImageManifest), config, layers } };
  }
  throw new RootforgeError('ERR_UNSUPPORTED_MEDIA_TYPE', `unsupported manifest media type ${mediaType}`);
}

export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  let json: Record<string, unknown>;
  try {
    json = parseJson(bytes, 'image config');
  } catch {
    throw new RootforgeError('ERR_CONFIG_INVALID', 'image config is not a JSON object');
  }
  const rootfs = json.rootfs as { type?: unknown; diff_ids?: unknown } | undefined;
  if (!rootfs || !Array.isArray(rootfs.diff_ids) || !rootfs.diff_ids.every((d) => typeof d === 'string' && isDigest(d))) {
    throw new RootforgeError('ERR_CONFIG_INVALID', 'image config has no valid rootfs.diff_ids');
  }
  return json as unknown as ImageConfig;
}
