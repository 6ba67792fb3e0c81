import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { RootforgeError } from '../../src/errors.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { MAX_MANIFEST_BYTES } from '../../src/oci/manifest.js';
import { MediaType } from '../../src/oci/media-types.js';
import type { Descriptor } from '../../src/oci/types.js';
import { RegistryClient, type RegistryClientOptions } from '../../src/registry/client.js';
import { parseReference, type ImageReference } from '../../src/registry/reference.js';
import { RecordingSink, startFakeServer, type FakeServer } from './support.js';

const servers: FakeServer[] = [];
const dirs: string[] = [];

async function fake(handler: Parameters<typeof startFakeServer>[0]): Promise<FakeServer> {
  const server = await startFakeServer(handler);
  servers.push(server);
  return server;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function client(opts: RegistryClientOptions = {}): RegistryClient {
  return new RegistryClient({ retries: 3, retryBaseMs: 5, retryMaxMs: 20, timeoutMs: 2000, env: {}, ...opts });
}

const manifestBody = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.OciManifest, config: { mediaType: MediaType.OciConfig, digest: sha256Digest('{}'), size: 2 }, layers: [] }));

/** A deterministic blob big enough to arrive in several chunks. */
function blobOf(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + (i >> 8)) & 0xff;
  return b;
}

function descriptorOf(blob: Buffer): Descriptor {
  return { mediaType: MediaType.OciLayerGzip, digest: sha256Digest(blob), size: blob.byteLength };
}

function refOn(server: FakeServer, rest = 'repo:tag'): ImageReference {
  return parseReference(`${server.host}/${rest}`);
}

/** Sends `bytes` then kills the connection once they are flushed, mimicking a dropped link. */
function sendThenDrop(res: ServerResponse, total: number, bytes: Buffer): void {
  res.writeHead(200, { 'content-length': String(total), 'content-type': 'application/octet-stream' });
  res.write(bytes, () => setTimeout(() => res.socket?.destroy(), 30));
}

function rangeStart(header: string | undefined): number {
  const m = /^bytes=(\d+)-$/.exec(header ?? '');
  return m ? Number(m[1]) : -1;
}

describe('manifest faults', () => {
  it('refuses a body that does not hash to the digest asked for', async () => {
    const wanted = sha256Digest('something else');
    const server = await fake((_req, res) => {
      res.writeHead(200, { 'content-type': MediaType.OciManifest }).end(manifestBody);
    });
    const error = await client().getManifest(refOn(server, `repo@${wanted}`)).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_DIGEST_MISMATCH', temporary: false });
    expect(server.seen).toHaveLength(1);
    expect(server.seen[0]?.path).toBe(`/v2/repo/manifests/${wanted}`);
  });

  it('refuses a body that contradicts Docker-Content-Digest', async () => {
    const server = await fake((_req, res) => {
      res.writeHead(200, { 'content-type': MediaType.OciManifest, 'docker-content-digest': sha256Digest('lie') }).end(manifestBody);
    });
    await expect(client().getManifest(refOn(server))).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
  });

  it('sends the Accept list and takes the media type from the body when Content-Type is generic', async () => {
    const server = await fake((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'docker-content-digest': sha256Digest(manifestBody) }).end(manifestBody);
    });
    const m = await client().getManifest(refOn(server));
    expect(m.mediaType).toBe(MediaType.OciManifest);
    expect(m.digest).toBe(sha256Digest(manifestBody));
    const accept = String(server.seen[0]?.headers.accept);
    for (const type of [MediaType.OciIndex, MediaType.OciManifest, MediaType.DockerManifestList, MediaType.DockerManifest]) expect(accept).toContain(type);
  });

  it('refuses a manifest whose Content-Length is over the cap, before reading it', async () => {
    const server = await fake((_req, res) => {
      res.writeHead(200, { 'content-type': MediaType.OciManifest, 'content-length': String(MAX_MANIFEST_BYTES + 1) });
      res.write('{');
    });
    await expect(client().getManifest(refOn(server))).rejects.toMatchObject({ code: 'ERR_MANIFEST_TOO_LARGE', temporary: false });
    expect(server.seen).toHaveLength(1);
  });

  it('stops reading a chunked manifest once it passes the cap', async () => {
    const server = await fake(async (_req, res) => {
      res.writeHead(200, { 'content-type': MediaType.OciManifest });
      const chunk = Buffer.alloc(256 * 1024, 0x20);
      for (let sent = 0; sent <= MAX_MANIFEST_BYTES && !res.destroyed; sent += chunk.byteLength) {
        if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      }
      res.end();
    });
    await expect(client().getManifest(refOn(server))).rejects.toMatchObject({ code: 'ERR_MANIFEST_TOO_LARGE' });
  });

  it('maps 404 to ERR_MANIFEST_UNKNOWN with the registry error code, and 403 to ERR_DENIED', async () => {
    const server = await fake((req, res) => {
      const body = JSON.stringify({ errors: [{ code: req.url?.includes('denied') ? 'DENIED' : 'MANIFEST_UNKNOWN', message: 'nope' }] });
      res.writeHead(req.url?.includes('denied') ? 403 : 404, { 'content-type': 'application/json' }).end(body);
    });
    const error = (await client().getManifest(refOn(server)).catch((e: unknown) => e)) as RootforgeError;
    expect(error).toMatchObject({ code: 'ERR_MANIFEST_UNKNOWN', image: `${server.host}/repo:tag` });
    expect(error.message).toContain('MANIFEST_UNKNOWN: nope');
    await expect(client().getManifest(refOn(server, 'denied:tag'))).rejects.toMatchObject({ code: 'ERR_DENIED' });
    expect(server.seen).toHaveLength(2);
  });
});

