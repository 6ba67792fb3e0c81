/**
 * A layer's table of contents: each tar-stream entry's decoded header and where its content starts.
 * Read once per layer with tar-stream, then kept beside the cache, so a rebuild skips the parse and
 * file contents are read straight from their offsets.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { writeFileAtomic } from '../cache/atomic.js';
import { RootforgeError } from '../errors.js';
import { packageVersion } from '../package-root.js';
import { throwIfAborted } from './abort.js';
import { inEntry } from './entry-error.js';
import { entryMeta, type TarEntryMeta } from './entry-meta.js';
import { layerLabel, readLayer, readTarStream, type LayerEntry, type TarHeader } from './layer-reader.js';
import type { LayerSource } from './types.js';

export interface IndexedEntry {
  meta: TarEntryMeta;
  /** Byte offset of the entry's content in the uncompressed tar (just past its own header block). */
  offset: number;
}

export interface LayerIndex {
  /** Size of the tar the index describes; a file of another size is not that tar. */
  tarBytes: number;
  /** Every entry tar-stream yields, in tar order; an entry's ordinal is its position here. */
  entries: IndexedEntry[];
}

/** Bumped whenever what an entry records changes, so an older index is rebuilt, never misread. */
const FORMAT = 'rootforge-layer-index 1';

/** tar-stream records where each entry's content starts; fail loudly if a version stops doing so. */
function contentOffset(header: TarHeader): number {
  const offset = (header as { byteOffset?: unknown }).byteOffset;
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset)) throw new RootforgeError('ERR_INTERNAL', 'this tar-stream version does not report entry offsets');
  return offset;
}

export interface IndexOptions {
  signal?: AbortSignal;
  /** Most entries the layer may have; more is ERR_LIMIT_EXCEEDED. */
  maxEntries?: number;
  /** Sees each entry in tar order as it is read, so the caller's checks fail at the same entry whether the index is kept or fresh. */
  onEntry?: (entry: IndexedEntry, ordinal: number) => void;
}

/** Reads every header of the layer file with tar-stream; stops past `maxEntries` so a hostile layer cannot fill memory. */
export async function scanLayer(layer: LayerSource, index: number, opts: IndexOptions = {}): Promise<LayerIndex> {
  const entries = await scanEntries(readLayer(layer, index, opts.signal ? { signal: opts.signal } : {}), layer, index, opts);
  const tarBytes = (await stat(layer.path)).size;
  return { tarBytes, entries };
}

/** The entries of a layer tar read from a stream, e.g. while it is unpacked; the caller knows how many bytes it had. */
export function scanTarStream(input: Readable, layer: LayerSource, index: number, opts: IndexOptions = {}): Promise<IndexedEntry[]> {
  return scanEntries(readTarStream(input, layer, index, opts.signal ? { signal: opts.signal } : {}), layer, index, opts);
}

async function scanEntries(read: AsyncIterable<LayerEntry>, layer: LayerSource, index: number, opts: IndexOptions): Promise<IndexedEntry[]> {
  const maxEntries = opts.maxEntries ?? Number.POSITIVE_INFINITY;
  const entries: IndexedEntry[] = [];
  for await (const entry of read) {
    if (entries.length >= maxEntries) throw tooManyEntries(layer, index);
    const meta = inEntry(layer, index, entry.header.name, () => entryMeta(entry.header, entry.pax));
    const indexed = { meta, offset: contentOffset(entry.header) };
    opts.onEntry?.(indexed, entries.length);
    entries.push(indexed);
  }
  return entries;
}

export function tooManyEntries(layer: LayerSource, index: number): RootforgeError {
  return new RootforgeError('ERR_LIMIT_EXCEEDED', `${layerLabel(layer, index)}: the image has more tar entries than the limit allows`, { blob: layer.diffId });
}

type EncodedEntry = [name: string, kind: TarEntryMeta['kind'], mode: number, uid: number, gid: number, mtime: number, size: number, offset: number, extra?: EncodedExtra];
interface EncodedExtra {
  linkname?: string;
  devMajor?: number;
  devMinor?: number;
  /** name -> base64 of the raw value */
  xattrs?: Record<string, string>;
}

