/** Emits the planned tree as one tar for `mkfs.ext4 -d -`: directories, then links and nodes, then file contents streamed from the layers. */
import { Readable } from 'node:stream';
import { RootforgeError } from '../errors.js';
import type { RootfsPlan } from './flatten.js';
import { plannedFiles } from './planned-files.js';
import { encodeTarHeader, tarPadding, TAR_END, type TarRecord } from './tar-header.js';
import type { RootfsEntry } from './types.js';

function record(entry: RootfsEntry): TarRecord {
  const rec: TarRecord = { path: entry.path, type: entry.type, mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: entry.mtime, size: entry.size };
  if (entry.linkTarget !== undefined) rec.linkname = entry.linkTarget;
  if (entry.devMajor !== undefined) rec.devMajor = entry.devMajor;
  if (entry.devMinor !== undefined) rec.devMinor = entry.devMinor;
  if (entry.xattrs) rec.xattrs = entry.xattrs;
  return rec;
}

/** A hardlink entry; mke2fs applies the link header's owner, mode and mtime to the shared inode, so they repeat the target's. */
function hardlink(entry: RootfsEntry): TarRecord {
  return { path: entry.path, type: 'hardlink', linkname: entry.hardlinkTo!, mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: entry.mtime, size: 0 };
}

/** Output chunk size: one pipe write per MiB instead of one per header, content slice and padding. */
export const MERGED_TAR_CHUNK = 1 << 20;

/** Pieces this large go out as they are: copying them would cost more than the write it saves. */
const PASS_THROUGH = 64 * 1024;

/**
 * Gathers small buffers into chunks; copying is cheaper than a stream write per piece. Given a ring
 * of buffers, it fills them in turn and copies every piece: fresh buffers cost a page fault per
 * 4 KiB, which a consumer that is done with each chunk before the ring comes round saves.
 */
class Chunker {
  private turn = 0;
  private chunk: Buffer;
  private used = 0;

  constructor(private readonly ring: readonly Buffer[] | undefined) {
    this.chunk = ring?.[0] ?? Buffer.allocUnsafe(MERGED_TAR_CHUNK);
  }

  /** Adds bytes, yielding each chunk as it fills. */
  *add(bytes: Buffer): Generator<Buffer> {
    if (!this.ring && bytes.length >= PASS_THROUGH) {
      if (this.used > 0) yield this.take();
      yield bytes;
      return;
    }
    let from = 0;
    while (from < bytes.length) {
      const n = bytes.copy(this.chunk, this.used, from);
      this.used += n;
      from += n;
      if (this.used === this.chunk.length) yield this.take();
    }
  }

  /** What is gathered so far (possibly nothing); a small fresh remainder is copied out, so the chunk can be filled again. */
  take(): Buffer {
    const gathered = this.chunk.subarray(0, this.used);
    this.used = 0;
    if (this.ring) {
      this.turn = (this.turn + 1) % this.ring.length;
      this.chunk = this.ring[this.turn]!;
      return gathered;
    }
    if (gathered.length < MERGED_TAR_CHUNK / 4) return Buffer.from(gathered);
    this.chunk = Buffer.allocUnsafe(MERGED_TAR_CHUNK);
    return gathered;
  }
}

/** The merged tar piece by piece: headers, content slices, padding. With `reuseBuffers`, each piece is valid only until the next. */
async function* tarPieces(plan: RootfsPlan, signal: AbortSignal | undefined, reuseBuffers: boolean): AsyncGenerator<Buffer> {
  const entries = plan.entries();
  // Every directory before anything inside it: mke2fs looks each parent up and fails when it is missing.
  for (const entry of entries) if (entry.type === 'dir') yield encodeTarHeader(record(entry));
  // Symlinks, devices and fifos carry no content; plan order puts each hardlink after its target.
  for (const entry of entries) {
    if (entry.type === 'dir' || entry.type === 'file') continue;
    yield encodeTarHeader(entry.hardlinkTo === undefined ? record(entry) : hardlink(entry));
  }
  for await (const { planned, content } of plannedFiles(plan, signal, { reuseBuffers })) {
    yield encodeTarHeader(record(planned.file));
    yield* content;
    yield tarPadding(planned.size);
    for (const link of planned.links) yield encodeTarHeader(hardlink(link));
  }
  yield TAR_END;
}

export interface MergedTarOptions {
  signal?: AbortSignal;
  /**
   * Buffers the caller owns (at least three) for the chunks to be gathered in, in turn; the layers are
   * then read into reused windows too. The caller must be done with each chunk before it asks for the
   * one after next (at most one write in flight), and may reuse the ring once it has stopped.
   */
  ring?: readonly Buffer[];
}

/** The merged tar in chunks. No `yield*` over arrays: Node 24 ends a destroyed stream's generator with throw(), which array iterators lack. */
export async function* mergedTarChunks(plan: RootfsPlan, opts: MergedTarOptions = {}): AsyncGenerator<Buffer> {
  if (opts.ring && opts.ring.length < 3) throw new RootforgeError('ERR_INTERNAL', 'a merged tar ring needs at least three buffers');
  const out = new Chunker(opts.ring);
  for await (const piece of tarPieces(plan, opts.signal, opts.ring !== undefined)) {
    for (const chunk of out.add(piece)) yield chunk;
  }
  const rest = out.take();
  if (rest.length > 0) yield rest;
}

/** The final tree as a tar stream; pulls from the layer files only as fast as it is read, and fails on abort. */
export function mergedTarStream(plan: RootfsPlan, opts: { signal?: AbortSignal } = {}): Readable {
  const { signal } = opts;
  const stream = Readable.from(mergedTarChunks(plan, signal ? { signal } : {}), { objectMode: false, highWaterMark: 1 << 20 });
  if (signal) {
    const onAbort = (): void => {
      stream.destroy(new RootforgeError('ERR_ABORTED', 'interrupted', { cause: signal.reason }));
    };
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      stream.once('close', () => signal.removeEventListener('abort', onAbort));
    }
  }
  return stream;
}
