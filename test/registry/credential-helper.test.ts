import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { warm } from '../../src/batch/warm.js';
import { toErrorInfo } from '../../src/errors.js';
import { credentialsFromHelper } from '../../src/registry/credential-helper.js';
import { credentialSource, helperServerUrl } from '../../src/registry/docker-config.js';
import { RegistryClient } from '../../src/registry/client.js';
import { parseReference } from '../../src/registry/reference.js';
import { ANSWERING_HELPER, installCredentialHelper } from '../helpers/credential-helper.js';
import { buildLayer, pushImage, type PushedImage } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { expectedDigests, pullDigests } from './support.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const fast = { retries: 1, retryBaseMs: 10, timeoutMs: 5000 };
const LEAKED = 'leaked-secret-0xC0FFEE';

let dir: string;
let bin: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootforge-credhelper-'));
  bin = join(dir, 'bin');
  await mkdir(bin);
  await installCredentialHelper(bin, 'rftest', ANSWERING_HELPER);
  await installCredentialHelper(bin, 'rfbroken', `#!/bin/sh\necho '{"Username":"u","Secret":"${LEAKED}"}'\necho "keychain locked" >&2\nexit 3\n`);
  await installCredentialHelper(bin, 'rfjunk', `#!/bin/sh\necho 'Secret: ${LEAKED}'\n`);
  // exec: a grandchild still holding stdout would keep the helper's pipe open past the kill.
  await installCredentialHelper(bin, 'rfslow', '#!/bin/sh\nexec sleep 5\n');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let configs = 0;
/** An environment with its own DOCKER_CONFIG holding `config`, the helpers first on PATH, and what rftest answers. */
async function helperEnv(config: object, answer: { server?: string; username?: string; secret?: string } = {}): Promise<NodeJS.ProcessEnv & { RFTEST_LOG: string }> {
  const configDir = join(dir, `config-${configs++}`);
  await mkdir(configDir);
  await writeFile(join(configDir, 'config.json'), JSON.stringify(config));
  return {
    DOCKER_CONFIG: configDir,
    PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
    RFTEST_LOG: join(configDir, 'helper.log'),
    RFTEST_SERVER: answer.server ?? '',
    RFTEST_USERNAME: answer.username ?? '',
    RFTEST_SECRET: answer.secret ?? '',
  };
}

/** The server URLs the rftest helper was asked about, in order. */
async function questions(env: { RFTEST_LOG: string }): Promise<string[]> {
  const text = await readFile(env.RFTEST_LOG, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean);
}

describe('credential source precedence', () => {
  const auths = { 'r.io': { auth: b64('file:pass') } };

  it('takes credHelpers[host] over credsStore over auths, as Docker does', () => {
    expect(credentialSource({ credHelpers: { 'r.io': 'perhost' }, credsStore: 'store', auths }, 'r.io')).toEqual({ helper: 'perhost' });
    expect(credentialSource({ credHelpers: { 'other.io': 'perhost' }, credsStore: 'store', auths }, 'r.io')).toEqual({ helper: 'store' });
    expect(credentialSource({ credHelpers: { 'other.io': 'perhost' }, auths }, 'r.io')).toEqual({ credentials: { username: 'file', password: 'pass' } });
    expect(credentialSource({ credsStore: '', auths }, 'r.io')).toEqual({ credentials: { username: 'file', password: 'pass' } });
    expect(credentialSource({ credHelpers: { 'r.io': '' }, auths }, 'r.io')).toEqual({ credentials: { username: 'file', password: 'pass' } });
    expect(credentialSource({}, 'r.io')).toEqual({ credentials: undefined });
    expect(credentialSource(null, 'r.io')).toEqual({ credentials: undefined });
  });

  it('matches credHelpers keys like auths keys, Docker Hub aliases included', () => {
    expect(credentialSource({ credHelpers: { 'https://r.io:5000': 'h' } }, 'r.io:5000')).toEqual({ helper: 'h' });
    expect(credentialSource({ credHelpers: { 'https://index.docker.io/v1/': 'hub' } }, 'docker.io')).toEqual({ helper: 'hub' });
    expect(credentialSource({ credHelpers: { 'docker.io': 'hub' } }, 'registry-1.docker.io')).toEqual({ helper: 'hub' });
  });

  it('asks helpers about Docker Hub by its legacy index URL and about other registries by host', () => {
    expect(helperServerUrl('docker.io')).toBe('https://index.docker.io/v1/');
    expect(helperServerUrl('index.docker.io')).toBe('https://index.docker.io/v1/');
    expect(helperServerUrl('127.0.0.1:5000')).toBe('127.0.0.1:5000');
  });
});

