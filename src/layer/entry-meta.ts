/** What one tar header says about its entry, with PAX overrides tar-stream does not apply (uid, gid, mtime, xattrs). */
import { RootforgeError } from '../errors.js';
import type { TarHeader } from './layer-reader.js';
import { xattrsFromPax, type PaxRecords } from './pax.js';

export type TarEntryKind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarEntryMeta {
  /** The entry name exactly as the tar gives it (after PAX/GNU long names). */
  name: string;
  kind: TarEntryKind;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** Content bytes that follow the header (files only; 0 for every other kind). */
  size: number;
  /** Symlink target (verbatim) or hardlink target (raw, not yet normalised). */
  linkname?: string;
  devMajor?: number;
  devMinor?: number;
  xattrs?: Record<string, Buffer>;
}

/** ext4 holds an inode's xattrs in one block (64 KiB at most); more is hostile and would sit in memory until the layer is replayed. */
const MAX_XATTR_BYTES = 64 * 1024;

const KINDS: Partial<Record<string, TarEntryKind>> = {
  file: 'file',
  // POSIX lets readers treat contiguous files as regular ones, as GNU tar does.
  'contiguous-file': 'file',
  directory: 'dir',
  symlink: 'symlink',
  link: 'hardlink',
  'character-device': 'char',
  'block-device': 'block',
  fifo: 'fifo',
};

function paxInteger(records: PaxRecords | undefined, key: string, fallback: number): number {
  const raw = records?.get(key);
  if (raw === undefined) return fallback;
  const value = Math.floor(Number(raw.toString('latin1')));
  if (!Number.isSafeInteger(value)) throw new RootforgeError('ERR_BAD_LAYER', `PAX record ${key}=${JSON.stringify(raw.toString('latin1'))} is not a number`);
  return value;
}

/** Reads one header; sparse files and unknown types are refused, as containerd and moby refuse them. */
export function entryMeta(header: TarHeader, pax: PaxRecords | undefined): TarEntryMeta {
  const kind = KINDS[header.type ?? ''];
  if (!kind) throw new RootforgeError('ERR_BAD_LAYER', `unsupported tar entry type ${header.type ?? 'unknown (GNU sparse, volume label or vendor type)'}`);
  // Old tars mark directories with typeflag NUL and a trailing slash; Docker reads that as a directory, tar-stream as a file.
  if (header.type === 'file' && header.name.endsWith('/')) throw new RootforgeError('ERR_BAD_LAYER', 'regular file named with a trailing slash: tar readers disagree whether it is a directory');
  // Go's archive/tar (Docker) reads the blocks after such a header as the next headers, tar-stream as its content: both cannot be right.
  if (kind !== 'file' && kind !== 'dir' && (header.size ?? 0) > 0) throw new RootforgeError('ERR_BAD_LAYER', `${header.type} entry carries ${header.size} bytes of data`);
  if (pax && [...pax.keys()].some((key) => key.startsWith('GNU.sparse.'))) {
    throw new RootforgeError('ERR_BAD_LAYER', 'GNU sparse files are not supported');
  }
  const meta: TarEntryMeta = {
    name: header.name,
    kind,
    mode: (header.mode ?? 0) & 0o7777,
    uid: paxInteger(pax, 'uid', header.uid ?? 0),
    gid: paxInteger(pax, 'gid', header.gid ?? 0),
    mtime: paxInteger(pax, 'mtime', Math.floor((header.mtime?.getTime() ?? 0) / 1000)),
    size: kind === 'file' ? (header.size ?? 0) : 0,
  };
  if (meta.uid < 0 || meta.gid < 0 || meta.uid > 0xffffffff || meta.gid > 0xffffffff) throw new RootforgeError('ERR_BAD_LAYER', `uid/gid ${meta.uid}/${meta.gid} out of range`);
  if (kind === 'symlink' || kind === 'hardlink') {
    if (!header.linkname) throw new RootforgeError('ERR_BAD_LAYER', `${kind} has no target`);
    meta.linkname = header.linkname;
  }
  if (kind === 'char' || kind === 'block') {
    meta.devMajor = paxInteger(pax, 'SCHILY.devmajor', header.devmajor ?? 0);
    meta.devMinor = paxInteger(pax, 'SCHILY.devminor', header.devminor ?? 0);
  }
  const xattrs = pax && xattrsFromPax(pax);
  if (xattrs) {
    const bytes = Object.entries(xattrs).reduce((sum, [key, value]) => sum + key.length + value.length, 0);
    if (bytes > MAX_XATTR_BYTES) throw new RootforgeError('ERR_LIMIT_EXCEEDED', `xattrs take ${bytes} bytes (limit ${MAX_XATTR_BYTES})`);
    meta.xattrs = xattrs;
  }
  return meta;
}
