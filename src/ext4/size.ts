/** Sizes an ext4 image from its content, mirroring mke2fs's layout arithmetic (e2fsprogs lib/ext2fs/initialize.c). Pure. */
import { RootforgeError } from '../errors.js';
import type { RootfsEntry } from '../layer/types.js';

export const BLOCK_SIZE = 4096;
export const INODE_SIZE = 256;
export const DEFAULT_HEADROOM_PERCENT = 20;
export const MIN_IMAGE_BYTES = 64 * 1024 * 1024;

const BLOCKS_PER_GROUP = BLOCK_SIZE * 8;
const INODES_PER_BLOCK = BLOCK_SIZE / INODE_SIZE;
const MAX_INODES_PER_GROUP = BLOCK_SIZE * 8;
/** 64bit group descriptors. */
const DESCS_PER_BLOCK = BLOCK_SIZE / 64;
/** Inodes 1-10 are reserved and 11 is lost+found. */
const RESERVED_INODES = 11;
/** mke2fs's default inode_ratio: one inode per 16 KiB, so a guest gets a normal inode budget. */
const INODE_RATIO = 16384;
/** lost+found is made with 16 KiB so e2fsck never has to grow it. */
const LOST_FOUND_BLOCKS = 4;
/** With metadata_csum each directory block ends in a 12-byte checksum entry. */
const DIR_BLOCK_USABLE = BLOCK_SIZE - 12;
/** An inode's i_block holds 4 extents; an index block holds 340 more. */
const INLINE_EXTENTS = 4;
const EXTENTS_PER_BLOCK = (BLOCK_SIZE - 12) / 12;
/** One initialised extent covers at most 32768 blocks. */
const EXTENT_MAX_BLOCKS = 32768;
/** A symlink target shorter than i_block (60 bytes) lives in the inode. */
const FAST_SYMLINK_MAX = 59;
/** In-inode xattr space: 256 - 128 (base inode) - 32 (extra_isize) - 4 (magic). */
const IN_INODE_XATTR_BYTES = INODE_SIZE - 128 - 32 - 4;
/** mke2fs drops a last group smaller than its own metadata plus 50 blocks. */
const LAST_GROUP_SLACK = 50;
/** Blocks kept free beyond the estimate, for allocator slack the arithmetic cannot see. */
const SAFETY_BLOCKS = 256;
const SAFETY_FRACTION = 0.01;
/** Inodes kept free beyond the count, for the few directories injected files may need. */
const INODE_MARGIN = 64;

/** What the content needs, in 4 KiB blocks and inodes; computeImageSize adds the filesystem's own metadata. */
export interface ContentStats {
  inodes: number;
  blocks: number;
}

export interface SizeOptions {
  /** Free space to add on top of the content, in percent of the content (default 20). */
  headroomPercent?: number;
  /** Exact image size in bytes (rounded down to the block size); the content must fit or ERR_IMAGE_TOO_SMALL. */
  sizeBytes?: number;
  blockSize?: 4096;
  /** Byte sizes of files injected after mkfs (guest files, overlays). */
  extraFiles?: readonly number[];
  /** Smallest content-sized image (default 64 MiB). */
  minBytes?: number;
}

export interface ImageSize {
  bytes: number;
  /** Passed to mkfs as -N. */
  inodes: number;
}

const XATTR_PREFIXES = ['system.posix_acl_access', 'system.posix_acl_default', 'system.richacl', 'user.', 'trusted.', 'security.', 'system.'];

function pad4(n: number): number {
  return (n + 3) & ~3;
}

/** Bytes an xattr set takes as ext4 entries (16-byte header, padded name without its indexed prefix, padded value). */
export function xattrBytes(xattrs: Readonly<Record<string, Buffer>>): number {
  let bytes = 4;
  for (const [name, value] of Object.entries(xattrs)) {
    const prefix = XATTR_PREFIXES.find((p) => name.startsWith(p)) ?? '';
    bytes += 16 + pad4(Buffer.byteLength(name) - prefix.length) + pad4(value.length);
  }
  return bytes;
}

function extentBlocks(blocks: number): number {
  // Allocation breaks at backup superblocks and flex_bg metadata, so allow a break per group crossed.
  const extents = 2 * Math.ceil(blocks / EXTENT_MAX_BLOCKS) + 1;
  return blocks > INLINE_EXTENTS && extents > INLINE_EXTENTS ? Math.ceil(extents / EXTENTS_PER_BLOCK) : 0;
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? '' : path.slice(0, slash);
}

