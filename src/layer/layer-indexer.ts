/** Indexes an uncompressed layer while it is unpacked, so a cold build's replay reads the index instead of the tar. */
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { scanTarStream, type IndexedEntry, type LayerIndex } from './layer-index.js';
import { DEFAULT_PLAN_LIMITS } from './plan.js';

/**
 * Feeds the layer's bytes to tar-stream as they are written. It never fails the unpack: a layer it
 * cannot read simply gets no index here, and replay reads it again and reports what is wrong.
 */
export class LayerIndexer {
  private readonly input = new PassThrough({ highWaterMark: 1 << 20 });
  private readonly entries: Promise<IndexedEntry[] | undefined>;
  private failed = false;

  constructor(diffId: string) {
    this.input.on('error', () => undefined);
    this.entries = scanTarStream(this.input, { path: '', diffId }, 0, { maxEntries: DEFAULT_PLAN_LIMITS.maxEntries }).catch(() => {
      this.failed = true;
      return undefined;
    });
  }

  /** Passes a chunk on, waiting while tar-stream is behind. */
  async write(chunk: Buffer): Promise<void> {
    if (this.failed || this.input.destroyed || this.input.writableEnded) return;
    if (!this.input.write(chunk)) await Promise.race([once(this.input, 'drain').catch(() => undefined), this.entries]);
  }

  /** Once the layer's `tarBytes` bytes were verified against its diff_id: its index, or undefined if it could not be read. */
  async finish(tarBytes: number): Promise<LayerIndex | undefined> {
    if (!this.input.destroyed) this.input.end();
    const entries = await this.entries;
    return entries ? { tarBytes, entries } : undefined;
  }

  abandon(): void {
    this.input.destroy();
  }
}
