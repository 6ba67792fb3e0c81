import { open } from 'node:fs/promises';
import { sha256File, type Digest } from '../oci/digest.js';

/** fsyncs a finished file (so a crash never leaves a renamed but unwritten file) and hashes it; the two overlap. */
export async function syncAndHash(path: string, signal?: AbortSignal): Promise<Digest> {
  const handle = await open(path, 'r+');
  try {
    const [, digest] = await Promise.all([handle.sync(), sha256File(path, signal)]);
    return digest;
  } finally {
    await handle.close();
  }
}
