/** Streams the entry headers of one uncompressed layer tar with tar-stream, numbered in tar order. */
import { createReadStream } from 'node:fs';
import { addAbortSignal, type Readable } from 'node:stream';
import { extract, type Extract, type Header } from 'tar-stream';
import { RootforgeError, asRootforgeError, isAbortError } from '../errors.js';
import { throwIfAborted } from './abort.js';
import { decodePaxRecords, type PaxRecords } from './pax.js';
import type { LayerSource } from './types.js';

/** tar-stream's decoded header; `type` is null for typeflags it does not know (GNU sparse 'S', volume labels). */
export type TarHeader = Omit<Header, 'type'> & { type: Header['type'] | null };

export interface LayerEntry {
  /** Position among the entries tar-stream yields for this layer, from 0. */
  ordinal: number;
  header: TarHeader;
  /** The entry's own PAX records with raw byte values (tar-stream decodes them lossily as UTF-8). */
  pax: PaxRecords | undefined;
}

const RAW_PAX = Symbol('rootforge.rawPax');

interface ExtractInternals {
  _decodeLongHeader(buf: Buffer): void;
  _header: { type?: string | null } | null;
  _pax: object | null;
}

/** Keeps the raw bytes of each PAX header: tar-stream has no public hook, so wrap its decoder and fail loudly if it moves. */
function keepRawPax(ex: Extract): void {
  const internals = ex as unknown as Partial<ExtractInternals>;
  const decode = internals._decodeLongHeader;
  if (typeof decode !== 'function') throw new RootforgeError('ERR_INTERNAL', 'this tar-stream version hides PAX headers; rootforge cannot read binary xattrs with it');
  internals._decodeLongHeader = function (this: ExtractInternals, buf: Buffer): void {
    decode.call(this, buf);
    if (this._header?.type === 'pax-header' && this._pax) Object.defineProperty(this._pax, RAW_PAX, { value: decodePaxRecords(buf) });
  };
}

function rawPaxOf(header: TarHeader): PaxRecords | undefined {
  return (header.pax as { [RAW_PAX]?: PaxRecords } | null | undefined)?.[RAW_PAX];
}

/** Describes a layer the way errors name it. */
export function layerLabel(layer: LayerSource, index: number): string {
  return `layer ${index + 1} (${layer.diffId})`;
}

/** Turns a read failure into a RootforgeError that names the layer. */
function readError(error: unknown, layer: LayerSource, index: number): RootforgeError {
  if (error instanceof RootforgeError || isAbortError(error)) {
    const e = asRootforgeError(error);
    e.blob ??= layer.diffId;
    return e;
  }
  if ((error as NodeJS.ErrnoException | undefined)?.code) {
    const e = asRootforgeError(error, 'ERR_CACHE');
    e.blob ??= layer.diffId;
    return e;
  }
  const message = error instanceof Error ? error.message : String(error);
  return new RootforgeError('ERR_BAD_LAYER', `${layerLabel(layer, index)}: malformed tar: ${message}`, { blob: layer.diffId, cause: error });
}

/** Yields every entry of the layer in tar order; errors name the layer; the file is closed however iteration ends. */
export async function* readLayer(layer: LayerSource, index: number, opts: { signal?: AbortSignal } = {}): AsyncGenerator<LayerEntry> {
  throwIfAborted(opts.signal);
  yield* readTarStream(createReadStream(layer.path, { highWaterMark: 1 << 20 }), layer, index, opts);
}

/** Yields every entry of a layer tar read from `input` (a file, or a layer as it is unpacked); `input` is destroyed however iteration ends. */
export async function* readTarStream(input: Readable, layer: LayerSource, index: number, opts: { signal?: AbortSignal } = {}): AsyncGenerator<LayerEntry> {
  const { signal } = opts;
  if (signal) addAbortSignal(signal, input);
  const ex = extract();
  keepRawPax(ex);
  input.on('error', (error) => ex.destroy(error));
  input.pipe(ex);
  let ordinal = 0;
  try {
    for await (const entry of ex) {
      const header = entry.header as TarHeader;
      // Headers only: the content is discarded as tar-stream passes it, without a promise per chunk.
      entry.resume();
      yield { ordinal: ordinal++, header, pax: rawPaxOf(header) };
      throwIfAborted(signal);
    }
  } catch (error) {
    throw readError(error, layer, index);
  } finally {
    input.destroy();
    ex.destroy();
  }
}
