import type { Digest } from '../oci/digest.js';
import type { OciLayout } from './layout.js';
import { listCachedImages } from './refs.js';

export interface PruneReport {
  removed: Digest[];
  freedBytes: number;
  staleTemps: number;
}

/** Blobs written this recently are kept: a concurrent warm may not have recorded its ref yet. */
export const PRUNE_GRACE_MS = 10 * 60 * 1000;

/**
 * Removes blobs no ref in index.json reaches (and, with `uncompressed`, the kept layer tars too),
 * plus temp files of dead processes.
 */
export async function pruneCache(layout: OciLayout, opts: { uncompressed?: boolean; graceMs?: number; now?: number } = {}): Promise<PruneReport> {
  const now = opts.now ?? Date.now();
  const grace = opts.graceMs ?? PRUNE_GRACE_MS;
  return layout.withIndexLock(async () => {
    const keep = new Set<Digest>();
    for (const image of await listCachedImages(layout)) {
      for (const digest of opts.uncompressed ? image.distributed : image.blobs) keep.add(digest);
    }
    const report: PruneReport = { removed: [], freedBytes: 0, staleTemps: (await layout.cleanStaleTemps(now)).length };
    for (const blob of await layout.listBlobs()) {
      if (keep.has(blob.digest) || now - blob.mtimeMs < grace) continue;
      await layout.removeBlob(blob.digest);
      report.removed.push(blob.digest);
      report.freedBytes += blob.size;
    }
    return report;
  });
}
