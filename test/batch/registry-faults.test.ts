/**
 * Registry faults end to end: `warm` through a fault-injecting proxy in front of the real registry.
 * A run either succeeds with every blob verified, or fails that image with a coded error in bounded time.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { warm } from '../../src/batch/warm.js';
import { OciLayout } from '../../src/cache/layout.js';
import { verifyCache } from '../../src/cache/verify.js';
import { buildLayer, pushImage, type BuiltLayer, type PushedImage } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { startFaultProxy, type Fault, type FaultProxy, type ProxiedRequest } from '../helpers/fault-proxy.js';
import { CLI_MAIN } from '../helpers/cli.js';

let reg: TestRegistry;
let proxy: FaultProxy;
let dir: string;
let layer: BuiltLayer;
let image: PushedImage;
let good: PushedImage;
/** The fault for the current test, if any; the proxy asks it for every request. */
let rule: (req: ProxiedRequest) => Fault | undefined = () => undefined;

const FAST_RETRIES = { registry: { retryBaseMs: 20, retryMaxMs: 200, maxRetryAfterMs: 2000 } };

beforeAll(async () => {
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'rootforge-faults-'));
  // Incompressible, so "halfway through the blob" is halfway through the bytes on the wire.
  layer = await buildLayer([{ name: 'data/random.bin', content: randomBytes(400_000) }]);
  image = await pushImage(reg, 'faults/img', 'v1', { layers: [layer] });
  good = await pushImage(reg, 'faults/good', 'v1', { layers: [await buildLayer([{ name: 'ok', content: 'fine' }])] });
  proxy = await startFaultProxy(reg.url, (req) => rule(req));
});
afterAll(async () => {
  await proxy?.close();
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

const isLayerBlob = (req: ProxiedRequest): boolean => req.method === 'GET' && req.path.includes(`/blobs/${layer.digest}`);
const isManifest = (req: ProxiedRequest): boolean => req.method === 'GET' && req.path.includes('/faults/img/manifests/');
const ref = (): string => `${proxy.host}/faults/img:v1`;
const goodRef = (): string => `${proxy.host}/faults/good:v1`;

/** Warms the faulty image and a good one into a fresh cache; checks the cache is valid whatever happened. */
async function warmBoth(opts: { retries?: number; timeoutMs?: number } = {}): Promise<{ status: string; code?: string; seconds: number; cacheDir: string }> {
  const cacheDir = await mkdtemp(join(dir, 'cache-'));
  const started = performance.now();
  const result = await warm({ refs: [ref(), goodRef()], cacheDir, retries: opts.retries ?? 3, timeoutMs: opts.timeoutMs ?? 2000, ...FAST_RETRIES });
  const seconds = (performance.now() - started) / 1000;
  expect(result.images[1]?.status, 'the other image is unaffected').toBe('ok');
  const layout = await OciLayout.open(cacheDir);
  expect((await verifyCache(layout)).bad, 'only verified blobs in the cache').toEqual([]);
  expect(await readdir(layout.tempDir), 'no temp files left').toEqual([]);
  const first = result.images[0];
  if (first?.status === 'ok') {
    expect(await layout.hasBlob(layer.digest)).toBe(true);
    expect(await layout.hasBlob(layer.diffId)).toBe(true);
  } else {
    expect(await layout.hasBlob(layer.digest), 'a failed blob never gets its final name').toBe(false);
    expect(first?.error?.message).toContain('faults/img:v1');
  }
  return { status: first?.status ?? 'missing', ...(first?.error ? { code: first.error.code } : {}), seconds, cacheDir };
}

describe('transient faults are survived, and every blob is verified', () => {
  const transient: Array<[string, (req: ProxiedRequest) => Fault | undefined]> = [
    ['a connection reset halfway through the blob', (r) => (isLayerBlob(r) && r.attempt === 0 ? { kind: 'reset', afterBytes: layer.size / 2 } : undefined)],
    ['a reset on every response, each after some progress', (r) => (isLayerBlob(r) && r.attempt < 4 ? { kind: 'reset', afterBytes: 60_000 } : undefined)],
    ['a reset, then a Range request answered with the whole blob', (r) => (isLayerBlob(r) ? (r.attempt === 0 ? { kind: 'reset', afterBytes: layer.size / 2 } : r.attempt === 1 ? { kind: 'ignoreRange' } : undefined) : undefined)],
    ['500 on the blob', (r) => (isLayerBlob(r) && r.attempt === 0 ? { kind: 'status', status: 500 } : undefined)],
    ['502 on the manifest', (r) => (isManifest(r) && r.attempt === 0 ? { kind: 'status', status: 502 } : undefined)],
    ['503 twice on the blob', (r) => (isLayerBlob(r) && r.attempt < 2 ? { kind: 'status', status: 503 } : undefined)],
    ['429 with Retry-After', (r) => (isLayerBlob(r) && r.attempt === 0 ? { kind: 'status', status: 429, headers: { 'retry-after': '1' } } : undefined)],
    ['a body shorter than its Content-Length', (r) => (isLayerBlob(r) && r.attempt === 0 ? { kind: 'body', body: (b) => b.subarray(0, 1000), keepLength: true } : undefined)],
    ['a body longer than its Content-Length', (r) => (isLayerBlob(r) && r.attempt === 0 ? { kind: 'body', body: (b) => Buffer.concat([b, randomBytes(5000)]), keepLength: true } : undefined)],
    ['a stall that never finishes, once', (r) => (isLayerBlob(r) && r.attempt === 0 ? { kind: 'stall', afterBytes: 1000 } : undefined)],
  ];
  for (const [name, fault] of transient) {
    it(name, async () => {
      rule = fault;
      const outcome = await warmBoth({ timeoutMs: 1500 });
      expect(outcome, JSON.stringify(outcome)).toMatchObject({ status: 'ok' });
      expect(outcome.seconds).toBeLessThan(20);
    });
  }
});

describe('persistent faults fail that image with a coded error, after bounded retries and time', () => {
  const persistent: Array<[string, (req: ProxiedRequest) => Fault | undefined, string]> = [
    ['503 forever', (r) => (isLayerBlob(r) ? { kind: 'status', status: 503 } : undefined), 'ERR_REGISTRY'],
    ['429 forever', (r) => (isLayerBlob(r) ? { kind: 'status', status: 429, headers: { 'retry-after': '1' } } : undefined), 'ERR_TOO_MANY_REQUESTS'],
    ['a reset before any byte, forever', (r) => (isLayerBlob(r) ? { kind: 'reset', afterBytes: 0 } : undefined), 'ERR_NETWORK'],
    ['a stall forever', (r) => (isLayerBlob(r) ? { kind: 'stall', afterBytes: 1000 } : undefined), 'ERR_TIMEOUT'],
    ['a redirect loop', (r) => (isLayerBlob(r) ? { kind: 'redirect', location: `${proxy.url}${r.path}` } : undefined), 'ERR_REDIRECT_LOOP'],
    ['a body always short', (r) => (isLayerBlob(r) ? { kind: 'body', body: (b) => b.subarray(0, 1000), keepLength: true } : undefined), 'ERR_'],
  ];
  for (const [name, fault, code] of persistent) {
    it(name, async () => {
      rule = fault;
      const outcome = await warmBoth({ retries: 2, timeoutMs: 1000 });
      expect(outcome.status).toBe('failed');
      expect(outcome.code).toMatch(new RegExp(`^${code}`));
      // Bounded: three attempts of at most a 1 s timeout each, plus capped backoff and Retry-After.
      expect(outcome.seconds).toBeLessThan(15);
    });
  }

  it('through the CLI: --retries and --timeout bound a stall, and the JSON names the code', async () => {
    rule = (r) => (isLayerBlob(r) ? { kind: 'stall', afterBytes: 1000 } : undefined);
    const cacheDir = await mkdtemp(join(dir, 'cli-'));
    const started = performance.now();
    const run = await execa('node', [CLI_MAIN, 'warm', ref(), goodRef(), '--cache-dir', cacheDir, '--retries', '1', '--timeout', '1', '--json'], { reject: false, timeout: 60_000 });
    const seconds = (performance.now() - started) / 1000;
    expect(run.exitCode).toBe(1);
    const doc = JSON.parse(run.stdout) as { images: Array<{ status: string; error?: { code: string } }> };
    expect(doc.images.map((i) => i.status)).toEqual(['failed', 'ok']);
    expect(doc.images[0]?.error?.code).toBe('ERR_TIMEOUT');
    // Two attempts of one second, backoff of at most a few seconds: nowhere near a hang.
    expect(seconds).toBeLessThan(20);
    expect((await verifyCache(await OciLayout.open(cacheDir))).bad).toEqual([]);
  });
});
