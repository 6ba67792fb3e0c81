import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { OciLayout } from '../cache/layout.js';
import { defaultCacheDir } from '../cache/dirs.js';
import { tempOwnerPid } from '../cache/stale.js';
import { DEFAULT_PLATFORM, parsePlatform } from '../oci/platform.js';
import type { Platform } from '../oci/types.js';
import { RegistryClient, type RegistryClientOptions } from '../registry/client.js';
import type { ImageReference } from '../registry/reference.js';
import type { EventListener } from './events.js';
import type { LayerTaskResult } from './layer-task.js';
import { createLayerPool, defaultWorkerCount, type LayerPool } from './pool.js';
import type { ResolvedImage } from './resolve.js';

export const DEFAULT_MAX_LAYER_BYTES = 64 * 1024 ** 3;

export interface SessionOptions {
  cacheDir?: string;
  platform?: string;
  insecureRegistries?: string[];
  retries?: number;
  /** Per-request inactivity timeout in milliseconds. */
  timeoutMs?: number;
  workers?: number;
  maxLayerBytes?: number;
  signal?: AbortSignal;
  onEvent?: EventListener;
  env?: NodeJS.ProcessEnv;
  /** Registry client tuning beyond the above (backoff delays, user agent). */
  registry?: Pick<RegistryClientOptions, 'retryBaseMs' | 'retryMaxMs' | 'maxRetryAfterMs' | 'userAgent'>;
}

/** What one run shares across its images: the cache, the registry client, the worker pool, and in-flight layers. */
export class Session {
  readonly platform: Platform;
  readonly clientOptions: RegistryClientOptions;
  readonly client: RegistryClient;
  private readonly pool: LayerPool;
  private readonly layers = new Map<string, Promise<LayerTaskResult>>();

  private constructor(readonly layout: OciLayout, readonly options: SessionOptions) {
    this.platform = options.platform ? parsePlatform(options.platform) : DEFAULT_PLATFORM;
    this.clientOptions = {
      ...options.registry,
      ...(options.env ? { env: { ...options.env } } : {}),
      insecureRegistries: options.insecureRegistries ?? [],
      ...(options.retries !== undefined ? { retries: options.retries } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    };
    this.client = new RegistryClient(this.clientOptions);
    this.pool = createLayerPool(options.workers ?? defaultWorkerCount());
  }

  static async open(options: SessionOptions): Promise<Session> {
    const layout = await OciLayout.open(options.cacheDir ?? defaultCacheDir(options.env));
    await layout.cleanStaleTemps();
    return new Session(layout, options);
  }

  emit: EventListener = (event) => this.options.onEvent?.(event);

  /** Every distinct layer is prepared once per run, however many images ask for it at once. */
  prepareLayers(image: ResolvedImage, signal?: AbortSignal): Promise<LayerTaskResult[]> {
    return Promise.all(
      image.layers.map(({ descriptor, diffId }) => {
        // Keyed by diff_id too: an image that pairs a shared blob with another diff_id must fail on its own.
        const key = `${descriptor.digest} ${diffId}`;
        let pending = this.layers.get(key);
        if (!pending) {
          const task = { cacheDir: this.layout.root, ref: plainRef(image.ref), descriptor, diffId, client: this.clientOptions, maxUncompressedBytes: this.options.maxLayerBytes ?? DEFAULT_MAX_LAYER_BYTES };
          pending = this.pool.run(task, signal);
          this.layers.set(key, pending);
        }
        return pending;
      }),
    );
  }

  /** Stops the pool and removes this process's own temp files (a pool thread killed mid-write leaves one). */
  async close(): Promise<void> {
    await this.pool.destroy();
    const names = await readdir(this.layout.tempDir).catch(() => [] as string[]);
    await Promise.all(names.filter((n) => tempOwnerPid(n) === process.pid).map((n) => rm(join(this.layout.tempDir, n), { force: true })));
  }
}

/** Structured-clone-safe copy of a reference for the worker boundary. */
function plainRef(ref: ImageReference): ImageReference {
  return JSON.parse(JSON.stringify(ref)) as ImageReference;
}