describe('running docker-credential-<name> get', () => {
  it('reads Username/Secret, and an identity token when Username is <token>', async () => {
    const env = await helperEnv({}, { server: 'r.io', username: 'me', secret: 'pw' });
    expect(await credentialsFromHelper('rftest', 'r.io', { env, timeoutMs: 5000 })).toEqual({ username: 'me', password: 'pw' });
    const tokenEnv = { ...env, RFTEST_USERNAME: '<token>', RFTEST_SECRET: 'refresh-me' };
    expect(await credentialsFromHelper('rftest', 'r.io', { env: tokenEnv, timeoutMs: 5000 })).toEqual({ identityToken: 'refresh-me' });
    expect(await questions(env)).toEqual(['r.io', 'r.io']);
  });

  it('treats "credentials not found" as anonymous', async () => {
    const env = await helperEnv({}, { server: 'r.io', username: 'me', secret: 'pw' });
    expect(await credentialsFromHelper('rftest', 'other.io', { env, timeoutMs: 5000 })).toBeUndefined();
    expect(await questions(env)).toEqual(['other.io']);
  });

  it('fails with a coded error naming a helper missing from PATH', async () => {
    const env = await helperEnv({});
    const error = await credentialsFromHelper('nosuchhelper', 'r.io', { env, timeoutMs: 5000 }).catch((e: unknown) => e);
    // ENOENT, or EACCES when some PATH directory is not searchable (root's, for an unprivileged user).
    expect(error).toMatchObject({ code: 'ERR_CREDENTIAL_HELPER', message: expect.stringMatching(/^credential helper docker-credential-nosuchhelper is not on PATH(, or not executable \(EACCES\))? for r\.io$/) });
    expect((error as { hint: string }).hint).toContain('docker-credential-nosuchhelper');
  });

  it('never puts what a failing or garbled helper printed into the error', async () => {
    const env = await helperEnv({});
    for (const [helper, why] of [['rfbroken', 'failed with exit code 3'], ['rfjunk', 'answered with something other than JSON']] as const) {
      const error = await credentialsFromHelper(helper, 'r.io', { env, timeoutMs: 5000 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'ERR_CREDENTIAL_HELPER', message: `credential helper docker-credential-${helper} ${why} for r.io` });
      expect(JSON.stringify(toErrorInfo(error))).not.toContain(LEAKED);
      expect(String(error)).not.toContain(LEAKED);
    }
  });

  it('gives up on a helper that does not answer, and refuses helper names that are paths', async () => {
    const env = await helperEnv({});
    const started = Date.now();
    await expect(credentialsFromHelper('rfslow', 'r.io', { env, timeoutMs: 300 })).rejects.toMatchObject({ code: 'ERR_CREDENTIAL_HELPER', message: expect.stringContaining('did not answer') });
    expect(Date.now() - started).toBeLessThan(4000);
    await expect(credentialsFromHelper('../../bin/sh', 'r.io', { env, timeoutMs: 5000 })).rejects.toMatchObject({ code: 'ERR_CREDENTIAL_HELPER' });
  });
});

