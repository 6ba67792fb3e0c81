import { once } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import type { RootforgeError } from '../errors.js';
import type { BlobWriter } from '../cache/blob-writer.js';
import type { OciLayout } from '../cache/layout.js';
import type { Digest } from '../oci/digest.js';
import type { BlobSink } from '../oci/blob-sink.js';
import { startDecoder, type RunningDecoder } from '../layer/external-decoder.js';
import { LayerIndexer } from '../layer/layer-indexer.js';
import { ZstdFrameCheck } from '../layer/zstd-frames.js';
import { commitUncompressed, teeSink, type DownloadUnpack } from './streaming-unpack.js';

/** How often the decoder's output is taken in, and its size checked, while it runs: it bounds how far past the size limit a bomb gets. */
const ABSORB_INTERVAL_MS = 20;

/** Compressed bytes queued for the decoder before the download waits for it. */
const INPUT_SLACK = 8 << 20;

/**
 * Decompresses a zstd layer while it downloads through the zstd tool, which writes the uncompressed
 * tar straight into its temp file; this thread reads it back as it grows, to hash, index and limit it.
 * It only accelerates: whatever the tool refuses, or makes of the layer what its diff_id does not
 * name, is abandoned, and the sequential in-process unpack decides (and words the error).
 */
export class ExternalUnpack implements DownloadUnpack {
  private abandoned = false;
  /** The tool gets only well-formed frames, as fzstd accepts them: it would also take gzip or xz. */
  private readonly frames = new ZstdFrameCheck();
  private absorbed: Promise<boolean> = Promise.resolve(false);

  private constructor(
    private readonly layout: OciLayout,
    private readonly writer: BlobWriter,
    private readonly indexer: LayerIndexer,
    private readonly decoder: RunningDecoder,
  ) {}

  static async start(layout: OciLayout, diffId: Digest, maxBytes: number, zstd: string): Promise<ExternalUnpack> {
    const writer = await layout.createWriter({ digest: diffId, maxBytes });
    const unpack = new ExternalUnpack(layout, writer, new LayerIndexer(diffId), startDecoder(zstd, writer.fd));
    unpack.absorbed = unpack.absorbWhileRunning();
    unpack.guardSize(maxBytes);
    return unpack;
  }

  /** Stops a decoder whose file passes the limit, however far behind the reading is (a bomb decodes at GB/s). */
  private guardSize(maxBytes: number): void {
    const check = async (): Promise<void> => {
      if ((await this.writer.fileBytes()) > maxBytes) await this.abandon();
    };
    // A closed file (abandoned, or committed) ends the checks too.
    const timer = setInterval(() => void check().catch(() => clearInterval(timer)), ABSORB_INTERVAL_MS);
    timer.unref();
    void this.decoder.done.then(() => clearInterval(timer));
  }

  tee(blob: BlobWriter): BlobSink {
    return teeSink(blob, (chunk) => this.feed(chunk), () => this.abandon());
  }

  /** Takes the decoder's output in as it comes; true once it exited well and all of it was taken in. */
  private async absorbWhileRunning(): Promise<boolean> {
    try {
      for (;;) {
        const exited = this.decoder.exited();
        await this.writer.absorb((chunk) => this.indexer.write(chunk));
        if (exited) return await this.decoder.done;
        await Promise.race([this.decoder.done, delay(ABSORB_INTERVAL_MS)]);
      }
    } catch {
      // Past the size limit, or abandoned: the decoder must stop writing at once.
      await this.abandon();
      return false;
    }
  }

  /** The next compressed bytes. Never throws: a failing decoder must not fail the download, only this attempt. */
  async feed(chunk: Uint8Array): Promise<void> {
    if (this.abandoned) return;
    try {
      const frames = this.frames.feed(chunk);
      const input = this.decoder.input;
      // Waiting for each 64 KiB to drain into the pipe would cost a round trip per chunk.
      if (frames.length > 0 && !input.write(frames) && input.writableLength > INPUT_SLACK) await Promise.race([once(input, 'drain'), this.decoder.done]);
    } catch {
      await this.abandon();
    }
  }

  /** Whether the input ended right after a whole frame, as fzstd requires. */
  private inputWasWhole(): boolean {
    try {
      this.frames.end();
      return true;
    } catch {
      return false;
    }
  }

  async abandon(): Promise<void> {
    this.abandoned = true;
    this.decoder.stop();
    this.decoder.input.destroy();
    this.indexer.abandon();
    await this.writer.abort();
  }

  /** After the compressed blob was verified: publishes the uncompressed tar and returns its size, or undefined if abandoned. */
  async finish(): Promise<number | undefined> {
    if (!this.abandoned) this.decoder.input.end();
    const complete = await this.absorbed;
    if (this.abandoned || !complete || !this.inputWasWhole()) {
      await this.abandon();
      return undefined;
    }
    try {
      return await commitUncompressed(this.writer, this.layout, this.indexer);
    } catch (error) {
      // What the tool made of the stream is not the last word: fzstd's is.
      if ((error as RootforgeError).code !== 'ERR_DIFFID_MISMATCH') throw error;
      await this.abandon();
      return undefined;
    }
  }
}
