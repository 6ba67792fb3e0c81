import { homedir as osHomedir } from 'node:os';
import { request, type Dispatcher } from 'undici';
import { asRootforgeError, RootforgeError, withContext } from '../errors.js';
import type { BlobSink } from '../oci/blob-sink.js';
import { sha256Digest, type Digest } from '../oci/digest.js';
import { MAX_MANIFEST_BYTES } from '../oci/manifest.js';
import { isIndexMediaType, isManifestMediaType, MANIFEST_ACCEPT } from '../oci/media-types.js';
import type { Descriptor } from '../oci/types.js';
import { Authenticator } from './auth.js';
import { loadCredentials } from './docker-config.js';
import { registryDispatcher } from './dispatcher.js';
import { describeUrl, discardBody, headerValue, isLoopbackHost, isPlainHttpServer, readBodyCapped, readBodyPrefix, statusError, toNetworkError, Watchdog, type StatusErrorOptions } from './http.js';
import { formatReference, manifestReference, type ImageReference } from './reference.js';
import { DEFAULT_RETRY_POLICY, withRetry, type RetryPolicy } from './retry.js';

/** Plain data (no functions), so the options can be sent to worker threads. */
export interface RegistryClientOptions {
  /** Hosts (`host` or `host:port`) that may be spoken to over plain HTTP; loopback always may. */
  insecureRegistries?: string[];
  /** Retries after the first attempt for temporary failures (default 4). */
  retries?: number;
  /** Per-request limit for connecting, for the headers, and for each gap between body bytes (default 30 s). */
  timeoutMs?: number;
  /** First backoff delay; doubles per retry (default 500 ms). Tests set it low. */
  retryBaseMs?: number;
  /** Longest backoff delay (default 10 s). */
  retryMaxMs?: number;
  /** Longest Retry-After honoured (default 60 s). */
  maxRetryAfterMs?: number;
  /** PEM bundle of CA certificates trusted besides Node's roots (default: $SSL_CERT_FILE). */
  caFile?: string;
  /** Environment for DOCKER_CONFIG, HOME, HTTP(S)_PROXY, NO_PROXY, SSL_CERT_FILE and the PATH of credential helpers (default process.env). */
  env?: NodeJS.ProcessEnv;
  homedir?: string;
  userAgent?: string;
}

export interface ManifestResponse {
  bytes: Buffer;
  /** Content-Type without parameters, or the body's own mediaType when the server sent a generic type. */
  mediaType: string;
  /** sha256 of the bytes, checked against the digest asked for and Docker-Content-Digest. */
  digest: Digest;
}

export interface DownloadOptions {
  signal?: AbortSignal;
  /** Called after each chunk with the bytes the sink now holds (it can go down when a restart resets the sink). */
  onProgress?: (bytes: number) => void;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_USER_AGENT = 'rootforge';
const MAX_REDIRECTS = 5;
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** Dropped connections that made progress do not use up retries, but even those are bounded. */
const MAX_FREE_RESUMES = 50;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const GENERIC_CONTENT_TYPES = new Set(['', 'application/json', 'text/plain', 'application/octet-stream']);

/** Blob in memory, for configs and other small blobs. */
class MemorySink implements BlobSink {
  private chunks: Buffer[] = [];
  written = 0;

  async write(chunk: Uint8Array): Promise<void> {
    this.chunks.push(Buffer.from(chunk));
    this.written += chunk.byteLength;
  }

  async reset(): Promise<void> {
    this.chunks = [];
    this.written = 0;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks, this.written);
  }
}

interface Exchange {
  res: Dispatcher.ResponseData;
  url: URL;
  /** Whether the answer came from another origin than the registry (a redirect to blob storage). */
  redirected: boolean;
}

/** Sink failures (disk full, cache errors) are never network blips: keep them out of the retry path. */
async function sinkCall(call: () => Promise<void>): Promise<void> {
  try {
    await call();
  } catch (error) {
    throw asRootforgeError(error, 'ERR_CACHE');
  }
}

