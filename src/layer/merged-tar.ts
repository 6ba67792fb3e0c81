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
const CHUNK = 1 << 20;

/** Pieces this large go out as they are: copying them would cost more than the write it saves. */
const PASS_THROUGH = 64 * 1024;

/** Gathers small buffers into CHUNK-sized ones; copying is cheaper than a stream write per piece. */
class Chunker {
  private chunk = Buffer.allocUnsafe(CHUNK);
  private used = 0;

  /** Adds bytes; returns what is ready to go out, in order. */
  add(bytes: Buffer): Buffer[] {
    if (bytes.length >= PASS_THROUGH) return this.used > 0 ? [this.take(), bytes] : [bytes];
    const full: Buffer[] = [];
    let from = 0;
    while (from < bytes.length) {
      const n = bytes.copy(this.chunk, this.used, from);
      this.used += n;
      from += n;
      if (this.used === CHUNK) full.push(this.take());
    }
    return full;
  }

  /** What is gathered so far (possibly nothing); a small remainder is copied out, so the chunk can be filled again. */
  take(): Buffer {
    const gathered = this.chunk.subarray(0, this.used);
    this.used = 0;
    if (gathered.length < CHUNK / 4) return Buffer.from(gathered);
    this.chunk = Buffer.allocUnsafe(CHUNK);
    return gathered;
  }
}

/** The merged tar piece by piece: headers, content slices, padding. */
async function* tarPieces(plan: RootfsPlan, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  const entries = plan.entries();
  // Every directory before anything inside it: mke2fs looks each parent up and fails when it is missing.
  for (const entry of entries) if (entry.type === 'dir') yield encodeTarHeader(record(entry));
  // Symlinks, devices and fifos carry no content; plan order puts each hardlink after its target.
  for (const entry of entries) {
    if (entry.type === 'dir' || entry.type === 'file') continue;
    yield encodeTarHeader(entry.hardlinkTo === undefined ? record(entry) : hardlink(entry));
  }
  for await (const { planned, content } of plannedFiles(plan, signal)) {
    yield encodeTarHeader(record(planned.file));
    yield* content;
    yield tarPadding(planned.size);
    for (const link of planned.links) yield encodeTarHeader(hardlink(link));
  }
  yield TAR_END;
}

/** The pieces gathered into chunks. No `yield*` over arrays: Node 24 ends a destroyed stream's generator with throw(), which array iterators lack. */
async function* mergedTar(plan: RootfsPlan, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  const out = new Chunker();
  for await (const piece of tarPieces(plan, signal)) {
    for (const chunk of out.add(piece)) yield chunk;
  }
  const rest = out.take();
  if (rest.length > 0) yield rest;
}

/** The final tree as a tar stream; pulls from the layer files only as fast as it is read, and fails on abort. */
export function mergedTarStream(plan: RootfsPlan, opts: { signal?: AbortSignal } = {}): Readable {
  const { signal } = opts;
  const stream = Readable.from(mergedTar(plan, signal), { objectMode: false, highWaterMark: 1 << 20 });
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
