import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { OciLayout } from '../cache/layout.js';
import { defaultCacheDir } from '../cache/dirs.js';
import { tempOwnerPid } from '../cache/stale.js';
import { DEFAULT_PLATFORM, parsePlatform } from '../oci/platform.js';
import type { Descriptor, Platform } from '../oci/types.js';
import type { Digest } from '../oci/digest.js';
import { RegistryClient, type RegistryClientOptions } from '../registry/client.js';
import { formatReference, type ImageReference } from '../registry/reference.js';
import { listCachedImages } from '../cache/refs.js';
import { LocalImageSource } from '../local/local-source.js';
import { locationRef, type ImageLocation } from '../local/transport.js';
import type { EventListener, RunEvent, RunEventInput } from './events.js';
import type { LayerTaskResult } from './layer-task.js';
import { createLayerPool, defaultWorkerCount, type LayerPool } from './pool.js';
import { resolveImage, type ResolvedImage } from './resolve.js';
import { DEFAULT_EXPANSION_LIMITS, uncompressedLimit } from '../layer/expansion-limit.js';

export interface SessionOptions {
  cacheDir?: string;
  platform?: string;
  insecureRegistries?: string[];
  /** PEM bundle of CA certificates trusted besides Node's roots (default: $SSL_CERT_FILE). */
  caFile?: string;
  retries?: number;
  /** Per-request inactivity timeout in milliseconds. */
  timeoutMs?: number;
  workers?: number;
  /** Most uncompressed bytes a layer may have (default 64 GiB). */
  maxLayerBytes?: number;
  /** Most uncompressed bytes per compressed byte of a layer over 256 MiB (default 100; 0 = no ratio check). */
  maxExpansion?: number;
  signal?: AbortSignal;
  onEvent?: EventListener;
  env?: NodeJS.ProcessEnv;
  /** Where archives (oci-archive:, docker-archive:) are unpacked (default: $TMPDIR). */
  workDir?: string;
  /** Pull-through mirrors: registry (e.g. docker.io) -> mirror host[:port]; a mirror that fails falls back to the registry. */
  mirrors?: Record<string, string>;
  /** Decompress zstd layers with the zstd tool when it is installed (default true); false keeps to fzstd. */
  externalDecoders?: boolean;
  /** Registry client tuning beyond the above (backoff delays, user agent). */
  registry?: Pick<RegistryClientOptions, 'retryBaseMs' | 'retryMaxMs' | 'maxRetryAfterMs' | 'userAgent'>;
}

/** What one run shares across its images: the cache, the registry client, the worker pool, and in-flight layers. */
export class Session {
  readonly platform: Platform;
  readonly clientOptions: RegistryClientOptions;
  readonly client: RegistryClient;
  private readonly layers = new Map<string, Promise<LayerTaskResult>>();
  /** Local layouts and archives opened this run. */
  private readonly locals = new Map<string, Promise<LocalImageSource>>();
  /** Who follows each in-flight download: every image that shares the blob sees its bytes. */
  private readonly followers = new Map<string, Set<(bytes: number) => void>>();

  private constructor(readonly layout: OciLayout, readonly options: SessionOptions, private readonly pool: LayerPool) {
    this.platform = options.platform ? parsePlatform(options.platform) : DEFAULT_PLATFORM;
    this.clientOptions = clientOptionsFor(options);
    this.client = new RegistryClient(this.clientOptions);
  }

  /**
   * Opens the cache and, when some of `warmUpFor` are not complete in it, starts a worker thread
   * (about 0.2 s of start-up, its registry client included) before this thread builds its own
   * registry client: the two then overlap each other and resolving, instead of delaying the first download.
   */
  static async open(options: SessionOptions, warmUpFor: readonly ImageLocation[] = []): Promise<Session> {
    const layout = await OciLayout.open(cacheRootFor(options));
    await layout.cleanStaleTemps();
    const pool = createLayerPool(options.workers ?? defaultWorkerCount(), clientOptionsFor(options));
    try {
      if (await needsWorkers(layout, warmUpFor)) await pool.warmUp();
      return new Session(layout, options, pool);
    } catch (error) {
      await pool.destroy();
      throw error;
    }
  }

  emit = (event: RunEventInput): void => this.options.onEvent?.({ ...event, at: Date.now() } as RunEvent);

  /**
   * Resolves a local layout or archive from disk; a registry image through the registry's mirror
   * when one is set, else (or when the mirror fails) the registry itself.
   */
  async resolve(location: ImageLocation, platform: string | undefined, signal?: AbortSignal): Promise<ResolvedImage> {
    const wanted = platform ? parsePlatform(platform) : this.platform;
    if (location.transport !== 'docker') {
      const source = await this.localSource(location, signal);
      const image = await resolveImage(source, this.layout, locationRef(location), wanted, signal);
      return { ...image, localBlobs: Object.fromEntries(image.layers.map((l) => [l.descriptor.digest, source.blobFile(l.descriptor.digest)])) };
    }
    const ref = location.ref;
    const mirror = this.options.mirrors?.[ref.registry];
    if (mirror) {
      try {
        return await resolveImage(this.client, this.layout, { ...ref, registry: mirror, apiHost: mirror }, wanted, signal);
      } catch (error) {
        signal?.throwIfAborted();
        this.emit({ type: 'warning', image: formatReference(ref), message: `mirror ${mirror} failed (${(error as Error).message}); using ${ref.registry}` });
      }
    }
    return resolveImage(this.client, this.layout, ref, wanted, signal);
  }