function encodeEntry({ meta, offset }: IndexedEntry): EncodedEntry {
  const extra: EncodedExtra = {};
  if (meta.linkname !== undefined) extra.linkname = meta.linkname;
  if (meta.devMajor !== undefined) extra.devMajor = meta.devMajor;
  if (meta.devMinor !== undefined) extra.devMinor = meta.devMinor;
  if (meta.xattrs) extra.xattrs = Object.fromEntries(Object.entries(meta.xattrs).map(([key, value]) => [key, value.toString('base64')]));
  const fields: EncodedEntry = [meta.name, meta.kind, meta.mode, meta.uid, meta.gid, meta.mtime, meta.size, offset];
  if (Object.keys(extra).length > 0) fields.push(extra);
  return fields;
}

function decodeEntry([name, kind, mode, uid, gid, mtime, size, offset, extra]: EncodedEntry): IndexedEntry {
  const meta: TarEntryMeta = { name, kind, mode, uid, gid, mtime, size };
  if (extra?.linkname !== undefined) meta.linkname = extra.linkname;
  if (extra?.devMajor !== undefined) meta.devMajor = extra.devMajor;
  if (extra?.devMinor !== undefined) meta.devMinor = extra.devMinor;
  if (extra?.xattrs) meta.xattrs = Object.fromEntries(Object.entries(extra.xattrs).map(([key, value]) => [key, Buffer.from(value, 'base64')]));
  return { meta, offset };
}

const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/** One line naming the format and the body's sha256, then the body: a torn or edited file is detected, never trusted. */
export function encodeLayerIndex(diffId: string, index: LayerIndex): string {
  const body = JSON.stringify({ rootforge: packageVersion(), diffId, tarBytes: index.tarBytes, entries: index.entries.map(encodeEntry) });
  return `${FORMAT} ${sha256Hex(body)}\n${body}`;
}

/** The index, if `text` is an intact one for this layer written by this rootforge version; otherwise undefined. */
export function decodeLayerIndex(text: string, diffId: string): LayerIndex | undefined {
  const newline = text.indexOf('\n');
  if (newline < 0 || text.slice(0, newline) !== `${FORMAT} ${sha256Hex(text.slice(newline + 1))}`) return undefined;
  try {
    const body = JSON.parse(text.slice(newline + 1)) as { rootforge?: unknown; diffId?: unknown; tarBytes?: unknown; entries?: unknown };
    if (body.rootforge !== packageVersion() || body.diffId !== diffId || typeof body.tarBytes !== 'number' || !Array.isArray(body.entries)) return undefined;
    return { tarBytes: body.tarBytes, entries: (body.entries as EncodedEntry[]).map(decodeEntry) };
  } catch {
    return undefined;
  }
}

/** The kept index when there is an intact one for this very file, else undefined. */
async function keptIndex(layer: LayerSource): Promise<LayerIndex | undefined> {
  if (!layer.indexPath) return undefined;
  let text: string;
  try {
    text = await readFile(layer.indexPath, 'utf8');
  } catch {
    return undefined;
  }
  const index = decodeLayerIndex(text, layer.diffId);
  if (!index) return undefined;
  const tarBytes = await stat(layer.path).then(
    (s) => s.size,
    () => undefined,
  );
  return tarBytes === index.tarBytes ? index : undefined;
}

/** The layer's index: the kept one, or a fresh tar-stream scan that is then kept (best effort: a cache that refuses it only costs speed). */
export async function layerIndex(layer: LayerSource, index: number, opts: IndexOptions = {}): Promise<LayerIndex> {
  throwIfAborted(opts.signal);
  const kept = await keptIndex(layer);
  if (kept) {
    if (opts.maxEntries !== undefined && kept.entries.length > opts.maxEntries) throw tooManyEntries(layer, index);
    if (opts.onEntry) kept.entries.forEach(opts.onEntry);
    return kept;
  }
  const scanned = await scanLayer(layer, index, opts);
  if (layer.indexPath) await keepLayerIndex(layer.indexPath, layer.diffId, scanned);
  return scanned;
}

/** Writes the index where later runs look for it; best effort, since a cache that refuses it only costs speed. */
export async function keepLayerIndex(path: string, diffId: string, index: LayerIndex): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
    .then(() => writeFileAtomic(path, encodeLayerIndex(diffId, index)))
    .catch(() => undefined);
}