describe('retries', () => {
  it('honours Retry-After on 429, then succeeds', async () => {
    const server = await fake((_req, res, n) => {
      if (n === 0) res.writeHead(429, { 'retry-after': '1' }).end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
      else res.writeHead(200, { 'content-type': MediaType.OciManifest }).end(manifestBody);
    });
    const started = performance.now();
    const m = await client().getManifest(refOn(server));
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    expect(m.digest).toBe(sha256Digest(manifestBody));
    expect(server.seen).toHaveLength(2);
  });

  it('caps Retry-After with maxRetryAfterMs', async () => {
    const server = await fake((_req, res, n) => {
      if (n === 0) res.writeHead(429, { 'retry-after': new Date(Date.now() + 3_600_000).toUTCString() }).end();
      else res.writeHead(200, { 'content-type': MediaType.OciManifest }).end(manifestBody);
    });
    const started = performance.now();
    await client({ maxRetryAfterMs: 50 }).getManifest(refOn(server));
    expect(performance.now() - started).toBeLessThan(1500);
  });

  it('retries a 503, then succeeds', async () => {
    const server = await fake((_req, res, n) => {
      if (n === 0) res.writeHead(503).end('busy');
      else res.writeHead(200, { 'content-type': MediaType.OciManifest }).end(manifestBody);
    });
    await expect(client().getManifest(refOn(server))).resolves.toMatchObject({ digest: sha256Digest(manifestBody) });
    expect(server.seen).toHaveLength(2);
  });

  it('gives up after the configured retries with a temporary error', async () => {
    const server = await fake((_req, res) => {
      res.writeHead(502).end();
    });
    await expect(client({ retries: 2 }).getManifest(refOn(server))).rejects.toMatchObject({ code: 'ERR_REGISTRY', temporary: true });
    expect(server.seen).toHaveLength(3);
  });

  it('retries a refused connection as a network error', async () => {
    const server = await fake(() => undefined);
    const host = server.host;
    await server.close();
    servers.splice(servers.indexOf(server), 1);
    await expect(client({ retries: 1 }).getManifest(parseReference(`${host}/repo:tag`))).rejects.toMatchObject({ code: 'ERR_NETWORK', temporary: true });
  });

  it('times out a server that never answers, after bounded retries', async () => {
    const server = await fake(() => undefined);
    const started = performance.now();
    await expect(client({ retries: 1, timeoutMs: 150 }).getManifest(refOn(server))).rejects.toMatchObject({ code: 'ERR_TIMEOUT' });
    expect(server.seen).toHaveLength(2);
    expect(performance.now() - started).toBeLessThan(1500);
  });
});

