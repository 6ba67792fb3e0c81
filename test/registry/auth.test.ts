import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { basicAuthorization, parseWwwAuthenticate, TokenCache } from '../../src/registry/auth.js';
import { dockerConfigPath, findCredentials, loadCredentials } from '../../src/registry/docker-config.js';
import { parseRetryAfter } from '../../src/registry/retry.js';

describe('parseWwwAuthenticate', () => {
  it('parses a Docker Hub style Bearer challenge with commas inside quotes', () => {
    const header = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/debian:pull,push"';
    expect(parseWwwAuthenticate(header)).toEqual([
      { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/debian:pull,push' } },
    ]);
  });

  it('parses Basic, case-insensitive schemes and names, spaces, and unquoted values', () => {
    expect(parseWwwAuthenticate('Basic realm="Registry Realm"')).toEqual([{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
    expect(parseWwwAuthenticate('BEARER Realm=https://x/token , Service=reg')).toEqual([{ scheme: 'bearer', params: { realm: 'https://x/token', service: 'reg' } }]);
  });

  it('parses error parameters and escaped quotes', () => {
    const [c] = parseWwwAuthenticate('Bearer realm="https://r/t",error="insufficient_scope",error_description="say \\"please\\""');
    expect(c?.params).toEqual({ realm: 'https://r/t', error: 'insufficient_scope', error_description: 'say "please"' });
  });

  it('splits several challenges in one header', () => {
    expect(parseWwwAuthenticate('Bearer realm="https://a/t",service="s", Basic realm="b"')).toEqual([
      { scheme: 'bearer', params: { realm: 'https://a/t', service: 's' } },
      { scheme: 'basic', params: { realm: 'b' } },
    ]);
  });

  it('survives garbage', () => {
    expect(parseWwwAuthenticate('')).toEqual([]);
    expect(parseWwwAuthenticate(' , ,, =')).toEqual([]);
    expect(parseWwwAuthenticate('realm="x" Basic')).toEqual([{ scheme: 'basic', params: {} }]);
    expect(parseWwwAuthenticate('Bearer realm="unterminated')).toEqual([{ scheme: 'bearer', params: { realm: 'unterminated' } }]);
  });
});

describe('Docker config credentials', () => {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const dirs: string[] = [];
  afterAll(async () => {
    await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
  });

  it('finds Docker Hub credentials under the legacy index key', () => {
    const config = { auths: { 'https://index.docker.io/v1/': { auth: b64('hubuser:hubpass') } } };
    expect(findCredentials(config, 'docker.io')).toEqual({ username: 'hubuser', password: 'hubpass' });
    expect(findCredentials(config, 'registry-1.docker.io')).toEqual({ username: 'hubuser', password: 'hubpass' });
    expect(findCredentials(config, 'ghcr.io')).toBeUndefined();
  });

  it('matches host, https://host and http://host keys, and keeps colons in passwords', () => {
    const cred = { auth: b64('u:p:a:s:s') };
    for (const key of ['myreg:5000', 'https://myreg:5000', 'http://myreg:5000', 'https://myreg:5000/v2/']) {
      expect(findCredentials({ auths: { [key]: cred } }, 'myreg:5000')).toEqual({ username: 'u', password: 'p:a:s:s' });
    }
    expect(findCredentials({ auths: { 'myreg:5001': cred } }, 'myreg:5000')).toBeUndefined();
  });

  it('prefers the exact key over an equivalent spelling', () => {
    const config = { auths: { 'https://ghcr.io': { auth: b64('second:x') }, 'ghcr.io': { auth: b64('first:y') } } };
    expect(findCredentials(config, 'ghcr.io')).toEqual({ username: 'first', password: 'y' });
  });

  it('reads username/password fields and identity tokens, and skips empty entries', () => {
    expect(findCredentials({ auths: { 'r.io': { username: 'a', password: 'b' } } }, 'r.io')).toEqual({ username: 'a', password: 'b' });
    expect(findCredentials({ auths: { 'r.io': { auth: b64('<token>:'), identitytoken: 'refresh-me' } } }, 'r.io')).toEqual({
      username: '<token>',
      password: '',
      identityToken: 'refresh-me',
    });
    expect(findCredentials({ auths: { 'r.io': {} } }, 'r.io')).toBeUndefined();
    expect(findCredentials({ auths: { 'r.io': { auth: '' } }, credsStore: 'desktop' }, 'r.io')).toBeUndefined();
    expect(findCredentials({ auths: { 'r.io': { auth: b64('no-colon') } } }, 'r.io')).toBeUndefined();
    expect(findCredentials(null, 'r.io')).toBeUndefined();
    expect(findCredentials({ auths: [] }, 'r.io')).toBeUndefined();
  });

  it('locates config.json from DOCKER_CONFIG, else the home directory', () => {
    expect(dockerConfigPath({ env: { DOCKER_CONFIG: '/cfg' }, homedir: '/home/x' })).toBe('/cfg/config.json');
    expect(dockerConfigPath({ env: {}, homedir: '/home/x' })).toBe('/home/x/.docker/config.json');
    expect(dockerConfigPath({ env: { HOME: '/home/y' } })).toBe('/home/y/.docker/config.json');
    expect(dockerConfigPath({ env: {} })).toBeUndefined();
  });

  it('loads from disk; a missing file means anonymous, a broken one fails without leaking it', async () => {
    const home = await mkdtemp(join(tmpdir(), 'rootforge-home-'));
    dirs.push(home);
    expect(await loadCredentials('r.io', { env: {}, homedir: home })).toBeUndefined();
    await mkdir(join(home, '.docker'));
    await writeFile(join(home, '.docker', 'config.json'), JSON.stringify({ auths: { 'r.io': { auth: b64('me:pw') } } }));
    expect(await loadCredentials('r.io', { env: {}, homedir: home })).toEqual({ username: 'me', password: 'pw' });
    await writeFile(join(home, '.docker', 'config.json'), '{"auths": {"r.io": {"auth": "c2VjcmV0LXZhbHVl"');
    const error = (await loadCredentials('r.io', { env: {}, homedir: home }).catch((e: unknown) => e)) as Error;
    expect(error).toMatchObject({ code: 'ERR_UNAUTHORIZED' });
    expect(error.message).not.toContain('c2VjcmV0LXZhbHVl');
  });

  it('builds Basic headers', () => {
    expect(basicAuthorization({ username: 'a', password: 'b:c' })).toBe(`Basic ${b64('a:b:c')}`);
  });
});

describe('TokenCache', () => {
  it('keys by registry, scope and login without holding the secret in the key', () => {
    const a = TokenCache.key('r.io', 'repository:x:pull', { username: 'u', password: 'topsecret' });
    const b = TokenCache.key('r.io', 'repository:x:pull', { username: 'u', password: 'other' });
    expect(a).not.toBe(b);
    expect(a).not.toContain('topsecret');
    expect(TokenCache.key('r.io', 'repository:x:pull', undefined)).toBe('r.io|repository:x:pull|anonymous');
  });

  it('forgets expired tokens', () => {
    const cache = new TokenCache();
    cache.set('k', { token: 't', expiresAt: Date.now() + 60_000 });
    cache.set('old', { token: 't', expiresAt: Date.now() - 1 });
    expect(cache.get('k')).toBe('t');
    expect(cache.get('old')).toBeUndefined();
    cache.delete('k');
    expect(cache.get('k')).toBeUndefined();
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  it('reads seconds and HTTP dates, and caps them', () => {
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('86400', now)).toBe(60_000);
    expect(parseRetryAfter('86400', now, 5000)).toBe(5000);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });
});
