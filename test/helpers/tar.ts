/** Tiny real layer tars for tests: tar-stream pack, plus hand-made PAX and GNU long-name blocks tar-stream cannot write. */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pack as tarPack, type Header } from 'tar-stream';
import type { LayerSource } from '../../src/layer/types.js';

export interface TarSpec {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo' | 'contiguous-file';
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch; default 1700000000. */
  mtime?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** String PAX records, written by tar-stream. */
  pax?: Record<string, string>;
  /** PAX records with raw byte values, written by hand before the entry. */
  rawPax?: Array<[string, Buffer]>;
  /** Write the name (and link target) as GNU 'L'/'K' long-name records instead of PAX. */
  gnuLongNames?: boolean;
  /** Raw typeflag to force in the header (e.g. 'S' for GNU sparse). */
  typeflag?: string;
  /** Size to force in the header of a symlink, link or other entry without content (the following blocks are left as they are). */
  headerSize?: number;
}

export const MTIME = 1_700_000_000;

function block(name: string, typeflag: string, size: number): Buffer {
  const b = Buffer.alloc(512);
  b.write(name, 0, 100, 'utf8');
  b.write('0000644\0', 100, 'latin1');
  b.write('0000000\0', 108, 'latin1');
  b.write('0000000\0', 116, 'latin1');
  b.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  b.write(`${MTIME.toString(8).padStart(11, '0')}\0`, 136, 'latin1');
  b.write(typeflag, 156, 'latin1');
  b.write('ustar\u000000', 257, 'latin1');
  return checksum(b);
}

function checksum(b: Buffer): Buffer {
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return b;
}

function withPadding(data: Buffer): Buffer {
  const pad = (512 - (data.length % 512)) % 512;
  return Buffer.concat([data, Buffer.alloc(pad)]);
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

/** Extension blocks (typeflag + data) that precede an entry. */
function extension(typeflag: string, data: Buffer): Buffer {
  return Buffer.concat([block(typeflag === 'x' ? 'PaxHeader' : '././@LongLink', typeflag, data.length), withPadding(data)]);
}

async function packOne(spec: TarSpec, name: string, linkname: string | undefined): Promise<Buffer> {
  const p = tarPack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of p) chunks.push(chunk as Buffer);
  })();
  const type = spec.type ?? 'file';
  const header: Partial<Header> & Pick<Header, 'name'> = {
    name,
    type,
    mode: spec.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
    uid: spec.uid ?? 0,
    gid: spec.gid ?? 0,
    mtime: new Date((spec.mtime ?? MTIME) * 1000),
  };
  if (linkname !== undefined) header.linkname = linkname;
  if (spec.devmajor !== undefined) header.devmajor = spec.devmajor;
  if (spec.devminor !== undefined) header.devminor = spec.devminor;
  if (spec.pax) header.pax = spec.pax;
  const content = type === 'file' || type === 'contiguous-file' ? Buffer.from(spec.content ?? '') : undefined;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error | null): void => (err ? reject(err) : resolve());
    if (content) p.entry(header, content, done);
    else p.entry(header, done);
  });
  p.finalize();
  await collected;
  let out = Buffer.concat(chunks);
  out = out.subarray(0, out.length - 1024);
  // tar-stream writes mode 0 as its default 0644, knows no sparse typeflag and sizes only files, so patch the header afterwards.
  if (spec.typeflag || spec.mode === 0 || spec.headerSize !== undefined) {
    const last = out.length - 512 * (1 + Math.ceil((content?.length ?? 0) / 512));
    out = Buffer.from(out);
    if (spec.typeflag) out.write(spec.typeflag, last + 156, 'latin1');
    if (spec.mode === 0) out.write('0000000\0', last + 100, 'latin1');
    if (spec.headerSize !== undefined) out.write(`${spec.headerSize.toString(8).padStart(11, '0')}\0`, last + 124, 'latin1');
    checksum(out.subarray(last, last + 512));
  }
  return out;
}

async function entryBytes(spec: TarSpec): Promise<Buffer> {
  const parts: Buffer[] = [];
  let name = spec.name;
  let linkname = spec.linkname;
  if (spec.gnuLongNames) {
    parts.push(extension('L', Buffer.from(`${spec.name}\0`)));
    name = 'gnu-long-name-placeholder';
    if (spec.linkname !== undefined) {
      parts.push(extension('K', Buffer.from(`${spec.linkname}\0`)));
      linkname = 'gnu-long-link-placeholder';
    }
  }
  if (spec.rawPax) parts.push(extension('x', Buffer.concat(spec.rawPax.map(([k, v]) => paxRecord(k, v)))));
  parts.push(await packOne(spec, name, linkname));
  return Buffer.concat(parts);
}

/** One tar holding the entries in order. */
export async function buildTar(entries: TarSpec[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const spec of entries) parts.push(await entryBytes(spec));
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** A temp dir under os.tmpdir(). */
export function tempDir(prefix = 'rootforge-layer-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

/** Writes each layer's tar into dir and returns them as LayerSources, oldest first. */
export async function writeLayers(dir: string, layers: TarSpec[][]): Promise<LayerSource[]> {
  const out: LayerSource[] = [];
  for (const [i, entries] of layers.entries()) {
    const path = join(dir, `layer-${i}.tar`);
    await writeFile(path, await buildTar(entries));
    out.push({ path, diffId: `sha256:${String(i).padStart(64, '0')}` });
  }
  return out;
}