describe('redirects', () => {
  it('follows a redirect to another host without our Authorization header', async () => {
    const blob = blobOf(10_000);
    const cdn = await fake((_req, res) => {
      res.writeHead(200, { 'content-length': String(blob.byteLength) }).end(blob);
    });
    const registry = await fake((req, res) => {
      if (req.headers.authorization !== `Basic ${Buffer.from('u:p').toString('base64')}`) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' }).end();
        return;
      }
      res.writeHead(307, { location: `${cdn.url}/blobs/x?X-Amz-Signature=secret` }).end();
    });
    const dir = await mkdtemp(join(tmpdir(), 'rootforge-dockercfg-'));
    dirs.push(dir);
    await writeFile(join(dir, 'config.json'), JSON.stringify({ auths: { [registry.host]: { username: 'u', password: 'p' } } }));
    const sink = new RecordingSink();
    await client({ env: { DOCKER_CONFIG: dir } }).downloadBlob(refOn(registry), descriptorOf(blob), sink);
    expect(sink.bytes().equals(blob)).toBe(true);
    expect(registry.seen.map((r) => Boolean(r.headers.authorization))).toEqual([false, true]);
    expect(cdn.seen).toHaveLength(1);
    expect(cdn.seen[0]?.headers.authorization).toBeUndefined();
    expect(cdn.seen[0]?.path).toBe('/blobs/x?X-Amz-Signature=secret');
  });

  it('retries through the registry when the redirect target refuses an expired signed URL', async () => {
    const blob = blobOf(5000);
    const cdn = await fake((_req, res, n) => {
      if (n === 0) res.writeHead(403).end('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
      else res.writeHead(200, { 'content-length': String(blob.byteLength) }).end(blob);
    });
    const registry = await fake((_req, res, n) => {
      res.writeHead(307, { location: `${cdn.url}/blob?sig=${n}` }).end();
    });
    const sink = new RecordingSink();
    await client().downloadBlob(refOn(registry), descriptorOf(blob), sink);
    expect(sink.bytes().equals(blob)).toBe(true);
    expect(cdn.seen.map((r) => r.path)).toEqual(['/blob?sig=0', '/blob?sig=1']);
  });

  it('stops a redirect loop with ERR_REDIRECT_LOOP', async () => {
    const server = await fake((req, res) => {
      res.writeHead(302, { location: req.url ?? '/' }).end();
    });
    const error = (await client().downloadBlob(refOn(server), descriptorOf(blobOf(10)), new RecordingSink()).catch((e: unknown) => e)) as RootforgeError;
    expect(error).toMatchObject({ code: 'ERR_REDIRECT_LOOP', temporary: false });
    expect(server.seen).toHaveLength(6);
  });

  it('refuses a redirect to plain HTTP on a non-loopback host', async () => {
    const server = await fake((_req, res) => {
      res.writeHead(302, { location: 'http://cdn.example.invalid/blob' }).end();
    });
    await expect(client().downloadBlob(refOn(server), descriptorOf(blobOf(10)), new RecordingSink())).rejects.toMatchObject({ code: 'ERR_INSECURE_REGISTRY' });
  });
});

