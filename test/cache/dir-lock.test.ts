import { mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireDirLock } from '../../src/cache/dir-lock.js';
import { OciLayout } from '../../src/cache/layout.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootforge-lock-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A pid that surely belongs to no process: one that has just exited. */
async function deadPid(): Promise<number> {
  const child = await execa('sh', ['-c', 'echo $$']);
  return Number(child.stdout);
}

async function fakeLock(path: string, pid: number, ageMs = 0): Promise<void> {
  await mkdir(path);
  await writeFile(join(path, 'owner'), `${pid}\n`);
  const when = new Date(Date.now() - ageMs);
  await utimes(path, when, when);
}

describe('acquireDirLock', () => {
  it('lets one holder in at a time', async () => {
    const path = join(dir, 'mutex.lock');
    const order: string[] = [];
    const hold = async (name: string): Promise<void> => {
      const release = await acquireDirLock(path, { pollMs: 10 });
      order.push(`${name} in`);
      await new Promise((r) => setTimeout(r, 50));
      order.push(`${name} out`);
      await release();
    };
    await Promise.all([hold('a'), hold('b'), hold('c')]);
    for (let i = 0; i < order.length; i += 2) expect(order[i + 1]).toBe(order[i]?.replace(' in', ' out'));
    expect(await readdir(dir)).not.toContain('mutex.lock');
  });

  it('takes a lock over at once when its holder is dead', async () => {
    const path = join(dir, 'dead.lock');
    await fakeLock(path, await deadPid());
    const started = performance.now();
    const release = await acquireDirLock(path, { staleMs: 60_000 });
    expect(performance.now() - started, "not the 60 s stale wait").toBeLessThan(5000);
    await release();
  });

  it('waits for a live holder, and takes the lock over only once it went stale', async () => {
    const path = join(dir, 'live.lock');
    await fakeLock(path, process.ppid);
    const waiting = acquireDirLock(path, { pollMs: 10, signal: AbortSignal.timeout(300) });
    await expect(waiting).rejects.toMatchObject({ name: expect.stringMatching(/Abort|Timeout/) });
    await rm(path, { recursive: true });
    await fakeLock(path, process.ppid, 5_000);
    const release = await acquireDirLock(path, { staleMs: 2_000 });
    await release();
  });

  it('cache clean-up removes a lock left by a dead process, never a live one', async () => {
    const layout = await OciLayout.open(join(dir, 'cache'));
    await fakeLock(join(layout.tempDir, 'a'.repeat(64) + '.lock'), await deadPid());
    await fakeLock(join(layout.tempDir, 'b'.repeat(64) + '.lock'), process.ppid);
    await layout.cleanStaleTemps();
    expect(await readdir(layout.tempDir)).toEqual(['b'.repeat(64) + '.lock']);
  });
});
