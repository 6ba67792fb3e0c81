/** Writes the planned tree into an empty staging directory as an unprivileged user, for `mkfs.ext4 -d dir`. */
import { constants } from 'node:fs';
import { chmod, link, lstat, lutimes, mkdir, open, readdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { RootforgeError, asRootforgeError } from '../errors.js';
import { throwIfAborted } from './abort.js';
import { mapLimit } from '../batch/limit.js';
import type { RootfsPlan } from './flatten.js';
import { plannedFiles } from './planned-files.js';
import { writeAll } from '../fs/write-all.js';
import type { RootfsEntry, StagedInfo } from './types.js';

// O_NOFOLLOW|O_EXCL: a file is only ever created new, never opened through a symlink or over something present.
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Dirs keep u+rwx (mkfs walks them, cleanup empties them), files keep u+r (mkfs reads them) and lose setuid/setgid (no runner-owned setuid binary on the host). */
export function stagedMode(entry: RootfsEntry): number {
  if (entry.type === 'dir') return entry.mode | 0o700;
  if (entry.type === 'file') return (entry.mode & ~0o6000) | 0o400;
  return entry.mode;
}

/** Runs one filesystem step, naming the path when it fails. */
async function step<T>(path: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof RootforgeError) throw error;
    const e = asRootforgeError(error);
    throw new RootforgeError(e.code, `staging ${JSON.stringify(path)}: ${e.message}`, { cause: error });
  }
}

async function assertEmptyDir(dir: string): Promise<void> {
  const info = await step(dir, () => lstat(dir));
  if (!info.isDirectory()) throw new RootforgeError('ERR_INTERNAL', `staging directory ${dir} is not a directory`);
  const names = await step(dir, () => readdir(dir));
  if (names.length > 0) throw new RootforgeError('ERR_INTERNAL', `staging directory ${dir} is not empty`);
}

/** Streams one file's content from its layer entry into a new file. */
async function writeFile(path: string, content: AsyncIterable<Buffer>): Promise<void> {
  const handle = await step(path, () => open(path, CREATE_FLAGS, 0o600));
  try {
    for await (const chunk of content) await step(path, () => writeAll(handle, chunk));
  } finally {
    await handle.close();
  }
}

/** Materializes the plan into an existing empty stagingDir; devices and fifos go to `special`, modes that had to differ to `stagedModes`. */
export async function materializeTree(plan: RootfsPlan, stagingDir: string, opts: { signal?: AbortSignal } = {}): Promise<StagedInfo> {
  const { signal } = opts;
  await assertEmptyDir(stagingDir);
  const entries = plan.entries();
  const host = (entry: RootfsEntry): string => (entry.path === '' ? stagingDir : join(stagingDir, entry.path));
  const special: RootfsEntry[] = [];

  // Parent-first plan order, so each directory exists before anything goes in it.
  for (const entry of entries) {
    if (entry.type !== 'dir' || entry.path === '') continue;
    throwIfAborted(signal);
    await step(entry.path, () => mkdir(host(entry), 0o700));
  }
  const specialPaths = new Set<string>();
  for (const entry of entries) {
    if (entry.type === 'dir' || entry.type === 'file') continue;
    throwIfAborted(signal);
    if (entry.type !== 'symlink') {
      special.push(entry);
      specialPaths.add(entry.path);
    } else if (entry.hardlinkTo !== undefined) {
      await step(entry.path, () => link(join(stagingDir, entry.hardlinkTo!), host(entry)));
    } else {
      await step(entry.path, () => symlink(entry.linkTarget!, host(entry)));
    }
  }
  for await (const { planned, content } of plannedFiles(plan, signal)) {
    await writeFile(host(planned.file), content);
    for (const l of planned.links) await step(l.path, () => link(host(planned.file), host(l)));
  }

  // chmod and utimes never change a parent's mtime, so they run concurrently once every entry exists.
  const stagedModes = new Map<string, number>();
  const finishing = entries.filter((entry) => entry.hardlinkTo === undefined && !specialPaths.has(entry.path));
  await mapLimit(finishing, 32, async (entry) => {
    throwIfAborted(signal);
    const path = host(entry);
    if (entry.type !== 'symlink') {
      const mode = stagedMode(entry);
      if (mode !== entry.mode) stagedModes.set(entry.path, mode);
      await step(entry.path, () => chmod(path, mode));
    }
    await step(entry.path, () => lutimes(path, entry.mtime, entry.mtime));
  });
  return { stagedModes, special };
}
