/**
 * Crash safety: `kill -9` a warm or a build at random moments, many times over. After each kill the cache
 * holds only verified blobs and no half-written output has a final name; re-running completes and cleans up.
 * ROOTFORGE_SOAK=1 runs many more rounds.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '../../src/cache/layout.js';
import { verifyCache } from '../../src/cache/verify.js';
import { buildLayer, pushImage, type TarEntrySpec } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { CLI_MAIN } from '../helpers/cli.js';
import { e2fsckClean } from '../helpers/ext4-read.js';

const ROUNDS = process.env.ROOTFORGE_SOAK ? 40 : 4;

let reg: TestRegistry;
let dir: string;
let refs: string[];

beforeAll(async () => {
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'rootforge-crash-'));
  // Enough work in every stage (download, unpack, replay, mkfs, debugfs) for a kill to land in any of them.
  const many: TarEntrySpec[] = [];
  for (let i = 0; i < 1500; i++) many.push({ name: `usr/share/doc/pkg${i % 40}/file${i}`, content: `content ${i}\n`.repeat(20) });
  const base = await buildLayer([{ name: 'usr/lib/systemd/systemd', content: 'x', mode: 0o755 }, ...many]);
  const big = await buildLayer([{ name: 'opt/big.bin', content: randomBytes(6_000_000) }], { compression: 'zstd' });
  await pushImage(reg, 'crash/one', 'v1', { layers: [base, big] });
  await pushImage(reg, 'crash/two', 'v1', { layers: [base, await buildLayer([{ name: 'etc/two', content: '2' }])] });
  refs = [`${reg.host}/crash/one:v1`, `${reg.host}/crash/two:v1`];
}, 120_000);
afterAll(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

interface Paths {
  cache: string;
  out: string;
  work: string;
}

function command(kind: 'warm' | 'build', paths: Paths): string[] {
  const args = [CLI_MAIN, kind, ...refs, '--cache-dir', paths.cache, '-q', '--retries', '0'];
  return kind === 'build' ? [...args, '--out', paths.out, '--work-dir', paths.work] : args;
}

async function timeOne(kind: 'warm' | 'build'): Promise<number> {
  const paths = await freshPaths();
  const started = performance.now();
  const run = await execa('node', command(kind, paths), { reject: false });
  expect(run.exitCode, run.stderr).toBe(0);
  return performance.now() - started;
}

async function freshPaths(): Promise<Paths> {
  const root = await mkdtemp(join(dir, 'round-'));
  return { cache: join(root, 'cache'), out: join(root, 'out'), work: join(root, 'work') };
}

const sha256 = async (path: string): Promise<string> => `sha256:${createHash('sha256').update(await readFile(path)).digest('hex')}`;

/** What may sit in the output dir: complete images (e2fsck-clean, matching their sidecar) and rootforge temp names. */
async function checkOutputs(out: string, context: string): Promise<void> {
  const names = await readdir(out).catch(() => [] as string[]);
  for (const name of names) {
    if (!/^(one|two)-v1\.(ext4|json)$/.test(name)) {
      expect(name, `${context}: only temp names besides final outputs`).toMatch(/^\..+\.\d+-[0-9a-f]{8}\.tmp$/);
      continue;
    }
    if (name.endsWith('.ext4')) {
      await e2fsckClean(join(out, name));
      const sidecar = join(out, name.replace(/\.ext4$/, '.json'));
      const recorded = await readFile(sidecar, 'utf8').then((t) => (JSON.parse(t) as { sha256: string }).sha256).catch(() => undefined);
      if (recorded) expect(await sha256(join(out, name)), `${context}: sidecar matches its image`).toBe(recorded);
    } else {
      expect(names, `${context}: a sidecar is written only after its image`).toContain(name.replace(/\.json$/, '.ext4'));
    }
  }
}

async function checkCache(cache: string, context: string): Promise<OciLayout | undefined> {
  const exists = await readdir(cache).then(() => true, () => false);
  if (!exists) return undefined;
  const layout = await OciLayout.open(cache);
  expect((await verifyCache(layout)).bad, `${context}: only verified blobs`).toEqual([]);
  return layout;
}

describe('kill -9 at random moments', () => {
  for (const kind of ['warm', 'build'] as const) {
    it(`${kind}: ${ROUNDS} rounds of kill, check, re-run`, async () => {
      const full = await timeOne(kind);
      for (let round = 0; round < ROUNDS; round++) {
        const paths = await freshPaths();
        const delay = Math.round(full * (0.05 + 0.95 * Math.random()));
        const context = `${kind} round ${round}, killed after ${delay} ms of ~${Math.round(full)}`;
        const child = execa('node', command(kind, paths), { reject: false });
        await new Promise((resolve) => setTimeout(resolve, delay));
        child.kill('SIGKILL');
        await child;

        await checkCache(paths.cache, context);
        await checkOutputs(paths.out, context);

        const rerun = await execa('node', command(kind, paths), { reject: false });
        expect(rerun.exitCode, `${context}: re-run: ${rerun.stderr}`).toBe(0);
        const layout = await checkCache(paths.cache, `${context}, re-run`);
        expect(await readdir(layout?.tempDir ?? ''), `${context}: the dead run's temp files are gone`).toEqual([]);
        if (kind === 'build') {
          expect((await readdir(paths.out)).sort(), context).toEqual(['one-v1.ext4', 'one-v1.json', 'two-v1.ext4', 'two-v1.json']);
          await checkOutputs(paths.out, `${context}, re-run`);
          expect(await readdir(paths.work), `${context}: the dead run's staging is gone`).toEqual([]);
        }
        await rm(join(paths.cache, '..'), { recursive: true, force: true });
      }
    }, ROUNDS * 60_000);
  }
});
