/** Every failure rootforge reports: a stable code, a message, and a hint a user can act on. */

export const ERROR_HINTS = {
  ERR_USAGE: 'Run the command with --help to see its options.',
  ERR_INVALID_REFERENCE: 'Write references like debian:bookworm, host:5000/repo:tag or repo@sha256:<hex>.',
  ERR_INVALID_DIGEST: 'Digests look like sha256:<64 lowercase hex characters>.',
  ERR_INVALID_PLATFORM: 'Platforms look like linux/amd64 or linux/arm64/v8.',
  ERR_MANIFEST_UNKNOWN: 'Check the tag or digest exists in the repository (skopeo list-tags, crane ls).',
  ERR_MANIFEST_INVALID: 'The registry sent a manifest rootforge cannot parse; try another tag or report it to the image maintainer.',
  ERR_MANIFEST_TOO_LARGE: 'Manifests and image configs are capped in size; one this large is almost certainly hostile.',
  ERR_TOO_MANY_LAYERS: 'Images with this many layers are refused; squash the image.',
  ERR_UNSUPPORTED_MEDIA_TYPE: 'rootforge reads OCI and Docker schema 2 images with gzip, zstd or uncompressed layers.',
  ERR_PLATFORM_NOT_FOUND: 'Pick one of the listed platforms with --platform.',
  ERR_DIGEST_MISMATCH: 'The content does not match its digest: the registry or a proxy altered it. Retry, or report it to the registry.',
  ERR_SIZE_MISMATCH: 'The content is not the size its descriptor declares. Retry, or report it to the registry.',
  ERR_DIFFID_MISMATCH: 'The uncompressed layer does not match the diff_id in the image config; the image is corrupt.',
  ERR_DECOMPRESS: 'The layer could not be decompressed; it is truncated or corrupt.',
  ERR_CONFIG_INVALID: 'The image config blob is not valid JSON of an OCI image config.',
  ERR_UNAUTHORIZED: 'Log in with `docker login HOST` (rootforge reads ~/.docker/config.json or $DOCKER_CONFIG/config.json).',
  ERR_CREDENTIAL_HELPER: 'A Docker credential helper named in the Docker config (credHelpers, credsStore) failed; install it on PATH or remove it from the config.',
  ERR_DENIED: 'The credentials were refused for this repository; check access rights.',
  ERR_NOT_FOUND: 'The registry has no such repository or blob.',
  ERR_REGISTRY: 'The registry answered with an error; retry later, or raise --retries.',
  ERR_TOO_MANY_REQUESTS: 'The registry is rate limiting; wait, log in, or use a mirror.',
  ERR_NETWORK: 'Check the network and the registry address; raise --retries or --timeout for flaky links.',
  ERR_PROXY: 'Check HTTPS_PROXY, HTTP_PROXY and NO_PROXY: the proxy must be reachable and let rootforge through to the registry.',
  ERR_TIMEOUT: 'The registry stopped answering; raise --timeout if the link is slow.',
  ERR_REDIRECT_LOOP: 'The registry redirected too many times; report it to the registry operator.',
  ERR_INSECURE_REGISTRY: 'Plain HTTP is only used for loopback hosts or hosts named with --insecure-registry.',
  ERR_CACHE: 'Check the cache directory is writable, or run `rootforge cache verify --fix`.',
  ERR_NO_SPACE: 'Free disk space in the cache, work or output directory, or point --cache-dir/--work-dir/--out elsewhere.',
  ERR_UNSAFE_PATH: 'The layer tries to reach outside the root filesystem; the image is hostile or broken.',
  ERR_BAD_LAYER: 'The layer tar is malformed; the image is corrupt.',
  ERR_LIMIT_EXCEEDED: 'The layer exceeds a safety limit (size, expansion or depth); raise the limit only for images you trust.',
  ERR_TOOL_MISSING: 'Install e2fsprogs (Debian/Ubuntu: apt-get install e2fsprogs; Fedora: dnf install e2fsprogs; Alpine: apk add e2fsprogs).',
  ERR_TOOL_TOO_OLD: 'Install e2fsprogs 1.47.1 or newer (Debian 12: bookworm-backports), or use --populate dir.',
  ERR_TOOL_FAILED: 'An e2fsprogs tool failed; its output is in the message.',
  ERR_DEBUGFS_NAME: 'debugfs cannot express this file name (newline or NUL); the image cannot be built with rootforge.',
  ERR_IMAGE_TOO_SMALL: 'Raise --size, or drop it to let rootforge size the image from its content.',
  ERR_OUTPUT_EXISTS: 'Choose another --out or name, or pass --force.',
  ERR_INJECT: 'Check the --agent, --overlay and --inject inputs.',
  ERR_CHECK_FAILED: 'The rebuild differs from the existing output: it was built from other inputs or options, changed after the build, or built on the dir path, which is not reproducible.',
  ERR_ABORTED: 'The run was interrupted.',
  ERR_INTERNAL: 'This is a bug in rootforge; please report it with the command you ran.',
} as const;

