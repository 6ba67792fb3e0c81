import { execa } from 'execa';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient } from '../../src/registry/client.js';
import { parseReference } from '../../src/registry/reference.js';
import { startForwardProxy, type ForwardProxy } from '../helpers/forward-proxy.js';
import { buildLayer, pushImage, type PushedImage } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { makeTestCa, type TestCa } from '../helpers/test-ca.js';
import { expectedDigests, pullDigests } from './support.js';

const MAIN = join(import.meta.dirname, '../../dist/src/cli/launch.js');
const fast = { retries: 0, retryBaseMs: 10, timeoutMs: 5000 };

let dir: string;
let ca: TestCa;
let otherCa: TestCa;
let reg: TestRegistry;
let image: PushedImage;

interface WarmJson {
  images: { status: string; manifestDigest?: string; error?: { code: string; message: string; hint: string } }[];
}

/** The CLI with no trust or proxy from this machine's environment, unless the test gives it. */
function rootforge(args: string[], env: Record<string, string> = {}) {
  return execa('node', [MAIN, ...args], { reject: false, env: { NO_COLOR: '1', SSL_CERT_FILE: '', NODE_EXTRA_CA_CERTS: '', HTTPS_PROXY: '', https_proxy: '', ...env } });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootforge-ca-'));
  [ca, otherCa] = await Promise.all([makeTestCa(dir), makeTestCa(dir, 'unrelated-ca')]);
  reg = await startRegistry({ tls: { certificate: ca.certificate, key: ca.key, ca: ca.caFile } });
  image = await pushImage(reg, 'tls/app', 'v1', { layers: [await buildLayer([{ name: 'etc/tls', content: 'trusted\n' }])] });
});
afterAll(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('a registry with a certificate from a private CA', () => {
  it('fails with a coded TLS error without the CA, and the hint names --ca-file and SSL_CERT_FILE', async () => {
    const run = await rootforge(['warm', `${reg.host}/tls/app:v1`, '--cache-dir', join(dir, 'cache-none'), '--json', '--retries', '0']);
    expect(run.exitCode, run.stderr).toBe(1);
    const [result] = (JSON.parse(run.stdout) as WarmJson).images;
    expect(result?.error).toMatchObject({ code: 'ERR_NETWORK', message: expect.stringContaining('TLS failure') });
    expect(result?.error?.hint).toMatch(/--ca-file.*SSL_CERT_FILE/);
  });

  it('pulls with --ca-file', async () => {
    const run = await rootforge(['warm', `${reg.host}/tls/app:v1`, '--cache-dir', join(dir, 'cache-flag'), '--json', '--ca-file', ca.caFile]);
    expect(run.exitCode, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as WarmJson).images[0]).toMatchObject({ status: 'ok', manifestDigest: image.manifestDigest });
  });

  it('pulls with SSL_CERT_FILE', async () => {
    const run = await rootforge(['warm', `${reg.host}/tls/app:v1`, '--cache-dir', join(dir, 'cache-env'), '--json'], { SSL_CERT_FILE: ca.caFile });
    expect(run.exitCode, run.stderr).toBe(0);
    expect((JSON.parse(run.stdout) as WarmJson).images[0]).toMatchObject({ status: 'ok', manifestDigest: image.manifestDigest });
  });

  it('refuses a missing or certificate-less bundle as a usage error before any request', async () => {
    const before = (await reg.settle()).length;
    const missing = await rootforge(['warm', `${reg.host}/tls/app:v1`, '--cache-dir', join(dir, 'cache-bad'), '--ca-file', join(dir, 'nope.pem')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('ERR_USAGE');
    expect(missing.stderr).toContain(`the CA bundle ${join(dir, 'nope.pem')} cannot be read (ENOENT)`);
    const empty = join(dir, 'empty.pem');
    await writeFile(empty, 'not a certificate\n');
    const stale = await rootforge(['warm', `${reg.host}/tls/app:v1`, '--cache-dir', join(dir, 'cache-bad')], { SSL_CERT_FILE: empty });
    expect(stale.exitCode).toBe(2);
    expect(stale.stderr).toContain(`the CA bundle ${empty} (from SSL_CERT_FILE) holds no PEM certificate`);
    expect((await reg.settle()).length).toBe(before);
  });

  it('still trusts NODE_EXTRA_CA_CERTS when a bundle is given, which Node alone would drop', async () => {
    const ref = parseReference(`${reg.host}/tls/app:v1`);
    await expect(new RegistryClient({ ...fast, env: {}, caFile: otherCa.caFile }).getManifest(ref)).rejects.toMatchObject({ code: 'ERR_NETWORK' });
    const client = new RegistryClient({ ...fast, env: { NODE_EXTRA_CA_CERTS: ca.caFile }, caFile: otherCa.caFile });
    expect((await client.getManifest(ref)).digest).toBe(image.manifestDigest);
  });
});

describe('an HTTPS registry behind HTTPS_PROXY', () => {
  let proxy: ForwardProxy;
  let refusing: ForwardProxy;
  const refusal = { status: 403 };

  beforeAll(async () => {
    [proxy, refusing] = await Promise.all([startForwardProxy(), startForwardProxy({ refuse: () => refusal.status })]);
  });
  afterAll(async () => {
    await Promise.all([proxy?.close(), refusing?.close()]);
  });

  it('tunnels through CONNECT and trusts the CA inside the tunnel', async () => {
    const client = new RegistryClient({ ...fast, env: { HTTPS_PROXY: proxy.url }, caFile: ca.caFile });
    expect(await pullDigests(client, parseReference(`${reg.host}/tls/app:v1`), image)).toEqual(expectedDigests(image));
    // Only tunnels: the proxy never sees a request in clear.
    expect(proxy.seen.length).toBeGreaterThan(0);
    expect(new Set(proxy.seen.map((c) => `${c.method} ${c.target} ${c.status}`))).toEqual(new Set([`CONNECT ${reg.host} 200`]));
  });

  it('reports a refused tunnel as ERR_PROXY, temporary only when the proxy could not reach the registry', async () => {
    const ref = parseReference(`${reg.host}/tls/app:v1`);
    const client = new RegistryClient({ ...fast, env: { HTTPS_PROXY: refusing.url }, caFile: ca.caFile });
    await expect(client.getManifest(ref)).rejects.toMatchObject({ code: 'ERR_PROXY', temporary: false, message: expect.stringContaining('the proxy refused to connect to the registry (HTTP 403)') });
    refusal.status = 502;
    await expect(client.getManifest(ref)).rejects.toMatchObject({ code: 'ERR_PROXY', temporary: true, message: expect.stringContaining('(HTTP 502)') });
    expect(refusing.seen.map((c) => `${c.method} ${c.target} ${c.status}`)).toEqual([`CONNECT ${reg.host} 403`, `CONNECT ${reg.host} 502`]);
  });
});
