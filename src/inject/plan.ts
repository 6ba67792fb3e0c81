import { join, posix } from 'node:path';
import { RootforgeError } from '../errors.js';
import type { DebugfsOp } from '../ext4/debugfs-ops.js';
import type { EntryType, RootfsEntry } from '../layer/types.js';
import type { GuestFile, GuestRegularFile, GuestSymlink } from './guest-files.js';

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const MAX_ID = 0xfffffffe;

interface Ownership {
  mode: number;
  uid: number;
  gid: number;
}

/** What the image already has at a guest path (absolute), or undefined when nothing is there. */
export type ExistingLookup = (guestPath: string) => EntryType | undefined;

/** Content the caller must write to `path` on the host before running the ops. */
export interface TempFile {
  path: string;
  content: Buffer;
}

export interface InjectPlan {
  ops: DebugfsOp[];
  tempFiles: TempFile[];
  /** Byte size of every file written, in write order, for sizing the image (0 where a file did not say). */
  sizes: number[];
}

/** A lookup over the image's final tree, whose paths are relative ('' is the root). */
export function existingFromEntries(entries: readonly RootfsEntry[]): ExistingLookup {
  const types = new Map<string, EntryType>();
  for (const entry of entries) types.set(entry.path, entry.type);
  return (guestPath) => (guestPath === '/' ? 'dir' : types.get(guestPath.replace(/^\/+/, '')));
}

function fail(path: string, why: string): never {
  throw new RootforgeError('ERR_INJECT', `cannot inject ${path}: ${why}`);
}

function checkPath(path: string): void {
  if (/[\n\0]/.test(path)) {
    throw new RootforgeError('ERR_DEBUGFS_NAME', `cannot inject ${JSON.stringify(path)}: the name contains a newline or NUL`);
  }
  if (!path.startsWith('/') || path === '/' || path.endsWith('/') || posix.normalize(path) !== path || path.split('/').includes('..')) {
    fail(JSON.stringify(path), 'guest paths must be absolute and normalised (no //, . or .., no trailing /), and not the root itself');
  }
}

function checkId(path: string, name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 0 || value > MAX_ID)) fail(path, `${name} ${value} is not a valid id`);
}

function checkEntry(file: GuestFile): void {
  checkPath(file.path);
  checkId(file.path, 'uid', file.uid);
  checkId(file.path, 'gid', file.gid);
  if (file.kind === 'symlink') {
    if (file.target === '' || /[\n\0]/.test(file.target)) fail(file.path, 'symlink targets must be non-empty and free of newlines and NUL');
    return;
  }
  if (!Number.isInteger(file.mode) || file.mode < 0 || file.mode > 0o7777) fail(file.path, `mode ${file.mode.toString(8)} is not a permission mode (0 to 07777)`);
  if (file.kind === 'file' && (file.hostPath === undefined) === (file.content === undefined)) {
    fail(file.path, 'a file needs exactly one of hostPath or content');
  }
}

/** Ancestors of an absolute path, shallowest first, without the root. */
function ancestors(path: string): string[] {
  const parts = path.split('/').slice(1, -1);
  return parts.map((_, i) => `/${parts.slice(0, i + 1).join('/')}`);
}

function depthThenName(a: string, b: string): number {
  const da = a.split('/').length;
  const db = b.split('/').length;
  if (da !== db) return da - db;
  return a < b ? -1 : a > b ? 1 : 0;
}

const TYPE_NAMES: Record<EntryType, string> = {
  file: 'a regular file',
  dir: 'a directory',
  symlink: 'a symlink',
  char: 'a character device',
  block: 'a block device',
  fifo: 'a fifo',
};

function describeType(type: EntryType): string {
  return TYPE_NAMES[type];
}

/** Guest files to debugfs ops (mkdirs shallow-first, rm+write, ownership, symlinks); pure, so inline content comes back as temp files. */
export function injectOps(files: readonly GuestFile[], existing: ExistingLookup, opts: { tempDir: string }): InjectPlan {
  // One entry per path, the last one winning (user overlays override rootforge's own files), kept in first-seen order.
  const planned = new Map<string, GuestFile>();
  for (const file of files) {
    checkEntry(file);
    const previous = planned.get(file.path);
    if (previous && (previous.kind === 'dir') !== (file.kind === 'dir')) {
      fail(file.path, `it is injected both as a directory and as a ${file.kind === 'dir' ? previous.kind : file.kind}`);
    }
    planned.set(file.path, file);
  }

  const dirs = new Map<string, Ownership>();
  const needDirectory = (dir: string, forPath: string): void => {
    const own = planned.get(dir);
    if (own) {
      if (own.kind !== 'dir') fail(forPath, `${dir} is injected as a ${own.kind}, but ${forPath} needs it to be a directory`);
      return;
    }
    const type = existing(dir);
    if (type === undefined) {
      if (!dirs.has(dir)) dirs.set(dir, { mode: 0o755, uid: 0, gid: 0 });
    } else if (type !== 'dir') {
      fail(forPath, `${dir} is ${describeType(type)} in the image, where a directory must be (write to the path it points to instead)`);
    }
  };

  const regular: GuestRegularFile[] = [];
  const links: GuestSymlink[] = [];
  for (const file of planned.values()) {
    for (const dir of ancestors(file.path)) needDirectory(dir, file.path);
    const type = existing(file.path);
    if (file.kind === 'dir') {
      if (type === undefined) dirs.set(file.path, { mode: file.mode, uid: file.uid, gid: file.gid });
      else if (type !== 'dir') fail(file.path, `the image has ${describeType(type)} there, where the directory must go`);
      continue;
    }
    if (type === 'dir') fail(file.path, `the image has a directory there; rootforge does not replace directories with a ${file.kind}`);
    if (file.kind === 'file') regular.push(file);
    else links.push(file);
  }

  const ops: DebugfsOp[] = [];
  const tempFiles: TempFile[] = [];
  const sizes: number[] = [];
  const sortedDirs = [...dirs.entries()].sort(([a], [b]) => depthThenName(a, b));
  for (const [dir] of sortedDirs) ops.push({ op: 'mkdir', path: dir });

  for (const file of regular) {
    let hostPath = file.hostPath;
    if (hostPath === undefined) {
      hostPath = join(opts.tempDir, `inline-${String(tempFiles.length).padStart(4, '0')}`);
      tempFiles.push({ path: hostPath, content: file.content ?? Buffer.alloc(0) });
    }
    if (existing(file.path) !== undefined) ops.push({ op: 'rm', path: file.path });
    ops.push({ op: 'write', hostPath, path: file.path });
    sizes.push(file.content?.length ?? file.size ?? 0);
  }
  const owner = (path: string, attrs: Ownership, type: number): void => {
    ops.push({ op: 'set_inode_field', path, field: 'uid', value: attrs.uid });
    ops.push({ op: 'set_inode_field', path, field: 'gid', value: attrs.gid });
    ops.push({ op: 'set_inode_field', path, field: 'mode', value: type | attrs.mode });
  };
  for (const file of regular) owner(file.path, file, S_IFREG);
  for (const [dir, attrs] of sortedDirs) owner(dir, attrs, S_IFDIR);

  for (const link of links) {
    if (existing(link.path) !== undefined) ops.push({ op: 'rm', path: link.path });
    ops.push({ op: 'symlink', path: link.path, target: link.target });
    if (link.uid !== undefined) ops.push({ op: 'set_inode_field', path: link.path, field: 'uid', value: link.uid });
    if (link.gid !== undefined) ops.push({ op: 'set_inode_field', path: link.path, field: 'gid', value: link.gid });
  }
  return { ops, tempFiles, sizes };
}
