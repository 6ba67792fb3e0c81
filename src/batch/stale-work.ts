import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isStaleTemp } from '../cache/stale.js';

/** Names rootforge gives its own work: staging dirs in the work dir, temp images and sidecars in the output dir. */
const OURS = [/^rootforge-\d+-[0-9a-f]{8}-/, /^\..+\.(?:ext4|json)\.\d+-[0-9a-f]{8}\.tmp$/];

/** Removes staging dirs, temp images and temp sidecars left by rootforge processes that died (never a live one's). */
export async function cleanStaleWork(dirs: readonly string[], now = Date.now()): Promise<string[]> {
  const removed: string[] = [];
  for (const dir of dirs) {
    const names = await readdir(dir).catch(() => [] as string[]);
    for (const name of names) {
      if (!OURS.some((re) => re.test(name))) continue;
      const path = join(dir, name);
      const info = await stat(path).catch(() => undefined);
      if (info && isStaleTemp(name, info.mtimeMs, now)) {
        await rm(path, { recursive: true, force: true });
        removed.push(path);
      }
    }
  }
  return removed;
}
