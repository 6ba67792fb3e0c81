import type { ErrorInfo } from '../errors.js';
import type { Digest } from '../oci/digest.js';
import type { ResolvedImage } from './resolve.js';

export interface LayerSummary {
  digest: Digest;
  diffId: Digest;
  mediaType: string;
  size: number;
}

/** One image's outcome, as `--json` reports it. */
export interface ImageResult {
  ref: string;
  status: 'ok' | 'skipped' | 'failed';
  /** Canonical reference, e.g. docker.io/library/debian:bookworm. */
  name?: string;
  platform?: string;
  manifestDigest?: Digest;
  configDigest?: Digest;
  layers?: LayerSummary[];
  /** Built image path (build only). */
  output?: string;
  /** sha256 of the built image, and whether a rebuild reproduces it (build only). */
  sha256?: Digest;
  reproducible?: boolean;
  /** The image was copied from one kept in the cache by an earlier build with the same build key. */
  fromCache?: boolean;
  /** Seconds spent per stage. */
  seconds?: Record<string, number>;
  error?: ErrorInfo;
}

export function describeResolved(image: ResolvedImage): Pick<ImageResult, 'platform' | 'manifestDigest' | 'configDigest' | 'layers'> {
  return {
    platform: image.platform,
    manifestDigest: image.manifestDigest,
    configDigest: image.configDigest,
    layers: image.layers.map((l) => ({ digest: l.descriptor.digest, diffId: l.diffId, mediaType: l.descriptor.mediaType, size: l.descriptor.size })),
  };
}

export function countStatuses(images: readonly ImageResult[]): { ok: number; skipped: number; failed: number } {
  const count = (status: ImageResult['status']): number => images.filter((i) => i.status === status).length;
  return { ok: count('ok'), skipped: count('skipped'), failed: count('failed') };
}