/** `bytes a-b/total` of a 206 answer. */
function parseContentRange(value: string | undefined): { start: number; end: number; total?: number } | undefined {
  const m = value && /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(value.trim());
  if (!m) return undefined;
  const range = { start: Number(m[1]), end: Number(m[2]) };
  return m[3] === '*' ? range : { ...range, total: Number(m[3]) };
}

function contentLength(res: Dispatcher.ResponseData): number | undefined {
  const v = headerValue(res.headers, 'content-length');
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

function manifestMediaType(contentType: string | undefined, bytes: Buffer): string {
  const declared = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!GENERIC_CONTENT_TYPES.has(declared)) return declared;
  try {
    const body = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown };
    if (typeof body.mediaType === 'string' && (isIndexMediaType(body.mediaType) || isManifestMediaType(body.mediaType))) return body.mediaType;
  } catch {
    // parseManifest reports unparseable manifests with a proper code
  }
  return declared;
}

/** Pulls manifests and blobs over undici; redirects are followed by hand so credentials stay with the registry. */
export class RegistryClient {
  private readonly insecure: Set<string>;
  private readonly timeoutMs: number;
  private readonly policy: RetryPolicy;
  private readonly userAgent: string;
  private readonly dispatcher: Dispatcher;
  private readonly auth: Authenticator;
  /** Hosts that may use plain HTTP and answered a TLS handshake with something else. */
  private readonly plainHttpHosts = new Set<string>();

