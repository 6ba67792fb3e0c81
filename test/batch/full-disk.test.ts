/**
 * A full disk: the cache, the output or the work dir on a small tmpfs. Each run gets a clear ERR_NO_SPACE,
 * removes its temp files, and leaves the cache valid. The tmpfs is mounted in a user+mount namespace
 * (`unshare -rm`), so this runs unprivileged too.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLayer, pushImage } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { CLI_MAIN } from '../helpers/cli.js';

let reg: TestRegistry;
let dir: string;
let ref: string;

beforeAll(async () => {
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'rootforge-full-'));
  // 6 MB that does not compress: 12 MB in the cache with its uncompressed tar, and a 6+ MB image.
  const layer = await buildLayer([{ name: 'usr/lib/systemd/systemd', content: 'x', mode: 0o755 }, { name: 'opt/blob.bin', content: randomBytes(6_000_000) }]);
  await pushImage(reg, 'full/img', 'v1', { layers: [layer] });
  ref = `${reg.host}/full/img:v1`;
});
afterAll(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

interface Outcome {
  run: { exitCode: number; images: Array<{ status: string; error?: { code: string; message: string } }> };
  verify: { bad: unknown[] } | undefined;
  leftovers: Record<string, string[]>;
}

/**
 * Runs `rootforge ARGS` with `small` mounted as a tmpfs of `sizeMb`, then, in the same namespace (the tmpfs
 * dies with it), verifies the cache and lists what is left in each directory.
 */
async function runOnSmallDisk(small: string, sizeMb: number, args: string[], dirs: Record<string, string>, cache: string): Promise<Outcome> {
  const report = await mkdtemp(join(dir, 'report-'));
  const listings = Object.entries(dirs).map(([name, path]) => `ls -A '${path}' > '${report}/${name}.ls' 2>/dev/null || true`);
  const script = [
    'set -u',
    `mount -t tmpfs -o size=${sizeMb}m tmpfs '${small}'`,
    `node '${CLI_MAIN}' ${args.map((a) => `'${a}'`).join(' ')} --json > '${report}/run.json'; echo $? > '${report}/exit'`,
    `node '${CLI_MAIN}' cache verify --cache-dir '${cache}' --json > '${report}/verify.json' || true`,
    ...listings,
  ].join('\n');
  const shell = await execa('unshare', ['-rm', 'sh', '-c', script], { reject: false });
  expect(shell.exitCode, shell.stderr).toBe(0);
  const read = (name: string): Promise<string> => readFile(join(report, name), 'utf8');
  const leftovers: Record<string, string[]> = {};
  for (const name of Object.keys(dirs)) leftovers[name] = (await read(`${name}.ls`).catch(() => '')).split('\n').filter(Boolean);
  return {
    run: { exitCode: Number((await read('exit')).trim()), images: (JSON.parse(await read('run.json')) as Outcome['run']).images },
    verify: await read('verify.json').then((t) => JSON.parse(t) as { bad: unknown[] }, () => undefined),
    leftovers,
  };
}

function expectNoSpace(outcome: Outcome): void {
  expect(outcome.run.exitCode).toBe(1);
  expect(outcome.run.images[0]?.status).toBe('failed');
  expect(outcome.run.images[0]?.error?.code).toBe('ERR_NO_SPACE');
  expect(outcome.run.images[0]?.error?.message).toContain('full/img:v1');
}

describe('a full disk', () => {
  it('as the cache: ERR_NO_SPACE, no temp files, the cache still verifies', async () => {
    const cache = join(dir, 'cache-small');
    await mkdir(cache);
    const outcome = await runOnSmallDisk(cache, 8, ['warm', ref, '--cache-dir', cache, '--retries', '0'], { temp: join(cache, '.rootforge-tmp') }, cache);
    expectNoSpace(outcome);
    expect(outcome.verify?.bad).toEqual([]);
    expect(outcome.leftovers.temp).toEqual([]);
  });

  it('as the output dir: ERR_NO_SPACE, no temp image, nothing under the final name', async () => {
    const out = join(dir, 'out-small');
    const cache = join(dir, 'cache-ok');
    const work = join(dir, 'work-ok');
    await mkdir(out);
    const outcome = await runOnSmallDisk(out, 4, ['build', ref, '--cache-dir', cache, '--out', out, '--work-dir', work, '--retries', '0'], { out, work }, cache);
    expectNoSpace(outcome);
    expect(outcome.verify?.bad).toEqual([]);
    expect(outcome.leftovers.out).toEqual([]);
    expect(outcome.leftovers.work).toEqual([]);
  });

  it('as the work dir on the dir path: ERR_NO_SPACE, staging removed', async () => {
    const work = join(dir, 'work-small');
    const out = join(dir, 'out-ok');
    const cache = join(dir, 'cache-ok2');
    await mkdir(work);
    const outcome = await runOnSmallDisk(work, 4, ['build', ref, '--cache-dir', cache, '--out', out, '--work-dir', work, '--populate', 'dir', '--retries', '0'], { out, work }, cache);
    expectNoSpace(outcome);
    expect(outcome.verify?.bad).toEqual([]);
    expect(outcome.leftovers.work).toEqual([]);
    expect(outcome.leftovers.out).toEqual([]);
  });
});
