/** Builds tiny real images in memory and pushes them over the registry HTTP API, so tests need no docker daemon. */
import { gzipSync } from 'node:zlib';
import { execa } from 'execa';
import { pack as tarPack, type Header } from 'tar-stream';
import { request } from 'undici';
import { sha256Digest, type Digest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { basicAuthorization, fetchBearerToken, parseWwwAuthenticate } from '../../src/registry/auth.js';
import type { TestRegistry } from './registry.js';

export interface TarEntrySpec {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  content?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: Date;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  pax?: Record<string, string>;
}

export type Compression = 'gzip' | 'zstd' | 'none';
export type ImageFormat = 'oci' | 'docker';

export interface BuiltLayer {
  blob: Buffer;
  digest: Digest;
  diffId: Digest;
  mediaType: string;
  size: number;
}

export interface PushedImage {
  manifestDigest: Digest;
  configDigest: Digest;
  layers: BuiltLayer[];
  manifest: Buffer;
  config: Buffer;
  /** Media type the manifest was pushed with. */
  mediaType: string;
}

export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
}

export interface PushAuth {
  username: string;
  password: string;
}

/** Fixed so the same entries always give the same tar, and so the same digests. */
const EPOCH = new Date('2024-01-01T00:00:00Z');

/** A tar of `entries` (tar-stream pack), with deterministic defaults: root-owned, 2024-01-01. */
export async function makeTar(entries: TarEntrySpec[]): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  // Drain while adding entries, so a large entry cannot stall on backpressure.
  const collected = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const e of entries) {
    const type = e.type ?? 'file';
    const header: Partial<Header> & Pick<Header, 'name'> = {
      name: e.name,
      type,
      // tar-stream's pack treats mode 0 as unset; a file-type bit keeps it truthy and is masked off when encoded.
      mode: e.mode === 0 ? 0o100000 : (e.mode ?? (type === 'directory' ? 0o755 : type === 'symlink' ? 0o777 : 0o644)),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? EPOCH,
    };
    if (e.linkname !== undefined) header.linkname = e.linkname;
    if (e.devmajor !== undefined) header.devmajor = e.devmajor;
    if (e.devminor !== undefined) header.devminor = e.devminor;
    if (e.pax) header.pax = e.pax;
    const content = type === 'file' ? Buffer.from(e.content ?? '') : undefined;
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (content) pack.entry(header, content, done);
      else pack.entry(header, done);
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

export async function compress(tar: Buffer, c: Compression): Promise<Buffer> {
  if (c === 'none') return tar;
  if (c === 'gzip') return gzipSync(tar);
  const { stdout } = await execa('zstd', ['-q', '-c', '-3'], { input: tar, encoding: 'buffer' });
  return Buffer.from(stdout);
}

function layerMediaType(format: ImageFormat, c: Compression): string {
  if (format === 'docker') return c === 'gzip' ? MediaType.DockerLayerGzip : c === 'zstd' ? MediaType.DockerLayerZstd : MediaType.DockerLayer;
  return c === 'gzip' ? MediaType.OciLayerGzip : c === 'zstd' ? MediaType.OciLayerZstd : MediaType.OciLayer;
}

export async function buildLayer(entries: TarEntrySpec[], opts: { compression?: Compression; format?: ImageFormat } = {}): Promise<BuiltLayer> {
  return layerFromTar(await makeTar(entries), opts);
}

/** A layer of these exact tar bytes, however malformed: its diff_id matches them, so only the tar itself is wrong. */
export async function layerFromTar(tar: Buffer, opts: { compression?: Compression; format?: ImageFormat } = {}): Promise<BuiltLayer> {
  const compression = opts.compression ?? 'gzip';
  const blob = await compress(tar, compression);
  return { blob, digest: sha256Digest(blob), diffId: sha256Digest(tar), mediaType: layerMediaType(opts.format ?? 'oci', compression), size: blob.byteLength };
}

// Authorization headers per registry and repository, so a test pushing many blobs authenticates once.
const authCache = new Map<string, string>();

interface PushRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT';
  url: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

/** One request with push rights: answers a Basic or Bearer challenge once, with the given or the registry's login. */
async function pushRequest(reg: TestRegistry, repo: string, req: PushRequest, auth?: PushAuth): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
  const creds = auth ?? reg.credentials;
  const key = `${reg.host}|${repo}|${creds?.username ?? ''}`;
  for (let challenged = false; ; challenged = true) {
    const headers: Record<string, string> = { 'user-agent': 'rootforge-test-push', ...req.headers };
    const authorization = authCache.get(key);
    if (authorization) headers.authorization = authorization;
    const res = await request(new URL(req.url, reg.url), { method: req.method, headers, body: req.body, dispatcher: reg.dispatcher });
    const body = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode !== 401 || challenged) return { status: res.statusCode, headers: res.headers, body };
    const header = res.headers['www-authenticate'];
    const challenges = (Array.isArray(header) ? header : header ? [header] : []).flatMap(parseWwwAuthenticate);
    const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.realm);
    if (bearer) {
      const token = await fetchBearerToken({
        realm: bearer.params.realm as string,
        ...(bearer.params.service !== undefined ? { service: bearer.params.service } : {}),
        scopes: [`repository:${repo}:pull,push`],
        ...(creds ? { credentials: creds } : {}),
        userAgent: 'rootforge-test-push',
        timeoutMs: 10_000,
        allowHttp: () => true,
        registry: reg.host,
      });
      authCache.set(key, `Bearer ${token.token}`);
    } else if (creds) {
      authCache.set(key, basicAuthorization(creds));
    } else {
      return { status: res.statusCode, headers: res.headers, body };
    }
  }
}

