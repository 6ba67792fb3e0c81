/** Large buffers kept for reuse within a thread: a fresh buffer costs a page fault per 4 KiB it touches. */

const pool = new Map<number, Buffer[]>();
/** Enough for a few users at once (images built in parallel, an image hashed meanwhile). */
const LIMIT_PER_SIZE = 8;

/** A buffer of exactly `size` bytes with unspecified contents. */
export function borrowBuffer(size: number): Buffer {
  return pool.get(size)?.pop() ?? Buffer.allocUnsafe(size);
}

/** Hands buffers back; the caller must hold no view of them any more. */
export function returnBuffers(buffers: readonly Buffer[]): void {
  for (const buffer of buffers) {
    // Only whole buffers of their own: a slice of Node's shared pool must not be handed out twice.
    if (buffer.byteOffset !== 0 || buffer.buffer.byteLength !== buffer.length) continue;
    const spare = pool.get(buffer.length) ?? [];
    pool.set(buffer.length, spare);
    if (spare.length < LIMIT_PER_SIZE) spare.push(buffer);
  }
}
