import { once } from 'node:events';
import { Writable, type Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RootforgeError } from '../errors.js';
import type { BlobWriter } from '../cache/blob-writer.js';
import type { OciLayout } from '../cache/layout.js';
import type { Digest } from '../oci/digest.js';
import type { BlobSink } from '../oci/blob-sink.js';
import { decompressStream, type Compression } from '../layer/decompress.js';
import { keepLayerIndex } from '../layer/layer-index.js';
import { LayerIndexer } from '../layer/layer-indexer.js';

/** A stream that writes into a blob writer (and the layer's indexer), with backpressure. */
export function writableInto(writer: BlobWriter, indexer?: LayerIndexer): Writable {
  return new Writable({
    highWaterMark: 1 << 20,
    write(chunk: Buffer, _encoding, callback) {
      writer
        .write(chunk)
        .then(() => indexer?.write(chunk))
        .then(() => callback(), callback);
    },
  });
}

/** Publishes an uncompressed layer, then keeps its index; content that does not hash to its diff_id means the image is corrupt. */
export async function commitUncompressed(writer: BlobWriter, layout: OciLayout, indexer: LayerIndexer): Promise<number> {
  const size = writer.written;
  try {
    await writer.commit();
  } catch (error) {
    if ((error as RootforgeError).code === 'ERR_DIGEST_MISMATCH') {
      throw new RootforgeError('ERR_DIFFID_MISMATCH', `uncompressed layer does not match diff_id ${writer.expected.digest}`, { cause: error });
    }
    throw error;
  }
  const index = await indexer.finish(size);
  if (index) await keepLayerIndex(layout.layerIndexPath(writer.expected.digest), writer.expected.digest, index);
  return size;
}

/** What unpacks a layer while it downloads: in-process here, or through an external decoder (external-unpack.ts). */
export interface DownloadUnpack {
  tee(blob: BlobWriter): BlobSink;
  abandon(): Promise<void>;
  finish(): Promise<number | undefined>;
}

/** A sink that writes each downloaded chunk to `blob` and feeds it to a decompressor at once; `feed` must never throw. A download that starts over abandons the unpack. */
export function teeSink(blob: BlobWriter, feed: (chunk: Uint8Array) => Promise<void>, abandon: () => Promise<void>): BlobSink {
  return {
    get written() {
      return blob.written;
    },
    write: async (chunk) => {
      await Promise.all([blob.write(chunk), feed(chunk)]);
    },
    reset: async () => {
      await abandon();
      await blob.reset();
    },
  };
}

/**
 * Decompresses a layer while it downloads, into the blob named by its diff_id, so the two overlap.
 * Anything unusual (a download that starts over, a decompression error, a limit) abandons it quietly:
 * the sequential unpack then runs after the download and reports what is wrong.
 */
export class StreamingUnpack implements DownloadUnpack {
  private abandoned = false;

  private constructor(
    private readonly layout: OciLayout,
    private readonly writer: BlobWriter,
    private readonly indexer: LayerIndexer,
    private readonly transform: Transform,
    private readonly drained: Promise<void>,
  ) {}

  static async start(layout: OciLayout, compression: Exclude<Compression, 'none'>, diffId: Digest, maxBytes: number): Promise<StreamingUnpack> {
    const writer = await layout.createWriter({ digest: diffId, maxBytes });
    const indexer = new LayerIndexer(diffId);
    const transform = decompressStream(compression);
    const output = writableInto(writer, indexer);
    let unpack: StreamingUnpack | undefined;
    const drained = pipeline(transform, output).catch(() => unpack?.abandon());
    unpack = new StreamingUnpack(layout, writer, indexer, transform, drained);
    return unpack;
  }

  /** A sink that writes the download to `blob` and feeds each chunk to the decompressor too. */
  tee(blob: BlobWriter): BlobSink {
    return teeSink(blob, (chunk) => this.feed(chunk), () => this.abandon());
  }

  /** Never throws: a failing decompressor must not fail the download, only the streaming attempt. */
  private async feed(chunk: Uint8Array): Promise<void> {
    if (this.abandoned) return;
    try {
      if (!this.transform.write(chunk)) await Promise.race([once(this.transform, 'drain'), this.drained]);
    } catch {
      await this.abandon();
    }
  }

  /** Stops decompressing and removes the temp file; harmless after finish(). */
  async abandon(): Promise<void> {
    this.abandoned = true;
    this.transform.destroy();
    this.indexer.abandon();
    await this.writer.abort();
  }

  /** After the compressed blob was verified: publishes the uncompressed tar and returns its size, or undefined if abandoned. */
  async finish(): Promise<number | undefined> {
    if (!this.abandoned) {
      this.transform.end();
      await this.drained;
    }
    if (this.abandoned) {
      await this.writer.abort();
      return undefined;
    }
    return commitUncompressed(this.writer, this.layout, this.indexer);
  }
}
