import type { FileHandle } from 'node:fs/promises';

/** Bytes written after which a flush to disk starts in the background, so the final fsync waits only for the tail. */
const EARLY_FLUSH_BYTES = 16 << 20;

/** Starts a datasync in the background every 16 MiB written, one at a time; `sync` waits for it and syncs the tail. */
export class EarlyFlush {
  private flushedUpTo = 0;
  private flushing: Promise<void> | undefined;
  // Linux reports a writeback error to one fsync per open file only: one an early flush saw must fail the final sync.
  private error: unknown;

  constructor(private readonly handle: FileHandle) {}

  /** The file now holds `written` bytes from its start. */
  wrote(written: number): void {
    if (this.flushing || written - this.flushedUpTo < EARLY_FLUSH_BYTES) return;
    this.flushing = this.handle.datasync().then(
      () => {
        this.flushedUpTo = written;
        this.flushing = undefined;
      },
      (error: unknown) => {
        this.error ??= error;
        this.flushing = undefined;
      },
    );
  }

  /** Waits for a flush in flight, so the file can be truncated or closed. */
  async settle(): Promise<void> {
    await this.flushing;
  }

  /** The file was truncated to empty. */
  async reset(): Promise<void> {
    await this.settle();
    this.flushedUpTo = 0;
  }

  /** fsyncs the file, failing if any early flush failed. */
  async sync(): Promise<void> {
    await this.settle();
    if (this.error !== undefined) throw this.error;
    await this.handle.sync();
  }
}
