import { execa } from 'execa';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planBatch } from '../../src/batch/plan-batch.js';
import { parseShard } from '../../src/batch/shard.js';
import { warm } from '../../src/batch/warm.js';
import { buildLayer, pushImage, type BuiltLayer } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { e2fsckClean, readExt4Tree } from '../helpers/ext4-read.js';

import { CLI_MAIN as MAIN } from '../helpers/cli.js';
let reg: TestRegistry;
let dir: string;
let base: BuiltLayer;
let middle: BuiltLayer;
const good: string[] = [];
const bad: string[] = [];

function rootforge(args: string[]) {
  return execa('node', [MAIN, ...args], { reject: false, env: { NO_COLOR: '1' } });
}

beforeAll(async () => {
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'rootforge-batch-'));
  base = await buildLayer([
    { name: 'usr/lib/systemd/systemd', content: 'init', mode: 0o755 },
    ...Array.from({ length: 50 }, (_, i) => ({ name: `usr/share/base/f${i}`, content: Buffer.alloc(20_000, i) })),
  ]);
  middle = await buildLayer([{ name: 'opt/shared-tool', content: 'shared by half the images' }], { compression: 'zstd' });
  for (let i = 0; i < 6; i++) {
    const own = await buildLayer([{ name: `etc/app${i}.conf`, content: `app ${i}\n` }]);
    await pushImage(reg, `batch/app${i}`, 'v1', { layers: i % 2 ? [base, middle, own] : [base, own] });
    good.push(`${reg.host}/batch/app${i}:v1`);
  }
  const hostile = await buildLayer([{ name: 'x', type: 'symlink', linkname: '/etc' }, { name: 'x/passwd', content: 'owned' }]);
  await pushImage(reg, 'batch/hostile', 'v1', { layers: [base, hostile] });
  bad.push(`${reg.host}/batch/hostile:v1`, `${reg.host}/batch/missing:v1`);
});
afterAll(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('a batch of 8 images, 2 of them bad', () => {
  it('builds the good ones, fails the bad ones with codes, exits 1, and fetches each shared blob once', async () => {
    const batch = join(dir, 'batch.yaml');
    const [first, ...rest] = good;
    await writeFile(
      batch,
      [
        'defaults:',
        '  headroom: 10',
        'images:',
        `  - ref: ${first}`,
        '    name: first-app',
        '    inject: false',
        ...rest.map((ref) => `  - ${ref}`),
        ...bad.map((ref) => `  - ref: ${ref}\n    headroom: 5`),
      ].join('\n'),
    );
    const out = join(dir, 'out');
    const before = (await reg.settle()).length;
    const run = await rootforge(['build', '--file', batch, '--out', out, '--cache-dir', join(dir, 'cache'), '--json', '--jobs', '3', '--retries', '0']);
    expect(run.exitCode, run.stderr).toBe(1);
    const summary = JSON.parse(run.stdout) as { images: { ref: string; status: string; output?: string; error?: { code: string }; seconds?: Record<string, number> }[] };
    expect(summary.images.map((i) => i.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'failed', 'failed']);
    expect(summary.images[6]?.error?.code).toBe('ERR_UNSAFE_PATH');
    expect(summary.images[7]?.error?.code).toBe('ERR_MANIFEST_UNKNOWN');
    expect(summary.images[0]?.output).toBe(join(out, 'first-app.ext4'));
    expect(Object.keys(summary.images[1]?.seconds ?? {})).toEqual(expect.arrayContaining(['resolve', 'download', 'replay', 'mkfs', 'debugfs', 'write']));
    for (const image of summary.images.slice(0, 6)) {
      await e2fsckClean(image.output as string);
      const tree = await readExt4Tree(image.output as string);
      expect(tree.get('usr/share/base/f49')?.size).toBe(20_000);
    }
    expect((await readExt4Tree(join(out, 'first-app.ext4'))).has('usr/local/libexec/rootforge-first-boot')).toBe(false);
    expect((await readExt4Tree(join(out, 'app1-v1.ext4'))).has('usr/local/libexec/rootforge-first-boot')).toBe(true);

    const requests = (await reg.settle()).slice(before).filter((r) => r.method === 'GET' && r.status < 300);
    for (const blob of [base, middle]) {
      expect(requests.filter((r) => r.path.includes(`/blobs/${blob.digest}`)), blob.digest).toHaveLength(1);
    }
    // nothing but finished outputs in the output directory
    expect((await readdir(out)).filter((n) => n.startsWith('.'))).toEqual([]);

    const again = await rootforge(['build', '--file', batch, '--out', out, '--cache-dir', join(dir, 'cache'), '--json', '--retries', '0']);
    const rerun = JSON.parse(again.stdout) as { images: { status: string }[] };
    expect(rerun.images.map((i) => i.status)).toEqual(['skipped', 'skipped', 'skipped', 'skipped', 'skipped', 'skipped', 'failed', 'failed']);
    const blobGets = (await reg.settle()).filter((r) => r.method === 'GET' && r.path.includes('/blobs/') && r.status < 300);
    expect(blobGets.filter((r) => r.path.includes(base.digest))).toHaveLength(1);
  });

  it('reports every bad entry of a batch file at once and starts nothing', async () => {
    const batch = join(dir, 'broken.json');
    await writeFile(
      batch,
      JSON.stringify({
        defaults: { headroom: 10, colour: 'blue' },
        images: [{ ref: 'NOT a ref' }, { ref: good[0], name: 'same' }, { ref: good[1], name: 'same' }, { ref: good[2], sizee: '1G' }],
      }),
    );
    const out = join(dir, 'out-broken');
    const run = await rootforge(['build', '--file', batch, '--out', out, '--cache-dir', join(dir, 'cache')]);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toContain('unknown option "colour"');
    expect(run.stderr).toContain('unknown option "sizee"');
    expect(run.stderr).toContain('invalid image reference "NOT a ref"');
    expect(run.stderr).toContain('would both write same.ext4');
    await writeFile(join(dir, 'dupes.yaml'), `images:\n  - {ref: "NOT a ref"}\n  - {ref: ${good[0]}, name: same}\n  - {ref: ${good[1]}, name: same}\n`);
    const dupes = await rootforge(['build', '--file', join(dir, 'dupes.yaml'), '--out', out, '--cache-dir', join(dir, 'cache')]);
    expect(dupes.exitCode).toBe(2);
    expect(dupes.stderr).toContain('invalid');
    expect(dupes.stderr).toContain('would both write same.ext4');
    expect(await readdir(out).catch(() => [])).toEqual([]);
  });

  it('splits a batch into shards deterministically, each image in exactly one', async () => {
    const specs = [...good, ...good.map((r) => r.replace(':v1', ':v2'))].map((ref) => ({ ref }));
    const all = planBatch(specs).map((p) => p.name);
    const slices = [0, 1, 2].map((k) => planBatch(specs, { shard: parseShard(`${k}/3`) }).map((p) => p.name));
    expect(slices.flat().sort()).toEqual([...all].sort());
    expect(new Set(slices.flat()).size).toBe(all.length);
    expect(planBatch(specs, { shard: parseShard('1/3') }).map((p) => p.name)).toEqual(slices[1]);
    expect(() => parseShard('3/3')).toThrow(/K\/N/);

    const out = join(dir, 'out-shard');
    const run = await rootforge(['build', ...good, '--shard', '1/3', '--out', out, '--cache-dir', join(dir, 'cache'), '--json', '--no-inject']);
    expect(run.exitCode, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as { images: { ref: string }[] }).images.map((i) => i.ref)).toEqual([good[1], good[4]]);
  });

  it('pulls through a Distribution pull-through cache with --mirror, and falls back when the mirror is down', async () => {
    const mirror = await startRegistry({ proxyRemoteUrl: reg.url });
    try {
      const result = await warm({ refs: [good[0] as string], cacheDir: join(dir, 'cache-mirror'), mirrors: { [reg.host]: mirror.host } });
      expect(result.images[0]?.status).toBe('ok');
      const viaMirror = (await mirror.settle()).filter((r) => r.path.includes('/blobs/') && r.method === 'GET');
      expect(viaMirror.length).toBeGreaterThan(0);
    } finally {
      await mirror.stop();
    }
    const warnings: string[] = [];
    const fallback = await warm({
      refs: [good[1] as string],
      cacheDir: join(dir, 'cache-mirror-down'),
      mirrors: { [reg.host]: '127.0.0.1:9' },
      retries: 0,
      onEvent: (e) => e.type === 'warning' && warnings.push(e.message),
    });
    expect(fallback.images[0]?.status).toBe('ok');
    expect(warnings.join('\n')).toContain('mirror 127.0.0.1:9 failed');
  });
});
