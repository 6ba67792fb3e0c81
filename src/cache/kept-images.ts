/**
 * Built ext4 images kept in the cache under their build key, so a rebuild with the same inputs and
 * options is a copy. The entry is a hard link to the output it was built as: keeping it costs no
 * write. An entry no output links any more is handed out itself, linked again; otherwise it is
 * copied. Either way it is re-hashed against the recorded sha256 before it is used, and an entry
 * whose content was written since (the output was booted) is dropped at once.
 */
import { link, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';
import type { Digest } from '../oci/digest.js';
import { copyAndHash } from '../fs/copy-verified.js';
import { syncAndHash } from '../fs/sync-and-hash.js';
import { tempNameFor, writeFileAtomic } from './atomic.js';

export const KEPT_IMAGES_DIR = 'rootforge-images';

/** What a kept image must record: its bytes' hash and size, and the manifest it came from (for prune). */
export interface KeptImageFacts {
  sha256: Digest;
  sizeBytes: number;
  manifestDigest: Digest;
}

interface KeptRecord<T extends KeptImageFacts> {
  format: 1;
  /** The inode's modification time when it was kept: a write or truncate moves it (deleting the output's name does not). */
  mtimeNs: string;
  facts: T;
}

export interface KeptImage<T extends KeptImageFacts = KeptImageFacts> {
  key: string;
  imagePath: string;
  recordPath: string;
  facts: T;
  /** Whether the content looks as it was kept; a written one cannot hold the recorded bytes any more. */
  unchanged: boolean;
  /** Bytes removing the entry frees: none while an output still links the same inode. */
  freeableBytes: number;
  mtimeMs: number;
}

function paths(cacheRoot: string, key: string): { imagePath: string; recordPath: string } {
  const dir = join(cacheRoot, KEPT_IMAGES_DIR);
  return { imagePath: join(dir, `${key}.ext4`), recordPath: join(dir, `${key}.json`) };
}

/**
 * Keeps `output` under `key` by a hard link. Returns false when the filesystem cannot link it here
 * (another filesystem, or no hard links): the build stands, only the next one is not a copy.
 */
export async function keepImage<T extends KeptImageFacts>(cacheRoot: string, tempDir: string, key: string, output: string, facts: T): Promise<boolean> {
  const { imagePath, recordPath } = paths(cacheRoot, key);
  await mkdir(join(cacheRoot, KEPT_IMAGES_DIR), { recursive: true });
  const temp = tempNameFor(join(tempDir, `${key}.ext4`));
  try {
    await link(output, temp);
  } catch (error) {
    if (['EXDEV', 'EPERM', 'EMLINK', 'ENOTSUP', 'EOPNOTSUPP'].includes((error as NodeJS.ErrnoException).code ?? '')) return false;
    throw error;
  }
  try {
    // The old record goes before the old image, so no moment pairs it with the new one.
    await rm(recordPath, { force: true });
    await rename(temp, imagePath);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  const { mtimeNs } = await stat(imagePath, { bigint: true });
  const record: KeptRecord<T> = { format: 1, mtimeNs: mtimeNs.toString(), facts };
  await writeFileAtomic(recordPath, JSON.stringify(record) + '\n');
  return true;
}

/** The kept image for `key`, or undefined when there is none (or its record is unreadable). */
export async function findKeptImage<T extends KeptImageFacts>(cacheRoot: string, key: string): Promise<KeptImage<T> | undefined> {
  const { imagePath, recordPath } = paths(cacheRoot, key);
  let record: KeptRecord<T>;
  try {
    record = JSON.parse(await readFile(recordPath, 'utf8')) as KeptRecord<T>;
  } catch {
    return undefined;
  }
  if (record.format !== 1 || typeof record.facts?.sha256 !== 'string' || typeof record.mtimeNs !== 'string') return undefined;
  const s = await stat(imagePath, { bigint: true }).catch(() => undefined);
  if (!s?.isFile()) return undefined;
  const unchanged = s.mtimeNs.toString() === record.mtimeNs && Number(s.size) === record.facts.sizeBytes;
  return { key, imagePath, recordPath, facts: record.facts, unchanged, freeableBytes: freeableBytes(s), mtimeMs: Number(s.mtimeMs) };
}

export async function dropKeptImage(image: Pick<KeptImage, 'imagePath' | 'recordPath'>): Promise<void> {
  await rm(image.recordPath, { force: true });
  await rm(image.imagePath, { force: true });
}

/**
 * Puts a kept image at `target` and checks its sha256. When no output links the entry any more it
 * becomes `target` itself (a hard link, as a cold build's output is: no write); else `target` is a
 * copy of its own (sparse; a reflink where the filesystem has them), fsynced. Returns the recorded
 * facts, or undefined after dropping an entry that changed or no longer matches; `target` is then removed.
 */
export async function placeKeptImage<T extends KeptImageFacts>(kept: KeptImage<T>, target: string, signal?: AbortSignal): Promise<T | undefined> {
  if (!kept.unchanged) {
    await dropKeptImage(kept);
    return undefined;
  }
  try {
    const linked = await linkIfUnshared(kept.imagePath, target);
    const digest = linked ? await syncAndHash(target, signal) : await copyAndHash(kept.imagePath, target, signal);
    if (digest === kept.facts.sha256) return kept.facts;
    await dropKeptImage(kept);
  } catch {
    signal?.throwIfAborted();
    // The entry went away meanwhile, or the copy failed: the build goes the long way.
  }
  await rm(target, { force: true });
  return undefined;
}

/** Links `path` at `target` when no other name links it and nothing holds a lock on it; false (and nothing at `target`) otherwise, or where links fail. */
async function linkIfUnshared(path: string, target: string): Promise<boolean> {
  const before = await stat(path);
  if (before.nlink !== 1 || (await lockedInodes()).has(before.ino)) return false;
  try {
    await link(path, target);
  } catch {
    return false;
  }
  // Another run may have linked it at the same moment: only one keeps its link, or two outputs would share their bytes.
  if ((await stat(path)).nlink === 2) return true;
  await rm(target, { force: true });
  return false;
}

/**
 * Inode numbers that some process holds a lock on (/proc/locks; empty where there is none). QEMU and
 * Cloud Hypervisor lock the disk images they run, so an output deleted under a running VM shows here.
 * Matching the inode alone, whatever the device, can only make a copy where a link would have done.
 */
async function lockedInodes(): Promise<Set<number>> {
  const text = await readFile('/proc/locks', 'utf8').catch(() => '');
  const inodes = new Set<number>();
  for (const match of text.matchAll(/ [0-9a-f]+:[0-9a-f]+:(\d+) /g)) inodes.add(Number(match[1]));
  return inodes;
}

/** Every kept image, for prune and verify. */
export async function listKeptImages(cacheRoot: string): Promise<KeptImage[]> {
  const names = await readdir(join(cacheRoot, KEPT_IMAGES_DIR)).catch(() => [] as string[]);
  const kept: KeptImage[] = [];
  for (const name of names.sort()) {
    const match = /^([0-9a-f]{64})\.json$/.exec(name);
    if (!match) continue;
    const image = await findKeptImage(cacheRoot, match[1]!);
    if (image) kept.push(image);
  }
  return kept;
}

/** Images whose record went missing (a crash between link and record): nothing can use them. */
export async function orphanedKeptImages(cacheRoot: string): Promise<{ imagePath: string; freeableBytes: number; mtimeMs: number }[]> {
  const dir = join(cacheRoot, KEPT_IMAGES_DIR);
  const names = await readdir(dir).catch(() => [] as string[]);
  const records = new Set(names.filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length)));
  const orphans = [];
  for (const name of names.filter((n) => /^[0-9a-f]{64}\.ext4$/.test(n) && !records.has(n.slice(0, -'.ext4'.length)))) {
    const s = await stat(join(dir, name), { bigint: true }).catch(() => undefined);
    if (s) orphans.push({ imagePath: join(dir, name), freeableBytes: freeableBytes(s), mtimeMs: Number(s.mtimeMs) });
  }
  return orphans;
}

function freeableBytes(s: BigIntStats): number {
  return s.nlink > 1n ? 0 : Number(s.blocks) * 512;
}
