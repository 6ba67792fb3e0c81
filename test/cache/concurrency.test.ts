/** Several rootforge processes warming and building overlapping images on one cache at once. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OciLayout } from '../../src/cache/layout.js';
import { verifyCache } from '../../src/cache/verify.js';
import { buildLayer, pushImage, type BuiltLayer } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { CLI_MAIN } from '../helpers/cli.js';
import { e2fsckClean } from '../helpers/ext4-read.js';

let reg: TestRegistry;
let proxy: FaultProxy;
let dir: string;
let shared: BuiltLayer;

beforeAll(async () => {
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'rootforge-concurrency-'));
  shared = await buildLayer([{ name: 'usr/share/blob.bin', content: randomBytes(2_000_000) }, { name: 'usr/lib/systemd/systemd', content: 'x', mode: 0o755 }]);
  for (const name of ['a', 'b', 'c']) {
    await pushImage(reg, `conc/${name}`, 'v1', { layers: [shared, await buildLayer([{ name: `etc/${name}`, content: name }])] });
  }
  // The shared blob's first answer is held back, so every process is sure to want it at the same time.
  proxy = await startFaultProxy(reg.url, (req) => (req.path.includes(`/blobs/${shared.digest}`) && req.attempt === 0 ? { kind: 'delay', ms: 1500 } : undefined));
});
afterAll(async () => {
  await proxy?.close();
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('processes sharing a cache', () => {
  it('all succeed, fetch each shared blob once, and leave only verified blobs', async () => {
    const cache = join(dir, 'cache');
    const ref = (name: string): string => `${proxy.host}/conc/${name}:v1`;
    const run = (args: string[]) => execa('node', [CLI_MAIN, ...args, '--cache-dir', cache, '--json'], { reject: false, env: { NO_COLOR: '1' } });
    const runs = await Promise.all([
      run(['warm', ref('a'), ref('b')]),
      run(['build', ref('a'), '--out', join(dir, 'out1')]),
      run(['build', ref('b'), ref('c'), '--out', join(dir, 'out2')]),
      run(['warm', ref('c')]),
    ]);
    for (const r of runs) expect(r.exitCode, r.stderr).toBe(0);

    const fetches = proxy.seen.filter((r) => r.method === 'GET' && r.path.includes(`/blobs/${shared.digest}`));
    expect(fetches, 'the shared blob crossed the wire once').toHaveLength(1);

    const layout = await OciLayout.open(cache);
    expect((await verifyCache(layout)).bad).toEqual([]);
    expect(await readdir(layout.tempDir), 'no temp files or locks left').toEqual([]);
    expect((await layout.readIndex()).manifests).toHaveLength(3);
    for (const image of [join(dir, 'out1', 'a-v1.ext4'), join(dir, 'out2', 'b-v1.ext4'), join(dir, 'out2', 'c-v1.ext4')]) {
      await e2fsckClean(image);
    }
  });
});
