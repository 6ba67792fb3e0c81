// rootforge's public API: re-exports only.
export { warm, type WarmOptions, type WarmResult } from './batch/warm.js';
export { build, type BuildOptions, type BuildResult } from './batch/build.js';
export type { SessionOptions } from './batch/session.js';
export type { ImageResult, LayerSummary } from './batch/image-result.js';
export type { RunEvent, Stage, EventListener } from './batch/events.js';
export type { Sidecar } from './batch/sidecar.js';
export { RootforgeError, isRootforgeError, ERROR_HINTS, type ErrorCode, type ErrorInfo } from './errors.js';
export { parseReference, formatReference, type ImageReference } from './registry/reference.js';
export { RegistryClient, type RegistryClientOptions } from './registry/client.js';
export { OciLayout, REF_NAME_ANNOTATION } from './cache/layout.js';
export { defaultCacheDir } from './cache/dirs.js';
export { verifyCache, type VerifyReport } from './cache/verify.js';
export { pruneCache, type PruneReport } from './cache/prune.js';
export { listCachedImages, type CachedImage } from './cache/refs.js';
export { parsePlatform, formatPlatform, DEFAULT_PLATFORM } from './oci/platform.js';
export type { Descriptor, ImageConfig, ImageIndex, ImageManifest, Platform } from './oci/types.js';
export type { Digest } from './oci/digest.js';