/** Blocks and inodes the entries need: data, directories, long symlinks, xattr blocks and extent trees. */
export function contentStats(entries: readonly RootfsEntry[]): ContentStats {
  const dirs = new Map<string, { bytes: number; maxRec: number }>();
  const dirent = (path: string) => {
    const rec = pad4(8 + Buffer.byteLength(path.slice(path.lastIndexOf('/') + 1)));
    const parent = dir(parentOf(path));
    parent.bytes += rec;
    parent.maxRec = Math.max(parent.maxRec, rec);
  };
  const dir = (path: string): { bytes: number; maxRec: number } => {
    let d = dirs.get(path);
    if (!d) {
      // '.' and '..' take 12 bytes each.
      d = { bytes: 24, maxRec: 12 };
      dirs.set(path, d);
      // A directory met only as a parent is made anyway, with its own entry in its parent.
      if (path !== '' && !listedDirs.has(path)) dirent(path);
    }
    return d;
  };
  const listedDirs = new Set(entries.filter((e) => e.type === 'dir').map((e) => e.path));
  dir('');
  let inodes = 0;
  let blocks = 0;
  for (const entry of entries) {
    if (entry.path !== '') dirent(entry.path);
    if (entry.type === 'dir') dir(entry.path);
    if (entry.hardlinkTo !== undefined) continue;
    if (entry.path !== '') inodes += 1;
    if (entry.type === 'file') {
      const data = Math.ceil(entry.size / BLOCK_SIZE);
      blocks += data + extentBlocks(data);
    } else if (entry.type === 'symlink' && Buffer.byteLength(entry.linkTarget ?? '') > FAST_SYMLINK_MAX) {
      blocks += 1;
    }
    if (entry.xattrs && Object.keys(entry.xattrs).length > 0 && xattrBytes(entry.xattrs) > IN_INODE_XATTR_BYTES) blocks += 1;
  }
  // Every directory, the root included, has at least one block; parents missing from the list are made anyway.
  for (const [path, d] of dirs) {
    if (path !== '' && !listedDirs.has(path)) inodes += 1;
    const perBlock = DIR_BLOCK_USABLE - d.maxRec;
    const dirBlocks = Math.max(1, Math.ceil(d.bytes / perBlock));
    blocks += dirBlocks + extentBlocks(dirBlocks);
  }
  // The root is inode 2, one of the reserved inodes computeImageSize adds.
  return { inodes, blocks };
}

/** mke2fs's default journal size (ext2fs_default_journal_size) for a filesystem of `blocks` 4 KiB blocks. */
export function defaultJournalBlocks(blocks: number): number {
  if (blocks < 2048) return -1;
  if (blocks < 32768) return 1024;
  if (blocks < 256 * 1024) return 4096;
  if (blocks < 512 * 1024) return 8192;
  if (blocks < 4096 * 1024) return 16384;
  if (blocks < 8192 * 1024) return 32768;
  if (blocks < 16384 * 1024) return 65536;
  if (blocks < 32768 * 1024) return 131072;
  return 262144;
}

function isPowerOf(n: number, base: number): boolean {
  let x = base;
  while (x < n) x *= base;
  return x === n;
}

/** sparse_super keeps superblock backups in groups 0, 1 and powers of 3, 5 and 7. */
export function groupHasSuper(group: number): boolean {
  return group <= 1 || isPowerOf(group, 3) || isPowerOf(group, 5) || isPowerOf(group, 7);
}

interface Layout {
  groups: number;
  inodesPerGroup: number;
  /** Blocks mke2fs uses itself: superblocks, descriptors, reserved descriptors, bitmaps, inode tables, journal, lost+found. */
  overhead: number;
  /** Blocks mke2fs would cut off the end because the last group is too small (0 when it keeps them all). */
  trimmed: number;
  /** The single group is smaller than its own metadata: mke2fs refuses. */
  tooSmall: boolean;
}

/** The layout mke2fs makes for `blocks` blocks and -N `inodes`. */
export function layout(blocks: number, inodes: number): Layout {
  const groups = Math.max(1, Math.ceil(blocks / BLOCKS_PER_GROUP));
  let ipg = Math.ceil(inodes / groups);
  ipg = Math.min(MAX_INODES_PER_GROUP, Math.ceil(ipg / INODES_PER_BLOCK) * INODES_PER_BLOCK);
  const itableBlocks = ipg / INODES_PER_BLOCK;
  const descBlocks = Math.ceil(groups / DESCS_PER_BLOCK);
  // resize_inode reserves descriptor blocks for growth to 1024x (capped at 2^32 blocks and at 1024 blocks).
  const maxBlocks = blocks < 0xffffffff / 1024 ? blocks * 1024 : 0xffffffff;
  const reservedGdt = Math.min(1024, Math.max(0, Math.ceil(Math.ceil(maxBlocks / BLOCKS_PER_GROUP) / DESCS_PER_BLOCK) - descBlocks));
  let backups = 0;
  for (let g = 0; g < groups; g++) if (groupHasSuper(g)) backups += 1;
  const journal = defaultJournalBlocks(blocks);
  // The resize inode's own indirect block and the journal's extent index are a block each.
  const overhead = backups * (1 + descBlocks + reservedGdt) + groups * (2 + itableBlocks) + Math.max(journal, 0) + 2 + LOST_FOUND_BLOCKS;
  const lastOverhead = 2 + itableBlocks + (groupHasSuper(groups - 1) ? 1 + descBlocks + reservedGdt : 0);
  const rem = blocks % BLOCKS_PER_GROUP;
  const tooSmall = journal < 0 || (groups === 1 && rem > 0 && rem < lastOverhead) || ipg * groups < inodes;
  const trimmed = groups > 1 && rem > 0 && rem < lastOverhead + LAST_GROUP_SLACK ? rem : 0;
  return { groups, inodesPerGroup: ipg, overhead, trimmed, tooSmall };
}

