/** Shared pieces of the registry tests: a recording BlobSink and a scriptable fake registry. */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BlobSink } from '../../src/oci/blob-sink.js';
import { sha256Digest, type Digest } from '../../src/oci/digest.js';
import type { RegistryClient } from '../../src/registry/client.js';
import type { ImageReference } from '../../src/registry/reference.js';
import type { PushedImage } from '../helpers/images.js';

/** Collects a blob in memory and counts resets, like the cache's BlobWriter would behave. */
export class RecordingSink implements BlobSink {
  chunks: Buffer[] = [];
  written = 0;
  resets = 0;

  constructor(prefix?: Buffer) {
    if (prefix) {
      this.chunks.push(prefix);
      this.written = prefix.byteLength;
    }
  }

  async write(chunk: Uint8Array): Promise<void> {
    this.chunks.push(Buffer.from(chunk));
    this.written += chunk.byteLength;
  }

  async reset(): Promise<void> {
    this.resets++;
    this.chunks = [];
    this.written = 0;
  }

  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

export interface FakeServer {
  host: string;
  url: string;
  seen: SeenRequest[];
  /** Connections that opened with something other than HTTP, such as a TLS handshake (each answered 400, as Node does). */
  readonly clientErrors: number;
  close(): Promise<void>;
}

/** A scriptable server on 127.0.0.1 for faults a real registry will not produce (resets, stalls, lying digests). */
export async function startFakeServer(handler: (req: IncomingMessage, res: ServerResponse, n: number) => void | Promise<void>): Promise<FakeServer> {
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const n = seen.length;
    seen.push({ method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers });
    Promise.resolve(handler(req, res, n)).catch(() => {
      res.destroy();
    });
  });
  let clientErrors = 0;
  server.on('clientError', (_error, socket) => {
    clientErrors++;
    socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    seen,
    get clientErrors() {
      return clientErrors;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Pulls `image`'s manifest and every layer with `client`; returns what each hashed to, for the test to compare. */
export async function pullDigests(client: RegistryClient, ref: ImageReference, image: PushedImage): Promise<{ manifest: Digest; layers: Digest[] }> {
  const manifest = (await client.getManifest(ref)).digest;
  const layers: Digest[] = [];
  for (const layer of image.layers) {
    const sink = new RecordingSink();
    await client.downloadBlob(ref, { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, sink);
    layers.push(sha256Digest(sink.bytes()));
  }
  return { manifest, layers };
}

/** What pullDigests returns when every byte arrived intact. */
export function expectedDigests(image: PushedImage): { manifest: Digest; layers: Digest[] } {
  return { manifest: image.manifestDigest, layers: image.layers.map((l) => l.digest) };
}
