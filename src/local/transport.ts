import { basename, resolve } from 'node:path';
import { RootforgeError } from '../errors.js';
import { formatReference, parseReference, type ImageReference } from '../registry/reference.js';

export type LocalTransport = 'oci' | 'oci-archive' | 'docker-archive';

/** Where an image comes from, in the transport syntax skopeo users know. */
export type ImageLocation =
  | { transport: 'docker'; ref: ImageReference }
  | { transport: LocalTransport; path: string; name?: string };

const LOCAL: readonly LocalTransport[] = ['oci', 'oci-archive', 'docker-archive'];

/**
 * `oci:DIR[:REF]`, `oci-archive:FILE[:REF]`, `docker-archive:FILE[:REF]`, `docker://REF`, or a plain
 * registry reference. As in containers/image, the path ends at the first ':' after the transport.
 */
export function parseLocation(text: string): ImageLocation {
  const colon = text.indexOf(':');
  const transport = colon > 0 ? text.slice(0, colon) : '';
  if ((LOCAL as readonly string[]).includes(transport)) {
    const rest = text.slice(colon + 1);
    const split = rest.indexOf(':');
    const path = split >= 0 ? rest.slice(0, split) : rest;
    const name = split >= 0 ? rest.slice(split + 1) : undefined;
    if (!path) throw new RootforgeError('ERR_INVALID_REFERENCE', `${transport}: needs a path, e.g. ${transport}:./image${transport === 'oci' ? '' : '.tar'}`);
    return { transport: transport as LocalTransport, path: resolve(path), ...(name ? { name } : {}) };
  }
  return { transport: 'docker', ref: parseReference(text.startsWith('docker://') ? text.slice('docker://'.length) : text) };
}

/** A reference-shaped stand-in for a local image: output names come from the path's base name and the ref. */
export function locationRef(location: ImageLocation): ImageReference {
  if (location.transport === 'docker') return location.ref;
  const base = basename(location.path).replace(/\.(tar|tgz|tar\.gz|oci)$/i, '') || 'image';
  return { registry: location.transport, repository: base, tag: location.name ?? 'latest', apiHost: '' };
}

/** The name an image is reported and recorded under. */
export function locationName(location: ImageLocation, original: string): string {
  if (location.transport === 'docker') return formatReference(location.ref);
  return `${location.transport}:${location.path}${location.name ? `:${location.name}` : ''}` || original;
}
