const STALE_AFTER_MS = 24 * 60 * 60 * 1000;

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** rootforge temp names embed `<pid>-<random hex>`; returns that pid. */
export function tempOwnerPid(name: string): number | undefined {
  const match = /(?:^|[.-])(\d+)-[0-9a-f]{8,}/.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** A temp is stale when its owner process is gone, or it sat untouched for a day. */
export function isStaleTemp(name: string, mtimeMs: number, now: number): boolean {
  if (now - mtimeMs > STALE_AFTER_MS) return true;
  const pid = tempOwnerPid(name);
  if (pid === undefined || pid <= 0) return false;
  return pid !== process.pid && !processAlive(pid);
}