describe('pulling from a real registry with htpasswd auth through a credential helper', () => {
  let reg: TestRegistry;
  let image: PushedImage;

  beforeAll(async () => {
    reg = await startRegistry({ auth: 'basic', username: 'alice', password: 'helper-pass-123' });
    const layers = [await buildLayer([{ name: 'a', content: 'one' }]), await buildLayer([{ name: 'b', content: 'two' }])];
    image = await pushImage(reg, 'private/app', 'v1', { layers });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  const login = (): { server: string; username: string; secret: string } => ({ server: reg.host, username: 'alice', secret: 'helper-pass-123' });
  const wrongAuths = (): Record<string, unknown> => ({ [reg.host]: { auth: b64('alice:wrong-password') } });

  it('uses credHelpers[host] over a wrong auths entry, asking the helper once per run', async () => {
    const env = await helperEnv({ credHelpers: { [reg.host]: 'rftest' }, auths: wrongAuths() }, login());
    const client = new RegistryClient({ ...fast, env });
    expect(await pullDigests(client, parseReference(`${reg.host}/private/app:v1`), image)).toEqual(expectedDigests(image));
    expect(await questions(env)).toEqual([reg.host]);
  });

  it('uses credsStore when no credHelpers entry names the host', async () => {
    const env = await helperEnv({ credHelpers: { 'elsewhere.io': 'nosuchhelper' }, credsStore: 'rftest', auths: wrongAuths() }, login());
    expect((await new RegistryClient({ ...fast, env }).getManifest(parseReference(`${reg.host}/private/app:v1`))).digest).toBe(image.manifestDigest);
  });

  it('lets a credHelpers entry win over a working credsStore, even when it names a missing helper', async () => {
    const env = await helperEnv({ credHelpers: { [reg.host]: 'nosuchhelper' }, credsStore: 'rftest' }, login());
    const error = await new RegistryClient({ ...fast, env }).getManifest(parseReference(`${reg.host}/private/app:v1`)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_CREDENTIAL_HELPER', hint: expect.stringContaining('docker-credential-nosuchhelper') });
    expect(await questions(env)).toEqual([]);
  });

  it('goes anonymous when the helper has nothing for the registry, and is refused', async () => {
    const env = await helperEnv({ credsStore: 'rftest' }, { ...login(), server: 'another-registry.io' });
    const error = await new RegistryClient({ ...fast, env }).getManifest(parseReference(`${reg.host}/private/app:v1`)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_UNAUTHORIZED', message: expect.stringContaining('the Docker config has none') });
    expect(await questions(env)).toEqual([reg.host]);
  });

  it('warms through the helper: once in the main thread and once per worker thread, not per layer', async () => {
    const env = await helperEnv({ credHelpers: { [reg.host]: 'rftest' } }, login());
    const cacheDir = join(dir, 'cache-warm');
    const result = await warm({ refs: [`${reg.host}/private/app:v1`], cacheDir, env, workers: 1, retries: 1, registry: { retryBaseMs: 10 } });
    expect(result.images[0]).toMatchObject({ status: 'ok', manifestDigest: image.manifestDigest });
    expect(await questions(env)).toEqual([reg.host, reg.host]);
  });
});

describe('identity tokens from a credential helper', () => {
  let reg: TestRegistry;
  let image: PushedImage;

  beforeAll(async () => {
    reg = await startRegistry({ auth: 'token', username: 'bob', password: 'refresh-token-xyz' });
    image = await pushImage(reg, 'team/app', 'v1', { layers: [await buildLayer([{ name: 'c', content: 'token' }])] });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('trades a <token> Secret at the token endpoint with grant_type=refresh_token', async () => {
    const env = await helperEnv({ credsStore: 'rftest' }, { server: reg.host, username: '<token>', secret: 'refresh-token-xyz' });
    const before = reg.tokenRequests().length;
    expect((await new RegistryClient({ ...fast, env }).getManifest(parseReference(`${reg.host}/team/app:v1`))).digest).toBe(image.manifestDigest);
    // The test token server grants a POST only for grant_type=refresh_token with this refresh token.
    expect(reg.tokenRequests().slice(before)).toEqual([
      { method: 'POST', scope: ['repository:team/app:pull'], service: 'rootforge-test-registry', account: 'bob', status: 200 },
    ]);
  });
});
