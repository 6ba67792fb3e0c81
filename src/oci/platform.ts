import { RootforgeError } from '../errors.js';
import type { Descriptor, Platform } from './types.js';

export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

export function parsePlatform(value: string): Platform {
  const parts = value.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9._-]+$/.test(p))) {
    throw new RootforgeError('ERR_INVALID_PLATFORM', `invalid platform ${JSON.stringify(value)}`);
  }
  const [os, architecture, variant] = parts as [string, string, string?];
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(platform: Platform): string {
  return [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
}

/** arm64 images usually say variant v8 or nothing; treat the two as one, as containerd does. */
function normalizedVariant(p: Platform): string | undefined {
  if (p.architecture === 'arm64' && (p.variant === undefined || p.variant === 'v8')) return undefined;
  return p.variant;
}

export function platformMatches(wanted: Platform, have: Platform): boolean {
  if (wanted.os !== have.os || wanted.architecture !== have.architecture) return false;
  if (wanted.variant === undefined) return true;
  return normalizedVariant(wanted) === normalizedVariant(have);
}

function isAttestation(d: Descriptor): boolean {
  return (
    (d.platform?.os === 'unknown' && d.platform?.architecture === 'unknown') ||
    d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest'
  );
}

/** Picks the manifest for `wanted` from an index; the error lists what the index offers. */
/** The platforms an index offers, in its order, attestation manifests left out. */
export function offeredPlatforms(manifests: Descriptor[]): string[] {
  return [...new Set(manifests.filter((d) => d.platform && !isAttestation(d)).map((d) => formatPlatform(d.platform as Platform)))];
}

export function selectPlatform(manifests: Descriptor[], wanted: Platform): Descriptor {
  const candidates = manifests.filter((d) => d.platform && !isAttestation(d));
  const match = candidates.find((d) => d.platform && platformMatches(wanted, d.platform));
  if (match) return match;
  const offered = offeredPlatforms(manifests);
  throw new RootforgeError(
    'ERR_PLATFORM_NOT_FOUND',
    `no manifest for ${formatPlatform(wanted)}; the index offers ${offered.length ? offered.join(', ') : 'no platforms'}`,
  );
}