function fail(what: string, res: { status: number; body: Buffer }): never {
  throw new Error(`${what}: HTTP ${res.status} ${res.body.toString('utf8').slice(0, 500)}`);
}

/** Uploads a blob as-is (POST then PUT ?digest=); returns its digest. */
export async function pushBlob(reg: TestRegistry, repo: string, data: Buffer, opts: { auth?: PushAuth } = {}): Promise<Digest> {
  const digest = sha256Digest(data);
  const start = await pushRequest(reg, repo, { method: 'POST', url: `/v2/${repo}/blobs/uploads/` }, opts.auth);
  if (start.status !== 202) fail(`starting an upload to ${repo}`, start);
  const location = start.headers.location;
  if (typeof location !== 'string') throw new Error('upload start answered without Location');
  const url = new URL(location, reg.url);
  url.searchParams.set('digest', digest);
  const done = await pushRequest(reg, repo, {
    method: 'PUT',
    url: url.toString(),
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.byteLength) },
    body: data,
  }, opts.auth);
  if (done.status !== 201) fail(`uploading ${digest} to ${repo}`, done);
  return digest;
}

/** PUTs a manifest body as-is under `tag` (or a digest); returns the digest of the body. */
export async function pushManifest(reg: TestRegistry, repo: string, tag: string, body: Buffer, mediaType: string, opts: { auth?: PushAuth } = {}): Promise<Digest> {
  const res = await pushRequest(reg, repo, { method: 'PUT', url: `/v2/${repo}/manifests/${tag}`, headers: { 'content-type': mediaType }, body }, opts.auth);
  if (res.status !== 201) fail(`pushing manifest ${repo}:${tag}`, res);
  return sha256Digest(body);
}

const DEFAULT_PLATFORM: PlatformSpec = { os: 'linux', architecture: 'amd64' };

function defaultConfig(platform: PlatformSpec, diffIds: Digest[]): Record<string, unknown> {
  return {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    created: EPOCH.toISOString(),
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: diffIds.map(() => ({ created: EPOCH.toISOString(), created_by: 'rootforge test' })),
  };
}

