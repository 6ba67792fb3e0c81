import { createHash, type Hash } from 'node:crypto';
import { RootforgeError } from '../errors.js';

export type Digest = `sha256:${string}`;

const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

/** Only sha256 is accepted: it is what every registry serves and what the cache is keyed by. */
export function parseDigest(value: string): Digest {
  if (!SHA256_DIGEST.test(value)) {
    throw new RootforgeError('ERR_INVALID_DIGEST', `invalid digest ${JSON.stringify(value.slice(0, 100))}`);
  }
  return value as Digest;
}

export function isDigest(value: string): value is Digest {
  return SHA256_DIGEST.test(value);
}

export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

export function sha256Digest(data: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function newHasher(): Hash {
  return createHash('sha256');
}

export function hasherDigest(hash: Hash): Digest {
  return `sha256:${hash.digest('hex')}`;
}

/** sha256 of a whole file, streamed. */
export async function sha256File(path: string, signal?: AbortSignal): Promise<Digest> {
  const { createReadStream } = await import('node:fs');
  const hash = newHasher();
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20, ...(signal ? { signal } : {}) })) hash.update(chunk as Buffer);
  return hasherDigest(hash);
}
