import type { FileHandle } from 'node:fs/promises';

/** Writes all of `chunk`, at `position` or at the file's offset: one write(2) may take only part of it. */
export async function writeAll(handle: FileHandle, chunk: Uint8Array, position?: number): Promise<void> {
  for (let at = 0; at < chunk.byteLength; ) {
    const { bytesWritten } = await handle.write(chunk, at, chunk.byteLength - at, position === undefined ? null : position + at);
    at += bytesWritten;
  }
}