/** Pushes layers, config and manifest; `config` merges over the default (its `config` key one level deep) so tests can break it. */
export async function pushImage(
  reg: TestRegistry,
  repo: string,
  tag: string,
  opts: { layers: BuiltLayer[]; format?: ImageFormat; platform?: PlatformSpec; config?: object; auth?: PushAuth },
): Promise<PushedImage> {
  const format = opts.format ?? 'oci';
  const platform = opts.platform ?? DEFAULT_PLATFORM;
  const base = defaultConfig(platform, opts.layers.map((l) => l.diffId));
  const extra = (opts.config ?? {}) as Record<string, unknown>;
  const merged = { ...base, ...extra, config: { ...(base.config as object), ...((extra.config as object | undefined) ?? {}) } };
  const config = Buffer.from(JSON.stringify(merged));
  const auth = opts.auth ? { auth: opts.auth } : {};
  for (const layer of opts.layers) await pushBlob(reg, repo, layer.blob, auth);
  const configDigest = await pushBlob(reg, repo, config, auth);
  const mediaType = format === 'docker' ? MediaType.DockerManifest : MediaType.OciManifest;
  const manifestJson = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: format === 'docker' ? MediaType.DockerConfig : MediaType.OciConfig, digest: configDigest, size: config.byteLength },
    layers: opts.layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  };
  const manifest = Buffer.from(JSON.stringify(manifestJson));
  const manifestDigest = await pushManifest(reg, repo, tag, manifest, mediaType, auth);
  return { manifestDigest, configDigest, layers: opts.layers, manifest, config, mediaType };
}

/** A buildx-style attestation manifest for `subject`, pushed by digest; returns its index entry. */
async function pushAttestation(reg: TestRegistry, repo: string, subject: PushedImage, auth: { auth?: PushAuth }): Promise<Record<string, unknown>> {
  const statement = Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v0.1', predicateType: 'https://spdx.dev/Document', subject: [], predicate: {} }));
  const statementDigest = await pushBlob(reg, repo, statement, auth);
  const config = Buffer.from(JSON.stringify({ architecture: 'unknown', os: 'unknown', config: {}, rootfs: { type: 'layers', diff_ids: [statementDigest] } }));
  const configDigest = await pushBlob(reg, repo, config, auth);
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MediaType.OciManifest,
    config: { mediaType: MediaType.OciConfig, digest: configDigest, size: config.byteLength },
    layers: [{ mediaType: 'application/vnd.in-toto+json', digest: statementDigest, size: statement.byteLength, annotations: { 'in-toto.io/predicate-type': 'https://spdx.dev/Document' } }],
  }));
  const digest = sha256Digest(manifest);
  await pushManifest(reg, repo, digest, manifest, MediaType.OciManifest, auth);
  return {
    mediaType: MediaType.OciManifest,
    digest,
    size: manifest.byteLength,
    annotations: { 'vnd.docker.reference.digest': subject.manifestDigest, 'vnd.docker.reference.type': 'attestation-manifest' },
    platform: { architecture: 'unknown', os: 'unknown' },
  };
}

/** Pushes an index or manifest list; `attestation: true` adds buildx's unknown/unknown attestation entry for that image. */
export async function pushIndex(
  reg: TestRegistry,
  repo: string,
  tag: string,
  images: { image: PushedImage; platform: PlatformSpec; attestation?: boolean }[],
  opts: { format?: ImageFormat; auth?: PushAuth } = {},
): Promise<{ digest: Digest; body: Buffer; mediaType: string }> {
  const format = opts.format ?? 'oci';
  const auth = opts.auth ? { auth: opts.auth } : {};
  const manifests: Record<string, unknown>[] = [];
  const attestations: Record<string, unknown>[] = [];
  for (const { image, platform, attestation } of images) {
    manifests.push({ mediaType: image.mediaType, digest: image.manifestDigest, size: image.manifest.byteLength, platform });
    if (attestation) attestations.push(await pushAttestation(reg, repo, image, auth));
  }
  const mediaType = format === 'docker' ? MediaType.DockerManifestList : MediaType.OciIndex;
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, manifests: [...manifests, ...attestations] }));
  const digest = await pushManifest(reg, repo, tag, body, mediaType, auth);
  return { digest, body, mediaType };
}