  /** Every distinct layer is prepared once per run, however many images ask for it at once. */
  prepareLayers(image: ResolvedImage, signal?: AbortSignal, onProgress?: (bytes: number, totalBytes: number) => void): Promise<LayerTaskResult[]> {
    const totalBytes = image.layers.reduce((sum, l) => sum + l.descriptor.size, 0);
    const fetched = new Map<string, number>();
    const report = (key: string, bytes: number): void => {
      fetched.set(key, bytes);
      onProgress?.([...fetched.values()].reduce((a, b) => a + b, 0), totalBytes);
    };
    return Promise.all(
      image.layers.map(async ({ descriptor, diffId }) => {
        // Keyed by diff_id too: an image that pairs a shared blob with another diff_id must fail on its own.
        const key = `${descriptor.digest} ${diffId}`;
        let followers = this.followers.get(key);
        if (!followers) this.followers.set(key, (followers = new Set()));
        const follow = (bytes: number): void => report(key, bytes);
        followers.add(follow);
        let pending = this.layers.get(key);
        if (!pending) {
          const localBlob = image.localBlobs?.[descriptor.digest];
          const task = {
            cacheDir: this.layout.root,
            ref: plainRef(image.ref),
            descriptor,
            diffId,
            client: this.clientOptions,
            maxUncompressedBytes: uncompressedLimit(descriptor.size, {
              maxLayerBytes: this.options.maxLayerBytes ?? DEFAULT_EXPANSION_LIMITS.maxLayerBytes,
              maxExpansion: this.options.maxExpansion ?? DEFAULT_EXPANSION_LIMITS.maxExpansion,
            }),
            ...(localBlob ? { localBlob } : {}),
            ...(!localBlob && this.client.speaksPlainHttp(image.ref) ? { plainHttp: true } : {}),
            ...(this.options.externalDecoders === false ? { externalDecoders: false } : {}),
          };
          const all = followers;
          // A layer already in the cache needs no worker thread: starting one costs more than the check.
          pending = this.cachedLayer(descriptor, diffId).then((hit) => hit ?? this.pool.run(task, signal, (bytes) => all.forEach((f) => f(bytes))));
          this.layers.set(key, pending);
        }
        try {
          return await pending;
        } finally {
          followers.delete(follow);
          report(key, descriptor.size);
        }
      }),
    );
  }

  private async cachedLayer(descriptor: Descriptor, diffId: Digest): Promise<LayerTaskResult | undefined> {
    if (!(await this.layout.hasBlob(descriptor.digest, descriptor.size))) return undefined;
    const uncompressedBytes = await this.layout.blobSize(diffId);
    if (uncompressedBytes === undefined) return undefined;
    return { digest: descriptor.digest, diffId, downloadedBytes: 0, uncompressedBytes, downloadSeconds: 0, decompressSeconds: 0 };
  }

  /** Each local layout or archive is opened (an archive unpacked) once per run. */
  private localSource(location: Exclude<ImageLocation, { transport: 'docker' }>, signal?: AbortSignal): Promise<LocalImageSource> {
    const key = `${location.transport}:${location.path}:${location.name ?? ''}`;
    let source = this.locals.get(key);
    if (!source) {
      source = LocalImageSource.open(location.transport, location.path, location.name, this.options.workDir, signal);
      this.locals.set(key, source);
    }
    return source;
  }

  /** Stops the pool and removes this process's own temp files (a pool thread killed mid-write leaves one) and unpacked archives. */
  async close(): Promise<void> {
    await this.pool.destroy();
    for (const [key, pending] of this.locals) {
      const source = await pending.catch(() => undefined);
      if (source && !key.startsWith('oci:')) await rm(source.root, { recursive: true, force: true });
    }
    const names = await readdir(this.layout.tempDir).catch(() => [] as string[]);
    await Promise.all(names.filter((n) => tempOwnerPid(n) === process.pid).map((n) => rm(join(this.layout.tempDir, n), { force: true })));
  }
}

/** The run's cache directory: the one given, else the user's default. */
export function cacheRootFor(options: Pick<SessionOptions, 'cacheDir' | 'env'>): string {
  return options.cacheDir ?? defaultCacheDir(options.env);
}

/** What a registry client is built from, in this thread and in the pool's. Plain data, for the worker boundary. */
function clientOptionsFor(options: SessionOptions): RegistryClientOptions {
  return {
    ...options.registry,
    ...(options.env ? { env: { ...options.env } } : {}),
    insecureRegistries: options.insecureRegistries ?? [],
    ...(options.caFile ? { caFile: options.caFile } : {}),
    ...(options.retries !== undefined ? { retries: options.retries } : {}),
    ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
  };
}

/** Whether these images need a worker thread: local layouts and archives always do; registry images unless complete in the cache. */
async function needsWorkers(layout: OciLayout, locations: readonly ImageLocation[]): Promise<boolean> {
  if (locations.length === 0) return false;
  const names = new Set<string>();
  for (const location of locations) {
    // Local layouts and archives are copied in by the workers; only registry images can be complete already.
    if (location.transport !== 'docker') return true;
    names.add(formatReference(location.ref));
  }
  const cached = await listCachedImages(layout, names).catch(() => []);
  const complete = new Set(cached.filter((image) => image.complete).map((image) => image.name));
  return [...names].some((name) => !complete.has(name));
}

/** Structured-clone-safe copy of a reference for the worker boundary. */
function plainRef(ref: ImageReference): ImageReference {
  return JSON.parse(JSON.stringify(ref)) as ImageReference;
}
