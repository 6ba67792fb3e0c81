// Builds benchmark inputs from files already on this machine, so benchmarks need no network.
import { createReadStream, createWriteStream } from 'node:fs';
import { access, constants, lstat, readdir, readlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack } from 'tar-stream';
import { mergedTarStream } from '../src/layer/merged-tar.js';
import { planRootfs, type RootfsPlan } from '../src/layer/plan.js';

export interface CorpusLimits {
  maxBytes: number;
  maxEntries: number;
}

export interface CorpusOptions {
  /** Keep the host's uid/gid instead of making everything root-owned (shadow, mail, … give real non-root owners). */
  keepOwners?: boolean;
}

/** Walks `roots` in sorted order, collecting regular files, dirs and symlinks up to the limits. */
async function collect(roots: string[], limits: CorpusLimits): Promise<string[]> {
  const picked: string[] = [];
  let bytes = 0;
  // A root and its parents are directory entries too: mkfs.ext4 -d - does not create implicit directories.
  const ancestors = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(dir)).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (picked.length >= limits.maxEntries || bytes >= limits.maxBytes) return;
      const path = join(dir, name);
      const s = await lstat(path).catch(() => undefined);
      if (!s) continue;
      if (s.isDirectory()) {
        picked.push(path);
        await walk(path);
      } else if (s.isSymbolicLink() || (s.isFile() && (await access(path, constants.R_OK).then(() => true, () => false)))) {
        if (bytes + s.size > limits.maxBytes) continue;
        picked.push(path);
        bytes += s.size;
      }
    }
  };
  for (const root of roots) {
    if (!(await lstat(root).catch(() => undefined))?.isDirectory()) continue;
    for (let dir = root; dir !== '/' && !ancestors.has(dir); dir = dirname(dir)) ancestors.add(dir);
    await walk(root);
  }
  return [...[...ancestors].sort().filter((dir) => !picked.includes(dir)), ...picked];
}

/** Writes an uncompressed layer tar of host files (paths made relative to /). */
export async function writeCorpusTar(out: string, roots: string[], limits: CorpusLimits, options: CorpusOptions = {}): Promise<{ entries: number; paths: string[] }> {
  const paths = await collect(roots, limits);
  const pack = tarPack();
  const done = pipeline(pack, createWriteStream(out));
  for (const path of paths) {
    const s = await lstat(path);
    const name = path.replace(/^\/+/, '');
    const owner = options.keepOwners ? { uid: s.uid, gid: s.gid } : { uid: 0, gid: 0 };
    const common = { name, mode: s.mode & 0o7777, ...owner, mtime: new Date(Math.floor(s.mtimeMs / 1000) * 1000) };
    if (s.isDirectory()) pack.entry({ ...common, type: 'directory' });
    else if (s.isSymbolicLink()) pack.entry({ ...common, type: 'symlink', linkname: await readlink(path) });
    else {
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry({ ...common, type: 'file', size: s.size }, (error) => (error ? reject(error) : resolve()));
        createReadStream(path).on('error', reject).pipe(entry);
      });
    }
  }
  pack.finalize();
  await done;
  return { entries: paths.length, paths };
}

export const DEBIAN_SIZED: CorpusLimits = { maxBytes: 120 * 1024 * 1024, maxEntries: 7000 };
export const DEBIAN_ROOTS = ['/etc', '/usr/share/perl', '/usr/share/zoneinfo', '/usr/lib/python3', '/usr/share/locale', '/usr/share/i18n', '/usr/bin', '/usr/lib/x86_64-linux-gnu', '/usr/share'];

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** The parent-first tar rootforge pipes into mkfs, written to `out` from layer tars (oldest first). */
export async function writeMergedTar(layers: Array<{ path: string; diffId: string }>, out: string): Promise<RootfsPlan> {
  const plan = await planRootfs(layers);
  await pipeline(mergedTarStream(plan), createWriteStream(out));
  return plan;
}
