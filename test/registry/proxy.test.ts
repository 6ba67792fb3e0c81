import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { warm } from '../../src/batch/warm.js';
import { toErrorInfo } from '../../src/errors.js';
import { RegistryClient } from '../../src/registry/client.js';
import { proxySettings } from '../../src/registry/proxy.js';
import { parseReference } from '../../src/registry/reference.js';
import { startForwardProxy, type ForwardProxy } from '../helpers/forward-proxy.js';
import { buildLayer, pushImage, type PushedImage } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { expectedDigests, pullDigests } from './support.js';

const fast = { retries: 1, retryBaseMs: 10, timeoutMs: 5000 };

describe('proxy settings from the environment', () => {
  it('reads lowercase names before uppercase ones, and nothing else', () => {
    expect(proxySettings({ HTTP_PROXY: 'http://u:1', http_proxy: 'http://l:1', HTTPS_PROXY: 'http://u:2', NO_PROXY: 'a,b' })).toEqual({
      httpProxy: 'http://l:1',
      httpsProxy: 'http://u:2',
      noProxy: 'a,b',
    });
    expect(proxySettings({})).toEqual({ httpProxy: '', httpsProxy: '', noProxy: '' });
  });
});

describe('registry traffic through an HTTP forward proxy', () => {
  let reg: TestRegistry;
  let tokenReg: TestRegistry;
  let proxy: ForwardProxy;
  let image: PushedImage;
  let dir: string;

  beforeAll(async () => {
    [reg, tokenReg, proxy] = await Promise.all([startRegistry(), startRegistry({ auth: 'token', username: 'bob', password: 'pw' }), startForwardProxy()]);
    const layers = [await buildLayer([{ name: 'a', content: 'proxied' }]), await buildLayer([{ name: 'b', content: 'also proxied' }])];
    image = await pushImage(reg, 'px/app', 'v1', { layers });
    await pushImage(tokenReg, 'px/app', 'v1', { layers });
    dir = await mkdtemp(join(tmpdir(), 'rootforge-proxy-'));
  });
  afterAll(async () => {
    await Promise.all([reg?.stop(), tokenReg?.stop(), proxy?.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  const proxied = (from: number): string[] => proxy.seen.slice(from).map((c) => `${c.method} ${c.target.replace(/sha256:[a-f0-9]{64}/, 'DIGEST')}`);

  it('sends manifests and blobs through HTTP_PROXY, plain HTTP in absolute form, and the pull verifies', async () => {
    const before = proxy.seen.length;
    const client = new RegistryClient({ ...fast, env: { HTTP_PROXY: proxy.url } });
    expect(await pullDigests(client, parseReference(`${reg.host}/px/app:v1`), image)).toEqual(expectedDigests(image));
    // HTTPS first (a tunnel the plain registry answers in clear text), then plain HTTP in absolute form.
    const blobs = image.layers.map(() => `GET ${reg.url}/v2/px/app/blobs/DIGEST`);
    expect(proxied(before)).toEqual([`CONNECT ${reg.host}`, `GET ${reg.url}/v2/px/app/manifests/v1`, ...blobs]);
  });

  it('sends the token endpoint through the proxy too', async () => {
    const before = proxy.seen.length;
    await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [tokenReg.host]: { username: 'bob', password: 'pw' } } }));
    const client = new RegistryClient({ ...fast, env: { http_proxy: proxy.url, DOCKER_CONFIG: dir } });
    expect((await client.getManifest(parseReference(`${tokenReg.host}/px/app:v1`))).digest).toBe(image.manifestDigest);
    const targets = proxied(before);
    expect(targets).toContainEqual(expect.stringMatching(/^GET http:\/\/127\.0\.0\.1:\d+\/token\?.*account=bob/));
    expect(targets.filter((t) => t.startsWith(`GET ${tokenReg.url}/v2/px/app/manifests/v1`))).toHaveLength(2);
  });

  it('warms through the proxy from the worker threads as well', async () => {
    const before = proxy.seen.length;
    const result = await warm({ refs: [`${reg.host}/px/app:v1`], cacheDir: join(dir, 'cache'), env: { HTTP_PROXY: proxy.url }, workers: 1, retries: 1 });
    expect(result.images[0]).toMatchObject({ status: 'ok', manifestDigest: image.manifestDigest });
    const blobs = proxied(before).filter((t) => t.includes('/blobs/'));
    // The config, then each layer from a pool thread.
    expect(blobs).toHaveLength(1 + image.layers.length);
  });

  it('bypasses the proxy for hosts in NO_PROXY (host, host:port, lowercase)', async () => {
    const port = reg.host.split(':')[1];
    for (const env of [{ HTTP_PROXY: proxy.url, NO_PROXY: 'example.com,127.0.0.1' }, { http_proxy: proxy.url, no_proxy: `127.0.0.1:${port}` }]) {
      const before = proxy.seen.length;
      expect((await new RegistryClient({ ...fast, env }).getManifest(parseReference(`${reg.host}/px/app:v1`))).digest).toBe(image.manifestDigest);
      expect(proxy.seen.length).toBe(before);
    }
    // Another port of the same host is still proxied.
    const before = proxy.seen.length;
    await new RegistryClient({ ...fast, env: { HTTP_PROXY: proxy.url, NO_PROXY: '127.0.0.1:1' } }).getManifest(parseReference(`${reg.host}/px/app:v1`));
    expect(proxied(before)).toEqual([`CONNECT ${reg.host}`, `GET ${reg.url}/v2/px/app/manifests/v1`]);
  });

  it('reports a proxy that is down as ERR_PROXY naming it, without its password', async () => {
    const down = await startForwardProxy();
    await down.close();
    const env = { HTTP_PROXY: `http://user:proxy-pass-123@${down.host}` };
    const error = await new RegistryClient({ ...fast, env }).getManifest(parseReference(`${reg.host}/px/app:v1`)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_PROXY', message: `cannot reach the proxy ${down.host}: ECONNREFUSED` });
    expect(JSON.stringify(toErrorInfo(error))).not.toContain('proxy-pass-123');
  });

  it('sends the login in the proxy URL, and reports a proxy asking for one as ERR_PROXY', async () => {
    const expected = `Basic ${Buffer.from('user:proxy-pass-123').toString('base64')}`;
    // Tunnels are let through, so the absolute-form request to the plain registry is the one that needs the login.
    const guarded = await startForwardProxy({ refuse: (call) => (call.method === 'CONNECT' || call.proxyAuthorization === expected ? undefined : 407) });
    try {
      const ref = parseReference(`${reg.host}/px/app:v1`);
      const withLogin = new RegistryClient({ ...fast, env: { HTTP_PROXY: `http://user:proxy-pass-123@${guarded.host}` } });
      expect((await withLogin.getManifest(ref)).digest).toBe(image.manifestDigest);
      const error = await new RegistryClient({ ...fast, env: { HTTP_PROXY: guarded.url } }).getManifest(ref).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'ERR_PROXY', message: expect.stringContaining('the proxy asks for a login (HTTP 407)') });
      expect(guarded.seen.map((c) => `${c.method} ${c.status} ${c.proxyAuthorization === expected}`)).toEqual(['CONNECT 200 true', 'GET undefined true', 'CONNECT 200 false', 'GET 407 false']);
    } finally {
      await guarded.close();
    }
  });
});
