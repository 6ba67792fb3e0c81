/** Reads a file in large blocks, the next block already on its way while the caller uses this one. */
import type { FileHandle } from 'node:fs/promises';
import { borrowBuffer, returnBuffers } from './buffer-pool.js';

interface PendingRead {
  position: number;
  buffer: Buffer;
  read: Promise<Buffer>;
}

export class ReadAhead {
  private ahead: PendingRead | undefined;
  /** The buffer of the block last returned, handed back to `spare` on the next call when buffers are reused. */
  private lent: Buffer | undefined;
  private readonly spare: Buffer[] = [];

  /**
   * `reuseBuffers`: the caller is done with each block before it asks for the next, so two buffers
   * serve the whole file; fresh 4 MiB buffers cost page faults that made hashing 3x slower. Without
   * it every block has a buffer of its own that the caller may keep.
   */
  constructor(
    private readonly handle: FileHandle,
    readonly blockSize: number,
    private readonly reuseBuffers = false,
  ) {}

  /** The block at `position` (shorter at the end of the file, empty past it); starts reading the block after it. */
  async block(position: number): Promise<Buffer> {
    if (this.reuseBuffers && this.lent) this.spare.push(this.lent);
    let pending = this.ahead;
    this.ahead = undefined;
    if (pending?.position !== position) {
      // A read ahead of the wrong block must land before its buffer can be used again.
      if (pending) await this.release(pending);
      pending = this.read(position);
    }
    const block = await pending.read;
    this.lent = pending.buffer;
    if (block.length === this.blockSize) this.ahead = this.read(position + block.length);
    return block;
  }

  /** Waits for a read still in flight, so the handle can be closed; reused buffers go back to the pool, so no block may be used after this. */
  async settle(): Promise<void> {
    if (this.ahead) await this.release(this.ahead);
    this.ahead = undefined;
    if (!this.reuseBuffers) return;
    if (this.lent) this.spare.push(this.lent);
    this.lent = undefined;
    returnBuffers(this.spare.splice(0));
  }

  private async release(pending: PendingRead): Promise<void> {
    await pending.read.catch(() => undefined);
    if (this.reuseBuffers) this.spare.push(pending.buffer);
  }

  private read(position: number): PendingRead {
    const buffer = this.reuseBuffers ? (this.spare.pop() ?? borrowBuffer(this.blockSize)) : Buffer.allocUnsafe(this.blockSize);
    const read = this.handle.read(buffer, 0, this.blockSize, position).then(({ bytesRead }) => buffer.subarray(0, bytesRead));
    // A read the caller never asks for must not become an unhandled rejection.
    read.catch(() => undefined);
    return { position, buffer, read };
  }
}
