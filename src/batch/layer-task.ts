import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { RootforgeError, withContext } from '../errors.js';
import { OciLayout } from '../cache/layout.js';
import type { Digest } from '../oci/digest.js';
import { layerCompression } from '../oci/media-types.js';
import type { Descriptor } from '../oci/types.js';
import { RegistryClient, type RegistryClientOptions } from '../registry/client.js';
import type { ImageReference } from '../registry/reference.js';
import { decompressStream } from '../layer/decompress.js';
import { commitUncompressed, StreamingUnpack, writableInto, type DownloadUnpack } from './streaming-unpack.js';
import { ExternalUnpack } from './external-unpack.js';
import { LayerIndexer } from '../layer/layer-indexer.js';
import { EXTERNAL_DECODE_MIN_BYTES, findZstdTool } from '../layer/external-decoder.js';

/** Plain data, so it can cross into a worker thread. */
export interface LayerTask {
  cacheDir: string;
  ref: ImageReference;
  descriptor: Descriptor;
  diffId: Digest;
  client: RegistryClientOptions;
  /** A local layout's or archive's copy of the blob: copied (and verified) instead of downloaded. */
  localBlob?: string;
  /** Refuse layers that expand past this many bytes (decompression bombs). */
  maxUncompressedBytes: number;
  /** The main thread found the registry speaks plain HTTP: the pool's client need not try TLS first again. */
  plainHttp?: boolean;
  /** Decompress zstd layers with the zstd tool when installed (default true); false keeps to fzstd. */
  externalDecoders?: boolean;
}

export interface LayerTaskResult {
  digest: Digest;
  diffId: Digest;
  /** Bytes fetched from the registry in this task; 0 when the blob was already cached. */
  downloadedBytes: number;
  uncompressedBytes: number;
  downloadSeconds: number;
  decompressSeconds: number;
}

// A pool's threads live for one run, so this keeps each registry's credential lookup (maybe a helper process) to once per thread and run.
const clients = new Map<string, RegistryClient>();
function clientFor(options: RegistryClientOptions): RegistryClient {
  const key = JSON.stringify(options);
  let client = clients.get(key);
  if (!client) {
    client = new RegistryClient(options);
    clients.set(key, client);
  }
  return client;
}

/** Builds this thread's client ahead of its first task (its TLS context alone takes about 50 ms); a task that needs a broken one reports why. */
export function prepareClient(options: RegistryClientOptions | undefined): void {
  if (!options) return;
  try {
    clientFor(options);
  } catch {
    // The first download builds it again and fails with the error.
  }
}

/**
 * Makes one layer ready for builds: the compressed blob verified in the cache, and its
 * uncompressed tar verified against the diff_id and kept under blobs/sha256/<diff_id>.
 */
export async function prepareLayer(task: LayerTask, opts: { signal?: AbortSignal; onProgress?: (bytes: number) => void } = {}): Promise<LayerTaskResult> {
  const { descriptor, diffId } = task;
  const layout = await OciLayout.open(task.cacheDir);
  const result: LayerTaskResult = { digest: descriptor.digest, diffId, downloadedBytes: 0, uncompressedBytes: 0, downloadSeconds: 0, decompressSeconds: 0 };
  const compression = layerCompression(descriptor.mediaType);
  if (!compression) throw new RootforgeError('ERR_UNSUPPORTED_MEDIA_TYPE', `layer media type ${descriptor.mediaType} is not supported`, { blob: descriptor.digest });

  const ready = (await layout.hasBlob(descriptor.digest, descriptor.size)) && (await layout.blobSize(diffId)) !== undefined;
  // Another process fetching the same blob into this cache is waited for, not raced.
  const release = ready ? undefined : await layout.lockBlob(descriptor.digest, opts.signal);
  try {
    let started = performance.now();
    let streamed: number | undefined;
    let triedTool = false;
    if (!(await layout.hasBlob(descriptor.digest, descriptor.size))) {
      const writer = await layout.createWriter({ digest: descriptor.digest, size: descriptor.size });
      // Decompress while downloading when the uncompressed tar is wanted too: the two then overlap.
      const unpack = compression !== 'none' && (await layout.blobSize(diffId)) === undefined ? await startUnpack(layout, task, compression) : undefined;
      triedTool = unpack instanceof ExternalUnpack;
      const sink = unpack ? unpack.tee(writer) : writer;
      try {
        if (task.localBlob) {
          for await (const chunk of createReadStream(task.localBlob, { highWaterMark: 1 << 20, ...(opts.signal ? { signal: opts.signal } : {}) })) {
            await sink.write(chunk as Buffer);
            opts.onProgress?.(sink.written);
          }
        } else {
          const client = clientFor(task.client);
          if (task.plainHttp) client.learnPlainHttp(task.ref);
          await client.downloadBlob(task.ref, descriptor, sink, { signal: opts.signal, onProgress: opts.onProgress });
        }
        result.downloadedBytes = writer.written;
        await writer.commit();
        streamed = await unpack?.finish();
      } finally {
        await unpack?.abandon();
        await writer.abort();
      }
    }
    result.downloadSeconds = (performance.now() - started) / 1000;

    started = performance.now();
    const existing = streamed ?? (await layout.blobSize(diffId));
    if (existing !== undefined) {
      result.uncompressedBytes = existing;
    } else {
      // A cached blob whose tar was pruned goes through the zstd tool too; one it just failed on, or gzip, does not.
      const byTool = triedTool || compression !== 'zstd' ? undefined : await unpackWithTool(layout, task, opts.signal);
      result.uncompressedBytes = byTool ?? (await unpackLayer(layout, descriptor.digest, compression, diffId, task.maxUncompressedBytes, opts.signal));
    }
    result.decompressSeconds = (performance.now() - started) / 1000;
    return result;
  } catch (error) {
    throw withContext(error, { blob: descriptor.digest });
  } finally {
    await release?.();
  }
}