function fits(blocks: number, inodes: number, need: number): boolean {
  const l = layout(blocks, inodes);
  if (l.tooSmall) return false;
  const kept = blocks - l.trimmed;
  return kept - layout(kept, inodes).overhead >= need;
}

function safety(blocks: number): number {
  return SAFETY_BLOCKS + Math.ceil(blocks * SAFETY_FRACTION);
}

function sizeError(message: string): RootforgeError {
  return new RootforgeError('ERR_IMAGE_TOO_SMALL', message);
}

/** Image bytes and inode count for the content: content-aware with headroom and a 64 MiB floor, or exactly sizeBytes. */
export function computeImageSize(content: readonly RootfsEntry[] | ContentStats, opts: SizeOptions = {}): ImageSize {
  const stats = Array.isArray(content) ? contentStats(content as readonly RootfsEntry[]) : (content as ContentStats);
  const headroom = opts.headroomPercent ?? DEFAULT_HEADROOM_PERCENT;
  if (!Number.isFinite(headroom) || headroom < 0) throw new RootforgeError('ERR_USAGE', `headroom must be a non-negative percentage, not ${headroom}`);
  let blocksNeeded = stats.blocks;
  let inodesNeeded = stats.inodes + RESERVED_INODES;
  for (const size of opts.extraFiles ?? []) {
    // Each injected file may also need a directory entry block and a new directory.
    blocksNeeded += Math.ceil(size / BLOCK_SIZE) + extentBlocks(Math.ceil(size / BLOCK_SIZE)) + 1;
    inodesNeeded += 2;
  }
  const minimalInodes = inodesNeeded + INODE_MARGIN;
  const wantedInodes = Math.ceil(inodesNeeded * (1 + headroom / 100)) + INODE_MARGIN;
  const inodesFor = (blocks: number) => Math.max(wantedInodes, Math.floor((blocks * BLOCK_SIZE) / INODE_RATIO));

  if (opts.sizeBytes !== undefined) {
    if (!Number.isSafeInteger(opts.sizeBytes) || opts.sizeBytes <= 0) throw new RootforgeError('ERR_USAGE', `image size must be a positive number of bytes, not ${opts.sizeBytes}`);
    const blocks = Math.floor(opts.sizeBytes / BLOCK_SIZE);
    const need = blocksNeeded + safety(blocksNeeded);
    for (const inodes of [inodesFor(blocks), minimalInodes]) {
      if (fits(blocks, inodes, need)) return { bytes: blocks * BLOCK_SIZE, inodes };
    }
    const required = computeImageSize(stats, { headroomPercent: 0, extraFiles: opts.extraFiles ?? [] });
    throw sizeError(
      `the content needs at least ${mib(required.bytes)} MiB (${blocksNeeded} data blocks, ${inodesNeeded} inodes), but --size gives ${mib(opts.sizeBytes)} MiB`,
    );
  }

  const need = Math.ceil(blocksNeeded * (1 + headroom / 100)) + safety(blocksNeeded);
  let blocks = Math.max(Math.ceil((opts.minBytes ?? MIN_IMAGE_BYTES) / BLOCK_SIZE), need);
  for (let round = 0; round < 64; round++) {
    const inodes = inodesFor(blocks);
    // Each group holds at most 32768 inodes, so very many small files need more groups.
    const groupsForInodes = Math.ceil(inodes / MAX_INODES_PER_GROUP);
    if (Math.ceil(blocks / BLOCKS_PER_GROUP) < groupsForInodes) {
      blocks = (groupsForInodes - 1) * BLOCKS_PER_GROUP + BLOCKS_PER_GROUP / 2;
      continue;
    }
    const l = layout(blocks, inodes);
    if (l.trimmed > 0 || l.tooSmall) {
      blocks += BLOCKS_PER_GROUP / 64;
      continue;
    }
    const total = need + l.overhead;
    if (blocks >= total) return { bytes: blocks * BLOCK_SIZE, inodes };
    blocks = total;
  }
  throw new RootforgeError('ERR_INTERNAL', 'image size estimate did not converge');
}

function mib(bytes: number): string {
  return (bytes / 1048576).toFixed(1);
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Bytes from '2G', '512M', '1.5GiB', '64k' or '1048576' (binary units; a bare number is bytes). */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(text);
  if (!match) throw new RootforgeError('ERR_USAGE', `cannot read size ${JSON.stringify(text)}: use a number of bytes or K, M, G, T (e.g. 2G, 512M)`);
  const bytes = Math.floor(Number(match[1]) * (UNITS[(match[2] ?? '').toLowerCase()] as number));
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new RootforgeError('ERR_USAGE', `size ${JSON.stringify(text)} must be a positive number of bytes`);
  return bytes;
}
