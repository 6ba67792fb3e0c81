import { describe, expect, it } from 'vitest';
import { outputNames } from '../../src/batch/output-names.js';
import { parseReference } from '../../src/registry/reference.js';

const names = (...refs: string[]): string[] => outputNames(refs.map(parseReference));

describe('outputNames', () => {
  it('uses <repo>-<tag> when that is unique', () => {
    expect(names('debian:bookworm', 'alpine', 'ghcr.io/org/tool@sha256:' + 'a'.repeat(64))).toEqual(['debian-bookworm', 'alpine-latest', 'tool-aaaaaaaaaaaa']);
  });
  it('lengthens names that would collide, and numbers exact duplicates', () => {
    expect(names('library/app:1', 'acme/app:1')).toEqual(['app-1', 'acme-app-1']);
    expect(names('docker.io/acme/app:1', 'quay.io/acme/app:1')).toEqual(['docker.io-acme-app-1', 'quay.io-acme-app-1']);
    const dup = names('debian:12', 'debian:12');
    expect(new Set(dup).size).toBe(2);
  });
  it('keeps explicit names and avoids them', () => {
    expect(outputNames([parseReference('debian:12'), parseReference('ubuntu:24.04')], ['debian-12', undefined])).toEqual(['debian-12', 'ubuntu-24.04']);
  });
});
