/** Walks zstd frame and block headers without decoding, since Node's native zstd ends silently on a truncated frame (nodejs/node#64592). */
import { RootforgeError } from '../errors.js';

const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

type State = 'magic' | 'skippable-size' | 'frame-header' | 'block-header';

function fail(message: string): never {
  throw new RootforgeError('ERR_DECOMPRESS', `zstd: ${message}`);
}

export class ZstdFrameCheck {
  private state: State = 'magic';
  private readonly pending = Buffer.alloc(4);
  private pendingLength = 0;
  private skip = 0;
  private checksum = false;
  private frames = 0;
  /** Inside a skippable frame: its bytes are dropped, since Node's native decoder rejects them (zstd:chunked has them). */
  private dropping = false;

  /** How many header bytes the current state needs. */
  private need(): number {
    return this.state === 'frame-header' ? 1 : this.state === 'block-header' ? 3 : 4;
  }

  /** Checks the next bytes and returns them without any skippable frames. */
  feed(chunk: Uint8Array): Buffer {
    const out: Uint8Array[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at);
        if (!this.dropping) out.push(chunk.subarray(at, at + n));
        this.skip -= n;
        if (this.skip === 0) this.dropping = false;
        at += n;
        continue;
      }
      const want = this.need();
      const n = Math.min(want - this.pendingLength, chunk.length - at);
      this.pending.set(chunk.subarray(at, at + n), this.pendingLength);
      this.pendingLength += n;
      at += n;
      if (this.pendingLength === want) {
        this.pendingLength = 0;
        const before = this.state;
        this.step();
        const skippableHeader = before === 'skippable-size' || (before === 'magic' && this.state === 'skippable-size');
        if (!skippableHeader) out.push(Buffer.from(this.pending.subarray(0, want)));
      }
    }
    return Buffer.concat(out);
  }

  private step(): void {
    const p = this.pending;
    switch (this.state) {
      case 'magic': {
        const magic = p.readUInt32LE(0);
        if (magic === ZSTD_MAGIC) this.state = 'frame-header';
        else if (((magic & SKIPPABLE_MASK) >>> 0) === SKIPPABLE_MAGIC) this.state = 'skippable-size';
        else fail('not a zstd frame');
        return;
      }
      case 'skippable-size':
        this.skip = p.readUInt32LE(0);
        this.dropping = this.skip > 0;
        this.state = 'magic';
        return;
      case 'frame-header': {
        const fhd = p[0]!;
        if (fhd & 0x08) fail('reserved bit set in frame header');
        const singleSegment = (fhd >> 5) & 1;
        const fcsFlag = fhd >> 6;
        const dictBytes = [0, 1, 2, 4][fhd & 3]!;
        const fcsBytes = fcsFlag === 0 ? singleSegment : 1 << fcsFlag;
        this.checksum = ((fhd >> 2) & 1) === 1;
        this.skip = (singleSegment ? 0 : 1) + dictBytes + fcsBytes;
        this.state = 'block-header';
        return;
      }
      case 'block-header': {
        const header = p[0]! | (p[1]! << 8) | (p[2]! << 16);
        const last = header & 1;
        const type = (header >> 1) & 3;
        const size = header >>> 3;
        if (type === 3) fail('reserved block type');
        this.skip = type === 1 ? 1 : size;
        if (last) {
          this.skip += this.checksum ? 4 : 0;
          this.frames++;
          this.state = 'magic';
        }
        return;
      }
    }
  }

  /** Throws unless the input ended exactly after a complete frame. */
  end(): void {
    if (this.frames === 0 && this.state === 'magic' && this.pendingLength === 0 && this.skip === 0) fail('empty input');
    if (this.state !== 'magic' || this.pendingLength > 0 || this.skip > 0) fail('unexpected end of input (truncated frame)');
  }
}
