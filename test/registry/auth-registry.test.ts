import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Digest } from '../../src/oci/digest.js';
import { RegistryClient } from '../../src/registry/client.js';
import { parseReference } from '../../src/registry/reference.js';
import { buildLayer, pushImage, type PushedImage } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { RecordingSink } from './support.js';

/** A DOCKER_CONFIG directory holding `auths`, removed after the suite. */
async function dockerConfig(dirs: string[], auths: Record<string, unknown>): Promise<NodeJS.ProcessEnv> {
  const dir = await mkdtemp(join(tmpdir(), 'rootforge-dockercfg-'));
  dirs.push(dir);
  await writeFile(join(dir, 'config.json'), JSON.stringify({ auths }));
  return { DOCKER_CONFIG: dir };
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const fast = { retries: 1, retryBaseMs: 10, timeoutMs: 5000 };

describe('Basic auth (htpasswd)', () => {
  let reg: TestRegistry;
  let image: PushedImage;
  const dirs: string[] = [];

  beforeAll(async () => {
    reg = await startRegistry({ auth: 'basic', username: 'alice', password: 's3cret:with:colons' });
    image = await pushImage(reg, 'private/app', 'v1', { layers: [await buildLayer([{ name: 'a', content: 'basic' }])] });
  });
  afterAll(async () => {
    await reg?.stop();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('fails with ERR_UNAUTHORIZED without credentials', async () => {
    const client = new RegistryClient({ ...fast, env: {} });
    const error = await client.getManifest(parseReference(`${reg.host}/private/app:v1`)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_UNAUTHORIZED', temporary: false });
  });

  it('pulls with the `auth` field of the Docker config', async () => {
    const env = await dockerConfig(dirs, { [`http://${reg.host}`]: { auth: b64('alice:s3cret:with:colons') } });
    const client = new RegistryClient({ ...fast, env });
    const ref = parseReference(`${reg.host}/private/app:v1`);
    const m = await client.getManifest(ref);
    expect(m.digest).toBe(image.manifestDigest);
    const layer = image.layers[0];
    if (!layer) throw new Error('no layer');
    const sink = new RecordingSink();
    await client.downloadBlob(ref, { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, sink);
    expect(sha256Digest(sink.bytes())).toBe(layer.digest);
  });

  it('refuses wrong credentials without echoing them', async () => {
    const env = await dockerConfig(dirs, { [reg.host]: { username: 'alice', password: 'wrong-password-xyz' } });
    const client = new RegistryClient({ ...fast, env });
    const error = (await client.getManifest(parseReference(`${reg.host}/private/app:v1`)).catch((e: unknown) => e)) as Error;
    expect(error).toMatchObject({ code: 'ERR_UNAUTHORIZED' });
    expect(`${error.message} ${String(error)}`).not.toContain('wrong-password-xyz');
  });
});

describe('token auth (Bearer JWT)', () => {
  let reg: TestRegistry;
  let image: PushedImage;
  let other: PushedImage;
  const dirs: string[] = [];

  beforeAll(async () => {
    reg = await startRegistry({ auth: 'token', username: 'bob', password: 'hunter22' });
    const layer = await buildLayer([{ name: 'b', content: 'token' }]);
    image = await pushImage(reg, 'team/app', 'v1', { layers: [layer] });
    other = await pushImage(reg, 'team/other', 'v1', { layers: [layer] });
    await pushImage(reg, 'team/shared', 'v1', { layers: [layer] });
  });
  afterAll(async () => {
    await reg?.stop();
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('fails with ERR_UNAUTHORIZED when the anonymous token grants nothing', async () => {
    const client = new RegistryClient({ ...fast, env: {} });
    const before = reg.tokenRequests().length;
    await expect(client.getManifest(parseReference(`${reg.host}/team/app:v1`))).rejects.toMatchObject({ code: 'ERR_UNAUTHORIZED' });
    const asked = reg.tokenRequests().slice(before);
    expect(asked).toHaveLength(1);
    expect(asked[0]).toMatchObject({ method: 'GET', scope: ['repository:team/app:pull'], service: 'rootforge-test-registry', status: 200 });
    expect(asked[0]?.account).toBeUndefined();
  });

  it('pulls with Basic credentials traded for a token, requested once per scope', async () => {
    const env = await dockerConfig(dirs, { [`https://${reg.host}`]: { auth: b64('bob:hunter22') } });
    const client = new RegistryClient({ ...fast, env });
    const ref = parseReference(`${reg.host}/team/app:v1`);
    const before = reg.tokenRequests().length;
    const logBefore = (await reg.settle()).length;
    const m = await client.getManifest(ref);
    expect(m.digest).toBe(image.manifestDigest);
    await client.getManifest({ ...ref, digest: m.digest });
    const layer = image.layers[0];
    if (!layer) throw new Error('no layer');
    const sink = new RecordingSink();
    await client.downloadBlob(ref, { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, sink);
    expect(sha256Digest(sink.bytes())).toBe(layer.digest);
    expect(reg.tokenRequests().slice(before)).toEqual([
      { method: 'GET', scope: ['repository:team/app:pull'], service: 'rootforge-test-registry', account: 'bob', status: 200 },
    ]);

    // Another repository is another scope: one more token.
    expect((await client.getManifest(parseReference(`${reg.host}/team/other:v1`))).digest).toBe(other.manifestDigest);
    expect(reg.tokenRequests().slice(before).map((r) => r.scope[0])).toEqual(['repository:team/app:pull', 'repository:team/other:pull']);
    // One 401 per scope; requests after that carry the cached token at once.
    const logged = (await reg.settle()).slice(logBefore);
    expect(logged.map((r) => `${r.status} ${r.path.replace(/sha256:[a-f0-9]{64}/, 'DIGEST')}`)).toEqual([
      '401 /v2/team/app/manifests/v1',
      '200 /v2/team/app/manifests/v1',
      '200 /v2/team/app/manifests/DIGEST',
      '200 /v2/team/app/blobs/DIGEST',
      '401 /v2/team/other/manifests/v1',
      '200 /v2/team/other/manifests/v1',
    ]);
  });

  it('fetches one token for parallel requests, and shares it between clients in one thread', async () => {
    const env = await dockerConfig(dirs, { [reg.host]: { username: 'bob', password: 'hunter22' } });
    const ref = parseReference(`${reg.host}/team/shared:v1`);
    const before = reg.tokenRequests().length;
    const first = new RegistryClient({ ...fast, env });
    await Promise.all([1, 2, 3, 4].map(() => first.getManifest(ref)));
    await new RegistryClient({ ...fast, env }).getManifest(ref);
    expect(reg.tokenRequests().slice(before).map((r) => r.scope)).toEqual([['repository:team/shared:pull']]);
  });

  it('trades an identity token through the OAuth2 refresh_token POST', async () => {
    const env = await dockerConfig(dirs, { [reg.host]: { auth: b64('<token>:'), identitytoken: 'hunter22' } });
    const client = new RegistryClient({ ...fast, env });
    const before = reg.tokenRequests().length;
    const m = await client.getManifest(parseReference(`${reg.host}/team/other:v1`));
    expect(m.digest).toBe(other.manifestDigest);
    expect(reg.tokenRequests().slice(before)).toEqual([
      { method: 'POST', scope: ['repository:team/other:pull'], service: 'rootforge-test-registry', account: 'bob', status: 200 },
    ]);
  });

  it('reports credentials the token server refuses as ERR_UNAUTHORIZED', async () => {
    const env = await dockerConfig(dirs, { [reg.host]: { username: 'bob', password: 'nope-nope' } });
    const client = new RegistryClient({ ...fast, env });
    const error = (await client.getManifest(parseReference(`${reg.host}/team/app:v1`)).catch((e: unknown) => e)) as Error;
    expect(error).toMatchObject({ code: 'ERR_UNAUTHORIZED' });
    expect(error.message).not.toContain('nope-nope');
  });
});