/** The zstd tool, for a zstd layer that is not tiny, unless the task keeps to fzstd. */
async function zstdToolFor(task: LayerTask, compression: 'gzip' | 'zstd'): Promise<string | undefined> {
  if (compression !== 'zstd' || task.externalDecoders === false || task.descriptor.size < EXTERNAL_DECODE_MIN_BYTES) return undefined;
  return findZstdTool();
}

/** Decompresses while downloading: zstd through the zstd tool when there is one for it, else in-process. */
async function startUnpack(layout: OciLayout, task: LayerTask, compression: 'gzip' | 'zstd'): Promise<DownloadUnpack> {
  const zstd = await zstdToolFor(task, compression);
  if (zstd) return ExternalUnpack.start(layout, task.diffId, task.maxUncompressedBytes, zstd);
  return StreamingUnpack.start(layout, compression, task.diffId, task.maxUncompressedBytes);
}

/** Decompresses the cached zstd blob through the zstd tool: its size, or undefined when there is no tool or the attempt was dropped. */
async function unpackWithTool(layout: OciLayout, task: LayerTask, signal?: AbortSignal): Promise<number | undefined> {
  const zstd = await zstdToolFor(task, 'zstd');
  if (!zstd) return undefined;
  const unpack = await ExternalUnpack.start(layout, task.diffId, task.maxUncompressedBytes, zstd);
  try {
    for await (const chunk of createReadStream(layout.blobPath(task.descriptor.digest), { highWaterMark: 1 << 20, ...(signal ? { signal } : {}) })) await unpack.feed(chunk as Buffer);
    return await unpack.finish();
  } finally {
    await unpack.abandon();
  }
}

async function unpackLayer(layout: OciLayout, digest: Digest, compression: 'gzip' | 'zstd' | 'none', diffId: Digest, maxBytes: number, signal?: AbortSignal): Promise<number> {
  const writer = await layout.createWriter({ digest: diffId, maxBytes });
  const indexer = new LayerIndexer(diffId);
  try {
    await pipeline(
      createReadStream(layout.blobPath(digest), { highWaterMark: 1 << 20 }),
      decompressStream(compression),
      writableInto(writer, indexer),
      { signal },
    ).catch((error: unknown) => {
      if ((error as RootforgeError).code !== 'ERR_LIMIT_EXCEEDED') throw error;
      throw new RootforgeError('ERR_LIMIT_EXCEEDED', `the layer expands past ${maxBytes} bytes: a decompression bomb, or an image larger than the limits allow`, {
        blob: digest,
        cause: error,
        hint: 'Raise --max-layer-size or --max-expansion (0 turns the ratio check off), only for images you trust.',
      });
    });
    return await commitUncompressed(writer, layout, indexer);
  } finally {
    indexer.abandon();
    await writer.abort();
  }
}
