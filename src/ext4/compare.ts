/** Byte comparison of two images, and a description of where the first difference lies. */
import { open } from 'node:fs/promises';
import { execa } from 'execa';
import { e2fsEnv } from './mke2fs-config.js';
import { defaultTool, findTool } from './tools.js';

const CHUNK = 1 << 20;

/** Offset of the first byte where the files differ (a length difference counts), or undefined if identical. */
export async function firstDifference(a: string, b: string): Promise<number | undefined> {
  const [fa, fb] = await Promise.all([open(a, 'r'), open(b, 'r')]);
  try {
    const [sa, sb] = await Promise.all([fa.stat(), fb.stat()]);
    const bufA = Buffer.alloc(CHUNK);
    const bufB = Buffer.alloc(CHUNK);
    const common = Math.min(sa.size, sb.size);
    for (let offset = 0; offset < common; offset += CHUNK) {
      const length = Math.min(CHUNK, common - offset);
      await Promise.all([fa.read(bufA, 0, length, offset), fb.read(bufB, 0, length, offset)]);
      if (bufA.compare(bufB, 0, length, 0, length) !== 0) {
        for (let i = 0; i < length; i++) if (bufA[i] !== bufB[i]) return offset + i;
      }
    }
    return sa.size === sb.size ? undefined : common;
  } finally {
    await Promise.all([fa.close(), fb.close()]);
  }
}

/** Superblock fields (offset within the superblock, size, name) that a rebuild can plausibly change. */
const SUPERBLOCK_FIELDS: [number, number, string][] = [
  [0x00, 4, 's_inodes_count'], [0x04, 4, 's_blocks_count_lo'], [0x0c, 4, 's_free_blocks_count_lo'], [0x10, 4, 's_free_inodes_count'],
  [0x2c, 4, 's_mtime'], [0x30, 4, 's_wtime'], [0x34, 2, 's_mnt_count'], [0x3a, 2, 's_state'], [0x40, 4, 's_lastcheck'],
  [0x5c, 4, 's_feature_compat'], [0x60, 4, 's_feature_incompat'], [0x64, 4, 's_feature_ro_compat'], [0x68, 16, 's_uuid'],
  [0x78, 16, 's_volume_name'], [0x88, 64, 's_last_mounted'], [0xd0, 16, 's_journal_uuid'], [0xe8, 4, 's_last_orphan'],
  [0xec, 16, 's_hash_seed'], [0x108, 4, 's_mkfs_time'], [0x10c, 68, 's_jnl_blocks'], [0x174, 4, 's_kbytes_written'],
  [0x190, 4, 's_first_error_time'], [0x3fc, 4, 's_checksum'],
];

async function debugfsRequest(image: string, request: string): Promise<string> {
  const result = await execa(await defaultTool('debugfs'), ['-R', request, image], { reject: false, env: e2fsEnv() });
  return result.stdout;
}

/** Says in ext4 terms where `offset` of `image` lies: a superblock field, an inode (with its path), or a block. */
export async function describeOffset(image: string, offset: number, blockSize = 4096): Promise<string> {
  if (offset >= 1024 && offset < 2048) {
    const at = offset - 1024;
    const field = SUPERBLOCK_FIELDS.find(([start, size]) => at >= start && at < start + size);
    return `superblock field ${field ? field[2] : `at byte 0x${at.toString(16)}`} (image offset ${offset})`;
  }
  const block = Math.floor(offset / blockSize);
  const owner = /^\d+\t(\d+)$/m.exec(await debugfsRequest(image, `icheck ${block}`))?.[1];
  if (owner) {
    const path = new RegExp(`^${owner}\\t(.*)$`, 'm').exec(await debugfsRequest(image, `ncheck ${owner}`))?.[1];
    return `data of inode ${owner}${path ? ` (${path.replace(/^\/+/, '/')})` : ''}, block ${block} (image offset ${offset})`;
  }
  const dumpe2fs = await findTool(['dumpe2fs']);
  const dump = dumpe2fs ? (await execa(dumpe2fs, [image], { reject: false, env: e2fsEnv() })).stdout : '';
  const inodeSize = Number(/^Inode size:\s+(\d+)/m.exec(dump)?.[1] ?? 256);
  const perGroup = Number(/^Inodes per group:\s+(\d+)/m.exec(dump)?.[1] ?? 0);
  for (const match of dump.matchAll(/^Group (\d+):[\s\S]*?Inode table at (\d+)-(\d+)/gm)) {
    const [group, first, last] = [Number(match[1]), Number(match[2]), Number(match[3])];
    if (block >= first && block <= last) {
      const inode = group * perGroup + Math.floor((offset - first * blockSize) / inodeSize) + 1;
      const path = new RegExp(`^${inode}\\t(.*)$`, 'm').exec(await debugfsRequest(image, `ncheck ${inode}`))?.[1];
      return `inode ${inode}${path ? ` (${path.replace(/^\/+/, '/')})` : ''} in the inode table of group ${group} (image offset ${offset})`;
    }
  }
  return `metadata block ${block} (group descriptors, bitmaps or journal; image offset ${offset})`;
}
