/** ustar + PAX header encoding, by hand because tar-stream 3's pack cannot write binary PAX values and saturates uid/gid above 262143. */
import { encodePaxRecords, XATTR_PREFIX } from './pax.js';

export type TarRecordType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarRecord {
  /** Normalised path; '' is the root, written as './'. */
  path: string;
  type: TarRecordType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** Content bytes that follow (files only). */
  size: number;
  /** Symlink target, or the hardlink's first path. */
  linkname?: string;
  devMajor?: number;
  devMinor?: number;
  xattrs?: Record<string, Buffer>;
}

const BLOCK = 512;
const TYPEFLAGS: Record<TarRecordType, string> = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };
/** Largest value a field of `width` bytes holds as octal digits plus a NUL. */
const maxOctal = (width: number): number => 8 ** (width - 1) - 1;

/** The two zero blocks that end an archive. */
export const TAR_END = Buffer.alloc(2 * BLOCK);

/** Zeros that pad `size` content bytes up to a whole block. */
export function tarPadding(size: number): Buffer {
  const rest = size % BLOCK;
  return rest === 0 ? Buffer.alloc(0) : Buffer.alloc(BLOCK - rest);
}

/** A header block's checksum: the sum of its bytes, with the checksum field itself counted as spaces. */
export function tarChecksum(block: Buffer): number {
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK; i++) if (i < 148 || i >= 156) sum += block[i]!;
  return sum;
}

function writeOctal(block: Buffer, offset: number, width: number, value: number): void {
  block.write(value.toString(8).padStart(width - 1, '0'), offset, width - 1, 'latin1');
}

interface UstarFields {
  name: Buffer;
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  linkname?: Buffer;
  devMajor?: number;
  devMinor?: number;
}

function ustarBlock(f: UstarFields): Buffer {
  const block = Buffer.alloc(BLOCK);
  f.name.copy(block, 0, 0, 100);
  writeOctal(block, 100, 8, f.mode);
  writeOctal(block, 108, 8, f.uid);
  writeOctal(block, 116, 8, f.gid);
  writeOctal(block, 124, 12, f.size);
  writeOctal(block, 136, 12, f.mtime);
  block.write(f.typeflag, 156, 1, 'latin1');
  f.linkname?.copy(block, 157, 0, 100);
  block.write('ustar\u000000', 257, 8, 'latin1');
  writeOctal(block, 329, 8, f.devMajor ?? 0);
  writeOctal(block, 337, 8, f.devMinor ?? 0);
  block.write(`${tarChecksum(block).toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'latin1');
  return block;
}

/** A numeric field, or 0 in the field and the exact value as a PAX record when it does not fit. */
function numeric(value: number, width: number, key: string, pax: Array<[string, Buffer]>): number {
  if (value >= 0 && value <= maxOctal(width)) return value;
  pax.push([key, Buffer.from(String(value))]);
  return 0;
}

const isAscii = (b: Buffer): boolean => b.every((byte) => byte < 0x80);

/** The header blocks for one entry (a PAX header first when needed); content and padding are the caller's. */
export function encodeTarHeader(rec: TarRecord): Buffer {
  const pathText = rec.path === '' ? './' : rec.type === 'dir' ? `${rec.path}/` : rec.path;
  const name = Buffer.from(pathText);
  const linkname = rec.linkname === undefined ? undefined : Buffer.from(rec.linkname);
  const pax: Array<[string, Buffer]> = [];
  if (name.length > 100) pax.push(['path', name]);
  if (linkname && linkname.length > 100) pax.push(['linkpath', linkname]);
  // libarchive converts UTF-8 PAX paths to the locale and mke2fs aborts under LC_ALL=C; BINARY keeps the bytes as they are.
  if (pax.some(([, value]) => !isAscii(value))) pax.unshift(['hdrcharset', Buffer.from('BINARY')]);
  const fields: UstarFields = {
    name,
    typeflag: TYPEFLAGS[rec.type],
    mode: rec.mode & 0o7777,
    uid: numeric(rec.uid, 8, 'uid', pax),
    gid: numeric(rec.gid, 8, 'gid', pax),
    size: numeric(rec.type === 'file' ? rec.size : 0, 12, 'size', pax),
    mtime: numeric(rec.mtime, 12, 'mtime', pax),
  };
  if (linkname) fields.linkname = linkname;
  if (rec.type === 'char' || rec.type === 'block') {
    fields.devMajor = numeric(rec.devMajor ?? 0, 8, 'SCHILY.devmajor', pax);
    fields.devMinor = numeric(rec.devMinor ?? 0, 8, 'SCHILY.devminor', pax);
  }
  for (const [key, value] of Object.entries(rec.xattrs ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    pax.push([`${XATTR_PREFIX}${key}`, value]);
  }
  const header = ustarBlock(fields);
  if (pax.length === 0) return header;
  const body = encodePaxRecords(pax);
  const paxHeader = ustarBlock({ name: Buffer.from('PaxHeader'), typeflag: 'x', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: fields.mtime });
  return Buffer.concat([paxHeader, body, tarPadding(body.length), header]);
}
