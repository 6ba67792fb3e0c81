import { RootforgeError } from '../errors.js';
import type { Digest } from '../oci/digest.js';

/** A parsed reference; plain data without methods so it survives structured clone into workers (see formatReference). */
export interface ImageReference {
  /** Registry as the user names it, normalised: `docker.io`, `ghcr.io`, `127.0.0.1:5000`. */
  registry: string;
  /** Repository path inside the registry, e.g. `library/debian`. */
  repository: string;
  tag?: string;
  /** When set, the manifest is fetched by digest even if a tag is also given. */
  digest?: Digest;
  /** host[:port] the HTTP API is served from (`registry-1.docker.io` for Docker Hub). */
  apiHost: string;
}

export const DOCKER_HUB = 'docker.io';
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
const DOCKER_HUB_LEGACY = 'index.docker.io';
const DEFAULT_TAG = 'latest';
const NAME_TOTAL_LENGTH_MAX = 255;

// Grammar from distribution/reference (regexp.go).
const ALPHANUMERIC = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALPHANUMERIC}(?:${SEPARATOR}${ALPHANUMERIC})*`;
const REMOTE_NAME = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const ANY_DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
const IDENTIFIER = /^[a-f0-9]{64}$/;

function invalid(input: string, why: string): RootforgeError {
  return new RootforgeError('ERR_INVALID_REFERENCE', `invalid image reference ${JSON.stringify(input.slice(0, 300))}: ${why}`);
}

/** Splits off the registry the way Docker does: the first component is a host only if it looks like one. */
function splitDomain(name: string): { domain: string; remote: string } {
  const slash = name.indexOf('/');
  if (slash === -1) return { domain: DOCKER_HUB, remote: `library/${name}` };
  const first = name.slice(0, slash);
  let remote = name.slice(slash + 1);
  let domain: string;
  if (first === 'localhost' || /[.:]/.test(first) || first.toLowerCase() !== first) {
    domain = first === DOCKER_HUB_LEGACY ? DOCKER_HUB : first;
  } else {
    domain = DOCKER_HUB;
    remote = name;
  }
  if (domain === DOCKER_HUB && !remote.includes('/')) remote = `library/${remote}`;
  return { domain, remote };
}

/** Parses `debian`, `host:5000/path/repo:tag`, `repo@sha256:…` or `repo:tag@sha256:…` like `docker pull` does. */
export function parseReference(input: string): ImageReference {
  const s = input.trim();
  if (s === '') throw invalid(input, 'it is empty');
  if (/\s/.test(s)) throw invalid(input, 'it contains whitespace');
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s)) throw invalid(input, 'write it without a URL scheme');
  if (IDENTIFIER.test(s)) throw invalid(input, 'a bare 64-character hex string is an image ID, not a repository name');

  let rest = s;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    const digestText = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!ANY_DIGEST.test(digestText)) throw invalid(input, 'the digest after @ is malformed');
    if (!SHA256_DIGEST.test(digestText)) throw invalid(input, 'only sha256 digests (64 lowercase hex characters) are supported');
    digest = digestText as Digest;
  }

  // A colon after the last slash starts the tag; one before it belongs to host:port.
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(input, `tag ${JSON.stringify(tag.slice(0, 140))} is not valid`);
  }
  if (rest === '') throw invalid(input, 'the repository name is missing');

  const { domain, remote } = splitDomain(rest);
  if (!DOMAIN.test(domain)) throw invalid(input, `registry ${JSON.stringify(domain)} is not a valid host[:port]`);
  if (remote.toLowerCase() !== remote) throw invalid(input, `repository name ${JSON.stringify(remote)} must be lowercase`);
  if (!REMOTE_NAME.test(remote)) throw invalid(input, `repository name ${JSON.stringify(remote)} is not valid`);
  if (domain.length + 1 + remote.length > NAME_TOTAL_LENGTH_MAX) throw invalid(input, `the name is longer than ${NAME_TOTAL_LENGTH_MAX} characters`);

  const ref: ImageReference = { registry: domain, repository: remote, apiHost: apiHostFor(domain) };
  if (tag !== undefined) ref.tag = tag;
  else if (digest === undefined) ref.tag = DEFAULT_TAG;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** The host[:port] serving the registry API for a registry name. */
export function apiHostFor(registry: string): string {
  return registry === DOCKER_HUB || registry === DOCKER_HUB_LEGACY ? DOCKER_HUB_API_HOST : registry;
}

/** Canonical form, e.g. `docker.io/library/debian:latest` or `host:5000/repo:tag@sha256:…`. */
export function formatReference(ref: Pick<ImageReference, 'registry' | 'repository' | 'tag' | 'digest'>): string {
  let out = `${ref.registry}/${ref.repository}`;
  if (ref.tag) out += `:${ref.tag}`;
  if (ref.digest) out += `@${ref.digest}`;
  return out;
}

/** What to put after /manifests/: the digest wins over the tag, as Docker does. */
export function manifestReference(ref: Pick<ImageReference, 'tag' | 'digest'>): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}
