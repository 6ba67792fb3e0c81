import { open, type FileHandle } from 'node:fs/promises';
import { RootforgeError, asRootforgeError } from '../errors.js';
import { throwIfAborted } from './abort.js';
import { ReadAhead } from '../fs/read-ahead.js';
import type { PlannedContent, RootfsPlan } from './flatten.js';
import { layerLabel } from './layer-reader.js';
import { tarChecksum } from './tar-header.js';
import type { LayerSource } from './types.js';

const BLOCK = 512;
/** Large sequential reads: the kept files of a layer mostly sit next to each other. */
const WINDOW = 1 << 20;
/** Typeflags tar-stream reads as regular files: '0', NUL (old tars) and '7' (contiguous). */
const REGULAR_TYPEFLAGS = new Set([0x30, 0x00, 0x37]);

/** A numeric header field: octal digits, or GNU base-256 when the top bit is set. */
function headerNumber(field: Buffer): number {
  if (field[0]! & 0x80) {
    let value = field[0]! & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  const text = field.toString('latin1').replace(/[\0 ]+$/, '').trim();
  return text === '' ? 0 : parseInt(text, 8);
}

/** True when `block` is an intact tar header of a regular file of `size` bytes: what the index said sits before this content. */
function headerMatches(block: Buffer, size: number): boolean {
  if (headerNumber(block.subarray(148, 156)) !== tarChecksum(block) || !REGULAR_TYPEFLAGS.has(block[156]!)) return false;
  // Sizes past the 11-digit field travel in a PAX record, and the field then holds anything.
  return size >= 8 ** 11 || headerNumber(block.subarray(124, 136)) === size;
}

/** Reads byte ranges of one layer tar in large sequential windows. */
class LayerWindow {
  private window: Buffer = Buffer.alloc(0);
  private start = 0;
  // The files a plan keeps mostly follow each other, so the next window is read while this one is used.
  private readonly reader: ReadAhead;

  private constructor(
    private readonly handle: FileHandle,
    private readonly layer: LayerSource,
    private readonly index: number,
    reuseBuffers: boolean,
  ) {
    this.reader = new ReadAhead(handle, WINDOW, reuseBuffers);
  }

  static async open(layer: LayerSource, index: number, reuseBuffers: boolean): Promise<LayerWindow> {
    try {
      return new LayerWindow(await open(layer.path, 'r'), layer, index, reuseBuffers);
    } catch (error) {
      const e = asRootforgeError(error, 'ERR_CACHE');
      e.blob ??= layer.diffId;
      throw e;
    }
  }

  /** The bytes [from, to), as slices of windows: the caller may keep them unless windows are reused, when each is valid until the next. */
  async *range(from: number, to: number): AsyncGenerator<Buffer> {
    let position = from;
    while (position < to) {
      if (position < this.start || position >= this.start + this.window.length) await this.fill(position);
      const end = Math.min(to, this.start + this.window.length);
      yield this.window.subarray(position - this.start, end - this.start);
      position = end;
    }
  }

  /** The bytes [from, to) in a buffer of their own: a reused window may be read over before a range ends. */
  async bytes(from: number, to: number): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const part of this.range(from, to)) parts.push(Buffer.from(part));
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  private async fill(position: number): Promise<void> {
    const block = await this.reader.block(position);
    if (block.length === 0) throw this.changed(`ends before byte ${position}`);
    this.window = block;
    this.start = position;
  }

  changed(why: string): RootforgeError {
    return new RootforgeError('ERR_BAD_LAYER', `${layerLabel(this.layer, this.index)}: the layer tar changed since it was indexed: it ${why}`, {
      blob: this.layer.diffId,
      hint: 'Run `rootforge cache verify --fix` and build again.',
    });
  }

  async close(): Promise<void> {
    await this.reader.settle();
    await this.handle.close();
  }
}

/**
 * Every file the plan keeps, with its content read from the layers at the offsets their index gave;
 * the consumer must drain each content before asking for the next. Each file's header block is
 * checked first, so a layer that changed since it was indexed fails instead of feeding wrong bytes.
 * With `reuseBuffers`, each content slice is valid only until the next one is asked for.
 */
export async function* plannedFiles(
  plan: RootfsPlan,
  signal?: AbortSignal,
  opts: { reuseBuffers?: boolean } = {},
): AsyncGenerator<{ planned: PlannedContent; content: AsyncIterable<Buffer> }> {
  for (const [index, layer] of plan.layers.entries()) {
    const planned = [...plan.contents(index).values()].sort((a, b) => a.offset - b.offset);
    if (planned.length === 0) continue;
    const window = await LayerWindow.open(layer, index, opts.reuseBuffers ?? false);
    try {
      for (const file of planned) {
        throwIfAborted(signal);
        const header = await window.bytes(file.offset - BLOCK, file.offset);
        if (!headerMatches(header, file.size)) throw window.changed(`has no header of a ${file.size}-byte file before ${JSON.stringify(file.name)}`);
        yield { planned: file, content: window.range(file.offset, file.offset + file.size) };
      }
    } finally {
      await window.close();
    }
  }
}