  constructor(options: RegistryClientOptions = {}) {
    this.insecure = new Set((options.insecureRegistries ?? []).map((h) => h.trim().toLowerCase().replace(/^https?:\/\//, '').replace(/\/+$/, '')));
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.policy = {
      retries: options.retries ?? DEFAULT_RETRY_POLICY.retries,
      baseDelayMs: options.retryBaseMs ?? DEFAULT_RETRY_POLICY.baseDelayMs,
      maxDelayMs: options.retryMaxMs ?? DEFAULT_RETRY_POLICY.maxDelayMs,
      maxRetryAfterMs: options.maxRetryAfterMs ?? DEFAULT_RETRY_POLICY.maxRetryAfterMs,
    };
    this.userAgent = options.userAgent ?? DEFAULT_USER_AGENT;
    const env = options.env ?? process.env;
    this.dispatcher = registryDispatcher({ env, timeoutMs: this.timeoutMs, ...(options.caFile ? { caFile: options.caFile } : {}) });
    const home = options.homedir ?? (options.env ? undefined : osHomedir());
    this.auth = new Authenticator({
      loadCredentials: (registry) => loadCredentials(registry, { env, helperTimeoutMs: this.timeoutMs, ...(home !== undefined ? { homedir: home } : {}) }),
      userAgent: this.userAgent,
      timeoutMs: this.timeoutMs,
      dispatcher: this.dispatcher,
      allowHttp: (url) => this.allowsHttp(url),
    });
  }

  /** Plain HTTP is allowed for loopback hosts and hosts named in insecureRegistries, never silently elsewhere. */
  allowsHttp(url: URL): boolean {
    return isLoopbackHost(url.hostname) || this.insecure.has(url.host.toLowerCase()) || this.insecure.has(url.hostname.toLowerCase());
  }

  /** HTTPS, unless the host may use plain HTTP and was found not to speak TLS. */
  private baseUrl(ref: ImageReference): URL {
    let url: URL;
    try {
      url = new URL(`https://${ref.apiHost}/`);
    } catch {
      throw new RootforgeError('ERR_INVALID_REFERENCE', `invalid registry host ${JSON.stringify(ref.apiHost)}`);
    }
    return this.plainHttpHosts.has(url.host) ? new URL(`http://${ref.apiHost}/`) : url;
  }

  private mayUsePlainHttp(ref: ImageReference, url: URL): boolean {
    return this.allowsHttp(url) || this.insecure.has(ref.registry.toLowerCase());
  }

  /** Whether this client found that ref's registry answers a TLS handshake in plain text (and may use plain HTTP). */
  speaksPlainHttp(ref: ImageReference): boolean {
    return this.baseUrl(ref).protocol === 'http:';
  }

  /**
   * Takes another client's finding that ref's registry speaks plain HTTP, so this one skips its own TLS attempt.
   * Honoured only where this client's policy allows plain HTTP, so it can never downgrade any other registry.
   */
  learnPlainHttp(ref: ImageReference): void {
    const url = this.baseUrl(ref);
    if (url.protocol === 'https:' && this.mayUsePlainHttp(ref, url)) this.plainHttpHosts.add(url.host);
  }

  /** Fetches a manifest or index by digest (if the reference has one) or tag, verified and size-capped. */
  async getManifest(ref: ImageReference, signal?: AbortSignal): Promise<ManifestResponse> {
    const reference = manifestReference(ref);
    const where = `manifest ${reference} of ${ref.registry}/${ref.repository}`;
    try {
      return await withRetry(
        async () => {
          const dog = new Watchdog(this.timeoutMs, where, signal);
          let bytes: Buffer;
          let res: Dispatcher.ResponseData;
          try {
            const exchange = await this.fetch(ref, `/v2/${ref.repository}/manifests/${reference}`, { accept: MANIFEST_ACCEPT.join(', ') }, dog);
            res = exchange.res;
            if (res.statusCode !== 200) throw await this.failure(exchange, where, { notFound: 'ERR_MANIFEST_UNKNOWN' }, dog.signal);
            const tooLarge = (): RootforgeError => new RootforgeError('ERR_MANIFEST_TOO_LARGE', `${where} is larger than ${MAX_MANIFEST_BYTES} bytes`);
            const declared = contentLength(res);
            if (declared !== undefined && declared > MAX_MANIFEST_BYTES) {
              discardBody(res.body);
              throw tooLarge();
            }
            bytes = await readBodyCapped(res.body, MAX_MANIFEST_BYTES, tooLarge, () => dog.kick());
          } catch (error) {
            throw toNetworkError(error, where, dog.signal);
          } finally {
            dog.stop();
          }
          const digest = sha256Digest(bytes);
          if (ref.digest && digest !== ref.digest) {
            throw new RootforgeError('ERR_DIGEST_MISMATCH', `${where}: the registry sent content hashing to ${digest}`, { blob: ref.digest });
          }
          const claimed = headerValue(res.headers, 'docker-content-digest')?.trim();
          if (claimed && claimed.startsWith('sha256:') && claimed !== digest) {
            throw new RootforgeError('ERR_DIGEST_MISMATCH', `${where}: Docker-Content-Digest says ${claimed} but the content hashes to ${digest}`);
          }
          return { bytes, mediaType: manifestMediaType(headerValue(res.headers, 'content-type'), bytes), digest };
        },
        this.policy,
        signal ? { signal } : {},
      );
    } catch (error) {
      throw withContext(error, { image: formatReference(ref) });
    }
  }

  /** Fetches a small blob (an image config) into memory, refusing it past `maxBytes`; verified by size and digest. */
  async getBlobBytes(ref: ImageReference, descriptor: Descriptor, maxBytes: number, signal?: AbortSignal): Promise<Buffer> {
    if (descriptor.size > maxBytes) {
      throw new RootforgeError('ERR_LIMIT_EXCEEDED', `blob is ${descriptor.size} bytes, over the ${maxBytes}-byte limit`, { image: formatReference(ref), blob: descriptor.digest });
    }
    const sink = new MemorySink();
    await this.downloadBlob(ref, descriptor, sink, signal ? { signal } : {});
    const bytes = sink.bytes();
    if (bytes.byteLength !== descriptor.size) {
      throw new RootforgeError('ERR_SIZE_MISMATCH', `blob is ${bytes.byteLength} bytes, its descriptor says ${descriptor.size}`, { image: formatReference(ref), blob: descriptor.digest });
    }
    const actual = sha256Digest(bytes);
    if (actual !== descriptor.digest) {
      throw new RootforgeError('ERR_DIGEST_MISMATCH', `content hashes to ${actual}, expected ${descriptor.digest}`, { image: formatReference(ref), blob: descriptor.digest });
    }
    return bytes;
  }

  /** Streams a blob into `sink`, resuming with Range; caps it at descriptor.size but leaves the digest to the sink, which hashes anyway. */
  async downloadBlob(ref: ImageReference, descriptor: Descriptor, sink: BlobSink, opts: DownloadOptions = {}): Promise<void> {
    const { signal, onProgress } = opts;
    const size = descriptor.size;
    const where = `blob ${descriptor.digest.slice(0, 19)} of ${ref.registry}/${ref.repository}`;
    let highWater = sink.written;
    let freeResumes = 0;
    const consumesRetry = (error: RootforgeError): boolean => {
      const progressed = sink.written > highWater;
      highWater = Math.max(highWater, sink.written);
      // A stall always counts: a registry that trickles then stops would otherwise stretch --timeout × 50.
      if (progressed && error.code !== 'ERR_TIMEOUT' && freeResumes < MAX_FREE_RESUMES) {
        freeResumes++;
        return false;
      }
      return true;
    };

    const attempt = async (): Promise<void> => {
      if (sink.written > size) await sinkCall(() => sink.reset());
      if (sink.written === size) return;
      const start = sink.written;
      const headers: Record<string, string> = start > 0 ? { range: `bytes=${start}-` } : {};
      const dog = new Watchdog(this.timeoutMs, where, signal);
      let res: Dispatcher.ResponseData | undefined;
      try {
        const exchange = await this.fetch(ref, `/v2/${ref.repository}/blobs/${descriptor.digest}`, headers, dog);
        res = exchange.res;
        if (res.statusCode === 200) {
          if (sink.written > 0) await sinkCall(() => sink.reset());
        } else if (res.statusCode === 206) {
          const range = parseContentRange(headerValue(res.headers, 'content-range'));
          if (range?.total !== undefined && range.total !== size) {
            throw new RootforgeError('ERR_SIZE_MISMATCH', `${where}: the registry says the blob is ${range.total} bytes, its descriptor says ${size}`);
          }
          if (!range || range.start !== start) {
            // An answer for another range than asked: start over from zero on the next attempt.
            await sinkCall(() => sink.reset());
            throw new RootforgeError('ERR_NETWORK', `${where}: asked for bytes from ${start}, got ${headerValue(res.headers, 'content-range') ?? 'no Content-Range'}`, { temporary: true });
          }
        } else if (res.statusCode === 416 && start > 0) {
          await sinkCall(() => sink.reset());
          throw new RootforgeError('ERR_NETWORK', `${where}: the registry refused to resume at byte ${start}`, { temporary: true });
        } else {
          throw await this.failure(exchange, where, { notFound: 'ERR_NOT_FOUND' }, dog.signal);
        }

        const declared = contentLength(res);
        if (declared !== undefined && sink.written + declared > size) {
          throw new RootforgeError('ERR_SIZE_MISMATCH', `${where}: the registry sends ${sink.written + declared} bytes, the descriptor says ${size}`);
        }
        const iterator = res.body[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
        for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
          const chunk = next.value;
          if (sink.written + chunk.byteLength > size) {
            throw new RootforgeError('ERR_SIZE_MISMATCH', `${where}: the registry sent more than the ${size} bytes the descriptor declares`);
          }
          await sinkCall(() => sink.write(chunk));
          // Kicked after the write too, so a slow disk is not mistaken for a stalled registry.
          dog.kick();
          onProgress?.(sink.written);
        }
        if (sink.written < size) {
          throw new RootforgeError('ERR_NETWORK', `${where}: the connection ended after ${sink.written} of ${size} bytes`, { temporary: true });
        }
      } catch (error) {
        throw toNetworkError(error, where, dog.signal);
      } finally {
        dog.stop();
        if (res) discardBody(res.body);
      }
    };

    try {
      await withRetry(attempt, this.policy, { ...(signal ? { signal } : {}), consumesRetry });
    } catch (error) {
      throw withContext(error, { image: formatReference(ref), blob: descriptor.digest });
    }
  }

    private async fetch(ref: ImageReference, path: string, headers: Record<string, string>, dog: Watchdog): Promise<Exchange> {
    const base = this.baseUrl(ref);
    try {
      return await this.fetchFrom(base, ref, path, headers, dog);
    } catch (error) {
      // As Docker does: a host that may use plain HTTP is asked over HTTPS first, and over HTTP once it shows it does not speak TLS.
      if (base.protocol !== 'https:' || !this.mayUsePlainHttp(ref, base) || !isPlainHttpServer(error)) throw error;
      this.plainHttpHosts.add(base.host);
      return this.fetchFrom(this.baseUrl(ref), ref, path, headers, dog);
    }
  }

  /** One GET against the registry: answers an auth challenge once, follows redirects. */
  private async fetchFrom(base: URL, ref: ImageReference, path: string, headers: Record<string, string>, dog: Watchdog): Promise<Exchange> {
    const url = new URL(path, base);
    const scope = `repository:${ref.repository}:pull`;
    let authorization = await this.auth.preemptive(ref, scope);
    for (let challenged = false; ; challenged = true) {
      const exchange = await this.follow(url, base, headers, authorization, dog);
      if (exchange.res.statusCode !== 401 || challenged || exchange.redirected) return exchange;
      const challenge = exchange.res.headers['www-authenticate'];
      await exchange.res.body.dump({ limit: MAX_ERROR_BODY_BYTES }).catch(() => undefined);
      authorization = await this.auth.authorize(ref, scope, challenge, authorization, dog.signal);
      dog.kick();
    }
  }

  /** Sends the request and follows redirects by hand, so Authorization never leaves the registry's origin. */
  private async follow(start: URL, base: URL, headers: Record<string, string>, authorization: string | undefined, dog: Watchdog): Promise<Exchange> {
    let url = start;
    for (let hops = 0; ; hops++) {
      const sent: Record<string, string> = { ...headers, 'user-agent': this.userAgent };
      if (authorization && url.origin === base.origin) sent.authorization = authorization;
      let res: Dispatcher.ResponseData;
      try {
        res = await request(url, {
          method: 'GET',
          headers: sent,
          signal: dog.signal,
          dispatcher: this.dispatcher,
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
        });
      } catch (error) {
        throw toNetworkError(error, describeUrl(url), dog.signal);
      }
      dog.kick();
      const location = headerValue(res.headers, 'location');
      if (!REDIRECT_STATUSES.has(res.statusCode) || !location) return { res, url, redirected: url.origin !== base.origin };
      await res.body.dump({ limit: MAX_ERROR_BODY_BYTES }).catch(() => undefined);
      if (hops >= MAX_REDIRECTS) {
        throw new RootforgeError('ERR_REDIRECT_LOOP', `more than ${MAX_REDIRECTS} redirects fetching ${describeUrl(start)}`);
      }
      let next: URL;
      try {
        next = new URL(location, url);
      } catch {
        throw new RootforgeError('ERR_REGISTRY', `${describeUrl(url)} redirected to an invalid location`);
      }
      if (next.protocol !== 'https:' && next.protocol !== 'http:') {
        throw new RootforgeError('ERR_REGISTRY', `${describeUrl(url)} redirected to an unsupported ${next.protocol} URL`);
      }
      if (next.protocol === 'http:' && !this.allowsHttp(next)) {
        throw new RootforgeError('ERR_INSECURE_REGISTRY', `${describeUrl(url)} redirected to plain HTTP at ${next.host}`);
      }
      url = next;
    }
  }

  /** The error for a non-success answer, with the registry's own error code when it sent one. */
  private async failure({ res, url, redirected }: Exchange, where: string, opts: StatusErrorOptions, signal?: AbortSignal): Promise<RootforgeError> {
    if (redirected) where = `${where} (redirected to ${url.host})`;
    let body: Buffer = Buffer.alloc(0);
    try {
      body = await readBodyPrefix(res.body, MAX_ERROR_BODY_BYTES);
    } catch (error) {
      if (signal?.aborted) return toNetworkError(error, where, signal);
    }
    return statusError(res.statusCode, res.headers, body, where, { ...opts, redirected, maxRetryAfterMs: this.policy.maxRetryAfterMs });
  }
}
