/** The debugfs ops that restore what a populate path could not carry, and nothing more. Pure: xattr values come back as files. */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { EntryType, RootfsEntry } from '../layer/types.js';
import type { DebugfsOp } from './debugfs-ops.js';
import { checkDebugfsName } from './debugfs-script.js';

export interface StagedTree {
  /** Paths the staging tree holds with another mode than the entry's (e.g. 0000 staged 0600 to be readable), path -> staged mode. */
  modes: ReadonlyMap<string, number>;
  /** Owner of everything staged: mkfs -d copies it, so only other owners need setting. */
  runnerUid: number;
  runnerGid: number;
  /** Where the xattr value files go (the caller writes them). */
  tempDir: string;
}

export interface ValueFile {
  path: string;
  content: Buffer;
}

export interface FixupPlan {
  ops: DebugfsOp[];
  /** Files the ops read (ea_set -f), to write before running them; identical values share one file. */
  valueFiles: ValueFile[];
}

export const TYPE_BITS: Record<EntryType, number> = {
  file: 0o100000,
  dir: 0o040000,
  symlink: 0o120000,
  char: 0o020000,
  block: 0o060000,
  fifo: 0o010000,
};

/** What mkfs gives the root directory, which neither populate path copies reliably. */
const ROOT_DEFAULT = { mode: 0o755, uid: 0, gid: 0 };
/** mke2fs 1.47.2 keeps these xattrs from a tar and drops every other one (create_inode_libarchive.c). */
const TAR_KEPT_XATTRS = new Set(['security.capability', 'gnu.translator']);
/** Seconds ext4 stores without help: mke2fs writes only the low 32 bits (tar) or clamps (dir) outside them. */
const PLAIN_TIME_MAX = 2 ** 31 - 1;

function abs(path: string): string {
  return `/${path}`;
}

function outsidePlainTime(mtime: number): boolean {
  return mtime < 0 || mtime > PLAIN_TIME_MAX;
}

/** Debugfs fixups after mkfs: for 'tar' the few things mke2fs's tar reader loses, for 'dir' what a runner-owned staging tree cannot hold. */
export function fixupOps(entries: readonly RootfsEntry[], populate: 'tar' | 'dir', staged: StagedTree): FixupPlan {
  const ops: DebugfsOp[] = [];
  const values = new Map<string, ValueFile>();
  const byPath = new Map<string, RootfsEntry>();
  for (const entry of entries) byPath.set(entry.path, entry);

  const set = (entry: RootfsEntry, field: 'uid' | 'gid' | 'mode' | 'mtime' | 'links_count', value: number): void => {
    ops.push({ op: 'set_inode_field', path: abs(entry.path), field, value });
  };
  const setMode = (entry: RootfsEntry): void => set(entry, 'mode', TYPE_BITS[entry.type] | (entry.mode & 0o7777));
  const xattrs = (entry: RootfsEntry, keep: (name: string) => boolean): void => {
    for (const [name, value] of Object.entries(entry.xattrs ?? {})) {
      if (!keep(name)) continue;
      checkDebugfsName(abs(entry.path), name, 'xattr name');
      const digest = createHash('sha256').update(value).digest('hex').slice(0, 32);
      const path = join(staged.tempDir, `xattr-${digest}`);
      if (!values.has(path)) values.set(path, { path, content: value });
      ops.push({ op: 'ea_set', path: abs(entry.path), name, valueFile: path });
    }
  };

  const root = byPath.get('');
  const fixRoot = (): void => {
    if (!root) return;
    // Neither path copies the root reliably: mkfs -d ignores the staging root, and a tar may carry no "./" entry.
    if ((root.mode & 0o7777) !== ROOT_DEFAULT.mode) setMode(root);
    if (root.uid !== ROOT_DEFAULT.uid) set(root, 'uid', root.uid);
    if (root.gid !== ROOT_DEFAULT.gid) set(root, 'gid', root.gid);
    set(root, 'mtime', root.mtime);
  };

  if (populate === 'tar') {
    fixRoot();
    // Without a "./" entry the root keeps none of its xattrs, so it gets all of them.
    if (root) xattrs(root, () => true);
    for (const entry of entries) {
      if (entry.path === '' || entry.hardlinkTo !== undefined) continue;
      // tar-stream's pack writes mode 0 as 0644 (it treats 0 as unset), so the tar never says 0000.
      if ((entry.mode & 0o7777) === 0) setMode(entry);
      if (outsidePlainTime(entry.mtime)) set(entry, 'mtime', entry.mtime);
      // tar-stream writes PAX values as UTF-8 strings, so a kept xattr with a byte >= 0x80 arrives mangled.
      xattrs(entry, (name) => !TAR_KEPT_XATTRS.has(name) || (entry.xattrs?.[name] ?? Buffer.alloc(0)).some((b) => b >= 0x80));
    }
    return { ops, valueFiles: [...values.values()] };
  }

  fixRoot();
  for (const entry of entries) {
    if (entry.path === '') {
      xattrs(entry, () => true);
      continue;
    }
    if (entry.hardlinkTo !== undefined) {
      const target = byPath.get(entry.hardlinkTo);
      // The staging tree holds hardlinks to files; device and fifo nodes are made here, so their extra names are too.
      if (target && (target.type === 'char' || target.type === 'block' || target.type === 'fifo')) {
        ops.push({ op: 'link', path: abs(entry.path), target: abs(target.path) });
      }
      continue;
    }
    if (entry.type === 'char' || entry.type === 'block' || entry.type === 'fifo') {
      ops.push({
        op: 'mknod',
        path: abs(entry.path),
        kind: entry.type,
        ...(entry.type === 'fifo' ? {} : { major: entry.devMajor ?? 0, minor: entry.devMinor ?? 0 }),
      });
      // mknod makes an inode owned by 0:0 with no permission bits and the current time.
      setMode(entry);
      if (entry.uid !== 0) set(entry, 'uid', entry.uid);
      if (entry.gid !== 0) set(entry, 'gid', entry.gid);
      set(entry, 'mtime', entry.mtime);
      xattrs(entry, () => true);
      continue;
    }
    const stagedMode = staged.modes.get(entry.path) ?? (entry.type === 'symlink' ? 0o777 : entry.mode & 0o7777);
    if (stagedMode !== (entry.mode & 0o7777)) setMode(entry);
    if (entry.uid !== staged.runnerUid) set(entry, 'uid', entry.uid);
    if (entry.gid !== staged.runnerGid) set(entry, 'gid', entry.gid);
    if (outsidePlainTime(entry.mtime)) set(entry, 'mtime', entry.mtime);
    xattrs(entry, () => true);
  }

  // Extra names of device and fifo nodes: debugfs's link does not count them.
  const links = new Map<string, number>();
  for (const entry of entries) {
    if (entry.hardlinkTo === undefined) continue;
    const target = byPath.get(entry.hardlinkTo);
    if (target && (target.type === 'char' || target.type === 'block' || target.type === 'fifo')) links.set(target.path, (links.get(target.path) ?? 1) + 1);
  }
  for (const [path, count] of links) set(byPath.get(path) as RootfsEntry, 'links_count', count);

  // mknod, link and directory growth leave the parent's mtime and ctime alone (measured on 1.47.2), so parents need nothing.
  return { ops, valueFiles: [...values.values()] };
}
