import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { RootforgeError } from '../errors.js';
import { processAlive } from './stale.js';

export interface DirLockOptions {
  /** A lock whose holder stopped refreshing it this long ago is taken over (the holder refreshes every third of it). */
  staleMs?: number;
  pollMs?: number;
  signal?: AbortSignal;
}

export type ReleaseLock = () => Promise<void>;

const OWNER_FILE = 'owner';
const DEFAULT_STALE_MS = 10_000;

/**
 * A cross-process lock: a directory made with mkdir (atomic everywhere, NFS included) holding its owner's pid.
 * Waits while a live process holds it; takes it over at once from a dead one (kill -9), or when it went stale.
 */
export async function acquireDirLock(path: string, opts: DirLockOptions = {}): Promise<ReleaseLock> {
  const staleMs = opts.staleMs ?? DEFAULT_STALE_MS;
  for (;;) {
    opts.signal?.throwIfAborted();
    try {
      await mkdir(path);
      return await holdLock(path, staleMs);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new RootforgeError('ERR_CACHE', `cannot take the lock ${path}: ${(error as Error).message}`, { cause: error });
      }
    }
    if (await removeIfAbandoned(path, staleMs)) continue;
    await sleep(opts.pollMs ?? 100, undefined, opts.signal ? { signal: opts.signal } : {});
  }
}

async function holdLock(path: string, staleMs: number): Promise<ReleaseLock> {
  await writeFile(join(path, OWNER_FILE), `${process.pid}\n`);
  const refresh = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, Math.max(50, Math.floor(staleMs / 3)));
  refresh.unref();
  return async () => {
    clearInterval(refresh);
    await rm(path, { recursive: true, force: true });
  };
}

async function isAbandoned(path: string, staleMs: number): Promise<boolean> {
  const owner = Number.parseInt(await readFile(join(path, OWNER_FILE), 'utf8').catch(() => ''), 10);
  if (owner > 0 && owner !== process.pid && !processAlive(owner)) return true;
  const info = await stat(path).catch(() => undefined);
  return info !== undefined && Date.now() - info.mtimeMs > staleMs;
}

/** Removes a lock its holder left behind; renamed aside first, so of several waiters only one removes it. */
export async function removeIfAbandoned(path: string, staleMs = DEFAULT_STALE_MS): Promise<boolean> {
  if (!(await isAbandoned(path, staleMs))) return false;
  const aside = `${path}.${process.pid}-${randomBytes(6).toString('hex')}.stale`;
  try {
    await rename(path, aside);
  } catch {
    return true; // another waiter got there first
  }
  await rm(aside, { recursive: true, force: true });
  return true;
}