export type ErrorCode = keyof typeof ERROR_HINTS;

/** Plain data for an error, safe to send across a worker boundary or print as JSON. */
export interface ErrorInfo {
  code: ErrorCode;
  message: string;
  hint: string;
  image?: string;
  blob?: string;
}

export interface ErrorContext {
  hint?: string;
  image?: string;
  blob?: string;
  cause?: unknown;
  /** Milliseconds the server asked us to wait before retrying (429/503 Retry-After). */
  retryAfterMs?: number;
  /** Whether trying again could succeed (network blips, 5xx, 429). */
  temporary?: boolean;
}

export class RootforgeError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;
  image?: string;
  blob?: string;
  readonly retryAfterMs?: number;
  readonly temporary: boolean;

  constructor(code: ErrorCode, message: string, context: ErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = 'RootforgeError';
    this.code = code;
    this.hint = context.hint ?? ERROR_HINTS[code];
    this.image = context.image;
    this.blob = context.blob;
    this.retryAfterMs = context.retryAfterMs;
    this.temporary = context.temporary ?? false;
  }

  /** The message with the image and blob it concerns, as users see it. */
  override toString(): string {
    return describe(this);
  }
}

function describe(error: { message: string; image?: string; blob?: string }): string {
  const where = [error.image && `image ${error.image}`, error.blob && `blob ${error.blob}`].filter(Boolean).join(', ');
  return where ? `${error.message} (${where})` : error.message;
}

export function isRootforgeError(error: unknown): error is RootforgeError {
  return error instanceof RootforgeError;
}

/** Normalises anything thrown into a RootforgeError, keeping the original as `cause`. */
export function asRootforgeError(error: unknown, fallback: ErrorCode = 'ERR_INTERNAL'): RootforgeError {
  if (error instanceof RootforgeError) return error;
  const errno = (error as NodeJS.ErrnoException | undefined)?.code;
  if (errno === 'ENOSPC' || errno === 'EDQUOT') {
    return new RootforgeError('ERR_NO_SPACE', `no space left on device: ${(error as Error).message}`, { cause: error });
  }
  if (isAbortError(error)) return new RootforgeError('ERR_ABORTED', 'interrupted', { cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new RootforgeError(fallback, message, { cause: error });
}

export function isAbortError(error: unknown): boolean {
  const e = error as { name?: string; code?: string } | undefined;
  return e?.name === 'AbortError' || e?.code === 'ABORT_ERR' || (e instanceof RootforgeError && e.code === 'ERR_ABORTED');
}

/** Attaches the image (and blob) an error concerns, unless it already names them. */
export function withContext(error: unknown, context: { image?: string; blob?: string }): RootforgeError {
  const e = asRootforgeError(error);
  e.image ??= context.image;
  e.blob ??= context.blob;
  return e;
}

export function toErrorInfo(error: unknown): ErrorInfo {
  const e = asRootforgeError(error);
  const info: ErrorInfo = { code: e.code, message: describe(e), hint: e.hint };
  if (e.image) info.image = e.image;
  if (e.blob) info.blob = e.blob;
  return info;
}

/** Rebuilds an error sent as plain data from a worker thread. */
export function fromErrorInfo(info: ErrorInfo & { rawMessage?: string }): RootforgeError {
  return new RootforgeError(info.code, info.rawMessage ?? info.message, { hint: info.hint, image: info.image, blob: info.blob });
}

/** Error data for the worker boundary: keeps the bare message so context is not doubled on rebuild. */
export function toWorkerError(error: unknown): ErrorInfo & { rawMessage: string } {
  const e = asRootforgeError(error);
  return { ...toErrorInfo(e), rawMessage: e.message };
}
