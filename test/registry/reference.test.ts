import { describe, expect, it } from 'vitest';
import { apiHostFor, formatReference, manifestReference, parseReference } from '../../src/registry/reference.js';

const D = 'sha256:dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c';

describe('parseReference', () => {
  it.each([
    // input, registry, repository, tag, digest, apiHost, canonical
    ['debian', 'docker.io', 'library/debian', 'latest', undefined, 'registry-1.docker.io', 'docker.io/library/debian:latest'],
    ['debian:bookworm', 'docker.io', 'library/debian', 'bookworm', undefined, 'registry-1.docker.io', 'docker.io/library/debian:bookworm'],
    ['library/debian', 'docker.io', 'library/debian', 'latest', undefined, 'registry-1.docker.io', 'docker.io/library/debian:latest'],
    ['docker.io/debian', 'docker.io', 'library/debian', 'latest', undefined, 'registry-1.docker.io', 'docker.io/library/debian:latest'],
    ['docker.io/library/debian:12', 'docker.io', 'library/debian', '12', undefined, 'registry-1.docker.io', 'docker.io/library/debian:12'],
    ['index.docker.io/debian', 'docker.io', 'library/debian', 'latest', undefined, 'registry-1.docker.io', 'docker.io/library/debian:latest'],
    ['index.docker.io/docker/docker', 'docker.io', 'docker/docker', 'latest', undefined, 'registry-1.docker.io', 'docker.io/docker/docker:latest'],
    ['dmcgowan/myapp', 'docker.io', 'dmcgowan/myapp', 'latest', undefined, 'registry-1.docker.io', 'docker.io/dmcgowan/myapp:latest'],
    ['library/foo/bar', 'docker.io', 'library/foo/bar', 'latest', undefined, 'registry-1.docker.io', 'docker.io/library/foo/bar:latest'],
    ['test_com/foo', 'docker.io', 'test_com/foo', 'latest', undefined, 'registry-1.docker.io', 'docker.io/test_com/foo:latest'],
    ['ubuntu-12.04-base', 'docker.io', 'library/ubuntu-12.04-base', 'latest', undefined, 'registry-1.docker.io', 'docker.io/library/ubuntu-12.04-base:latest'],
    ['ghcr.io/org/app:v1.2.3', 'ghcr.io', 'org/app', 'v1.2.3', undefined, 'ghcr.io', 'ghcr.io/org/app:v1.2.3'],
    ['quay.io/a/b/c', 'quay.io', 'a/b/c', 'latest', undefined, 'quay.io', 'quay.io/a/b/c:latest'],
    ['example.com/privatebase', 'example.com', 'privatebase', 'latest', undefined, 'example.com', 'example.com/privatebase:latest'],
    ['127.0.0.1:5000/repo:tag', '127.0.0.1:5000', 'repo', 'tag', undefined, '127.0.0.1:5000', '127.0.0.1:5000/repo:tag'],
    ['127.0.0.1:8000/private/moonbase', '127.0.0.1:8000', 'private/moonbase', 'latest', undefined, '127.0.0.1:8000', '127.0.0.1:8000/private/moonbase:latest'],
    ['test-com:8080/foo', 'test-com:8080', 'foo', 'latest', undefined, 'test-com:8080', 'test-com:8080/foo:latest'],
    ['xn--n3h.com:18080/foo', 'xn--n3h.com:18080', 'foo', 'latest', undefined, 'xn--n3h.com:18080', 'xn--n3h.com:18080/foo:latest'],
    ['localhost/x', 'localhost', 'x', 'latest', undefined, 'localhost', 'localhost/x:latest'],
    ['localhost:5000/x/y:1', 'localhost:5000', 'x/y', '1', undefined, 'localhost:5000', 'localhost:5000/x/y:1'],
    ['[::1]:5000/repo', '[::1]:5000', 'repo', 'latest', undefined, '[::1]:5000', '[::1]:5000/repo:latest'],
    ['[fc00:1:2:3:4:5:6:7]:5000/library/debian', '[fc00:1:2:3:4:5:6:7]:5000', 'library/debian', 'latest', undefined, '[fc00:1:2:3:4:5:6:7]:5000', '[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest'],
    ['Foo/bar', 'Foo', 'bar', 'latest', undefined, 'Foo', 'Foo/bar:latest'],
    ['192.168.0.1', 'docker.io', 'library/192.168.0.1', 'latest', undefined, 'registry-1.docker.io', 'docker.io/library/192.168.0.1:latest'],
    ['192.168.0.1:80', 'docker.io', 'library/192.168.0.1', '80', undefined, 'registry-1.docker.io', 'docker.io/library/192.168.0.1:80'],
    ['dock__er/docker---rules', 'docker.io', 'dock__er/docker---rules', 'latest', undefined, 'registry-1.docker.io', 'docker.io/dock__er/docker---rules:latest'],
    [`redis@${D}`, 'docker.io', 'library/redis', undefined, D, 'registry-1.docker.io', `docker.io/library/redis@${D}`],
    [`busybox:latest@${D}`, 'docker.io', 'library/busybox', 'latest', D, 'registry-1.docker.io', `docker.io/library/busybox:latest@${D}`],
    [`host:5000/a/b:t@${D}`, 'host:5000', 'a/b', 't', D, 'host:5000', `host:5000/a/b:t@${D}`],
    ['docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', 'docker.io', 'library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a', 'latest', undefined, 'registry-1.docker.io', 'docker.io/library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a:latest'],
    ['debian:A_tag-with.all_', 'docker.io', 'library/debian', 'A_tag-with.all_', undefined, 'registry-1.docker.io', 'docker.io/library/debian:A_tag-with.all_'],
  ] as const)('%s', (input, registry, repository, tag, digest, apiHost, canonical) => {
    const ref = parseReference(input);
    expect(ref).toEqual({ registry, repository, apiHost, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) });
    expect(formatReference(ref)).toBe(canonical);
    // The canonical form parses back to the same reference.
    expect(parseReference(canonical)).toEqual(ref);
    // Plain data: it must survive a structured clone into a worker.
    expect(structuredClone(ref)).toEqual(ref);
  });

  it.each([
    '',
    '   ',
    'https://github.com/docker/docker',
    'docker/Docker',
    'docker.io/docker/Docker',
    'UPPER',
    '-docker',
    '-docker/docker',
    '-docker.io/docker/docker',
    'docker-/docker',
    '_docker/_docker',
    '____/____',
    'dock..er/docker',
    'dock_.er/docker',
    'dock-.er/docker',
    'docker///docker',
    'docker.io/docker///docker',
    'docker/',
    '[fc00::1]',
    '[fc00::1]:5000',
    'fc00::1:5000/debian',
    '[fe80::1%eth0]:5000/debian',
    '[2001:db8:3:4::192.0.2.33]:5000/debian',
    '1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a',
    'debian:',
    'debian:-bad',
    `debian:${'a'.repeat(129)}`,
    'debian@',
    'debian@sha256:abc',
    `debian@sha512:${'a'.repeat(128)}`,
    `debian@sha256:${'A'.repeat(64)}`,
    'deb ian',
    ':tag',
    `x/${'a'.repeat(255)}`,
    'host:port/repo',
  ])('rejects %j', (input) => {
    expect(() => parseReference(input)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_REFERENCE' }));
  });

  it('explains why a reference is refused', () => {
    expect(() => parseReference('docker/Docker')).toThrow(/must be lowercase/);
    expect(() => parseReference(`debian@sha512:${'a'.repeat(128)}`)).toThrow(/only sha256/);
  });
});

describe('manifestReference and apiHostFor', () => {
  it('prefers the digest to the tag', () => {
    expect(manifestReference(parseReference(`a:t@${D}`))).toBe(D);
    expect(manifestReference(parseReference('a:t'))).toBe('t');
    expect(manifestReference({})).toBe('latest');
  });

  it('maps Docker Hub names to its API host', () => {
    expect(apiHostFor('docker.io')).toBe('registry-1.docker.io');
    expect(apiHostFor('index.docker.io')).toBe('registry-1.docker.io');
    expect(apiHostFor('ghcr.io')).toBe('ghcr.io');
  });
});