describe('blob downloads', () => {
  it('resumes with Range after the connection drops mid-blob', async () => {
    const blob = blobOf(200_000);
    const server = await fake((req, res, n) => {
      if (n === 0) return sendThenDrop(res, blob.byteLength, blob.subarray(0, 50_000));
      const start = rangeStart(req.headers.range);
      res.writeHead(206, { 'content-range': `bytes ${start}-${blob.byteLength - 1}/${blob.byteLength}`, 'content-length': String(blob.byteLength - start) });
      res.end(blob.subarray(start));
    });
    const sink = new RecordingSink();
    const progress: number[] = [];
    await client().downloadBlob(refOn(server), descriptorOf(blob), sink, { onProgress: (b) => progress.push(b) });
    expect(server.seen).toHaveLength(2);
    expect(server.seen[0]?.headers.range).toBeUndefined();
    expect(server.seen[1]?.headers.range).toBe('bytes=50000-');
    expect(sink.resets).toBe(0);
    expect(sink.bytes().equals(blob)).toBe(true);
    expect(progress.at(-1)).toBe(blob.byteLength);
  });

  it('starts over cleanly when a Range request is answered with 200', async () => {
    const blob = blobOf(120_000);
    const server = await fake((_req, res, n) => {
      if (n === 0) return sendThenDrop(res, blob.byteLength, blob.subarray(0, 40_000));
      res.writeHead(200, { 'content-length': String(blob.byteLength) }).end(blob);
    });
    const sink = new RecordingSink();
    await client().downloadBlob(refOn(server), descriptorOf(blob), sink);
    expect(server.seen[1]?.headers.range).toBe('bytes=40000-');
    expect(sink.resets).toBe(1);
    expect(sink.bytes().equals(blob)).toBe(true);
  });

  it('starts over when a 206 answers another range than asked', async () => {
    const blob = blobOf(60_000);
    const server = await fake((_req, res, n) => {
      if (n === 0) return sendThenDrop(res, blob.byteLength, blob.subarray(0, 20_000));
      if (n === 1) {
        res.writeHead(206, { 'content-range': `bytes 10-${blob.byteLength - 1}/${blob.byteLength}` }).end(blob.subarray(10));
        return;
      }
      res.writeHead(200, { 'content-length': String(blob.byteLength) }).end(blob);
    });
    const sink = new RecordingSink();
    await client().downloadBlob(refOn(server), descriptorOf(blob), sink);
    expect(server.seen.map((r) => r.headers.range)).toEqual([undefined, 'bytes=20000-', undefined]);
    expect(sink.bytes().equals(blob)).toBe(true);
  });

  it('refuses a body declared longer than the descriptor size, without retrying', async () => {
    const blob = blobOf(1000);
    const server = await fake((_req, res) => {
      res.writeHead(200, { 'content-length': String(blob.byteLength * 2) }).end(Buffer.concat([blob, blob]));
    });
    const sink = new RecordingSink();
    await expect(client().downloadBlob(refOn(server), descriptorOf(blob), sink)).rejects.toMatchObject({ code: 'ERR_SIZE_MISMATCH', temporary: false });
    expect(server.seen).toHaveLength(1);
    expect(sink.written).toBe(0);
  });

  it('refuses a chunked body that runs past the descriptor size, never accepting the extra bytes', async () => {
    const blob = blobOf(100_000);
    const server = await fake((_req, res) => {
      res.writeHead(200);
      res.write(blob);
      res.end(Buffer.from('overflow'));
    });
    const sink = new RecordingSink();
    await expect(client().downloadBlob(refOn(server), descriptorOf(blob), sink)).rejects.toMatchObject({ code: 'ERR_SIZE_MISMATCH' });
    expect(sink.written).toBeLessThanOrEqual(blob.byteLength);
    expect(server.seen).toHaveLength(1);
  });

  it('does not hash the blob: a wrong body of the right size is the sink’s to catch', async () => {
    const blob = blobOf(500);
    const server = await fake((_req, res) => {
      res.writeHead(200, { 'content-length': '500' }).end(Buffer.alloc(500));
    });
    const sink = new RecordingSink();
    await client().downloadBlob(refOn(server), descriptorOf(blob), sink);
    expect(sha256Digest(sink.bytes())).not.toBe(sha256Digest(blob));
    await expect(client().getBlobBytes(refOn(server), descriptorOf(blob), 1000)).rejects.toMatchObject({ code: 'ERR_DIGEST_MISMATCH' });
  });

  it('times out a stalled body and retries a bounded number of times', async () => {
    const blob = blobOf(50_000);
    const server = await fake((_req, res) => {
      res.writeHead(200, { 'content-length': String(blob.byteLength) });
      res.write(blob.subarray(0, 1000));
    });
    const started = performance.now();
    const sink = new RecordingSink();
    const error = await client({ retries: 2, timeoutMs: 150 }).downloadBlob(refOn(server), descriptorOf(blob), sink).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_TIMEOUT', temporary: true, blob: sha256Digest(blob) });
    // Every stall uses up a retry, even one that came after progress: a first try and two retries.
    expect(server.seen.length).toBe(3);
    expect(performance.now() - started).toBeLessThan(1500);
  });

  it('maps 404, 401 and 403 on blobs', async () => {
    const server = await fake((req, res) => {
      const status = req.url?.includes('/missing/') ? 404 : req.url?.includes('/locked/') ? 401 : 403;
      res.writeHead(status).end();
    });
    const d = descriptorOf(blobOf(10));
    await expect(client().downloadBlob(refOn(server, 'missing:x'), d, new RecordingSink())).rejects.toMatchObject({ code: 'ERR_NOT_FOUND' });
    await expect(client().downloadBlob(refOn(server, 'locked:x'), d, new RecordingSink())).rejects.toMatchObject({ code: 'ERR_UNAUTHORIZED' });
    await expect(client().downloadBlob(refOn(server, 'other:x'), d, new RecordingSink())).rejects.toMatchObject({ code: 'ERR_DENIED' });
  });

  it('stops at once when the signal aborts, without retrying', async () => {
    const blob = blobOf(50_000);
    const server = await fake((_req, res) => {
      res.writeHead(200, { 'content-length': String(blob.byteLength) });
      res.write(blob.subarray(0, 1000));
    });
    const controller = new AbortController();
    const sink = new RecordingSink();
    const pending = client({ timeoutMs: 10_000 }).downloadBlob(refOn(server), descriptorOf(blob), sink, {
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    await expect(pending).rejects.toMatchObject({ code: 'ERR_ABORTED' });
    expect(server.seen).toHaveLength(1);
  });

  it('propagates sink failures without retrying', async () => {
    const blob = blobOf(5000);
    const server = await fake((_req, res) => {
      res.writeHead(200, { 'content-length': String(blob.byteLength) }).end(blob);
    });
    const sink = new RecordingSink();
    sink.write = async () => {
      throw Object.assign(new Error('disk full'), { code: 'ENOSPC' });
    };
    await expect(client().downloadBlob(refOn(server), descriptorOf(blob), sink)).rejects.toMatchObject({ code: 'ERR_NO_SPACE' });
    expect(server.seen).toHaveLength(1);
  });
});

describe('transport policy', () => {
  it('uses plain HTTP only for loopback and insecure registries', () => {
    const c = client({ insecureRegistries: ['myreg.lan:5000', 'http://other.lan'] });
    expect(c.allowsHttp(new URL('http://127.0.0.1:5000'))).toBe(true);
    expect(c.allowsHttp(new URL('http://127.1.2.3'))).toBe(true);
    expect(c.allowsHttp(new URL('http://localhost:5000'))).toBe(true);
    expect(c.allowsHttp(new URL('http://[::1]:5000'))).toBe(true);
    expect(c.allowsHttp(new URL('http://myreg.lan:5000'))).toBe(true);
    expect(c.allowsHttp(new URL('http://myreg.lan:6000'))).toBe(false);
    expect(c.allowsHttp(new URL('http://other.lan:1234'))).toBe(true);
    expect(c.allowsHttp(new URL('http://registry-1.docker.io'))).toBe(false);
    expect(c.allowsHttp(new URL('http://128.0.0.1'))).toBe(false);
    expect(c.allowsHttp(new URL('http://localhost.evil.com'))).toBe(false);
  });

  it('takes another thread\'s finding that a registry speaks plain HTTP only where plain HTTP is allowed', () => {
    const c = client({ insecureRegistries: ['myreg.lan:5000'] });
    for (const ref of ['127.0.0.1:5000/a:b', 'myreg.lan:5000/a:b', 'registry.example.com/a:b', 'myreg.lan:6000/a:b']) c.learnPlainHttp(parseReference(ref));
    expect(c.speaksPlainHttp(parseReference('127.0.0.1:5000/a:b'))).toBe(true);
    expect(c.speaksPlainHttp(parseReference('myreg.lan:5000/a:b'))).toBe(true);
    expect(c.speaksPlainHttp(parseReference('registry.example.com/a:b'))).toBe(false);
    expect(c.speaksPlainHttp(parseReference('myreg.lan:6000/a:b'))).toBe(false);
    expect(client().speaksPlainHttp(parseReference('127.0.0.1:5000/a:b'))).toBe(false);
  });
});
