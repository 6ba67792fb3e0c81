import { rm } from 'node:fs/promises';
import type { Digest } from '../oci/digest.js';
import type { OciLayout } from './layout.js';
import { listCachedImages } from './refs.js';
import { listFlattened, removeFlattenedDir } from './flattened.js';
import { dropKeptImage, listKeptImages, orphanedKeptImages } from './kept-images.js';

export interface PruneReport {
  removed: Digest[];
  /** Merged tars that earlier rootforge builds kept, removed (see flattened.ts). */
  flattened: number;
  /** Built images kept for rebuilds that were removed (see kept-images.ts). */
  keptImages: number;
  freedBytes: number;
  staleTemps: number;
}

/** Blobs written this recently are kept: a concurrent warm may not have recorded its ref yet. */
export const PRUNE_GRACE_MS = 10 * 60 * 1000;

/**
 * Removes blobs no ref in index.json reaches (and, with `uncompressed`, the kept layer tars too), the
 * merged tars earlier rootforge builds kept, kept built images of manifests no ref names (with
 * `images`, all of them), and temp files of dead processes.
 */
export async function pruneCache(layout: OciLayout, opts: { uncompressed?: boolean; images?: boolean; graceMs?: number; now?: number } = {}): Promise<PruneReport> {
  const now = opts.now ?? Date.now();
  const grace = opts.graceMs ?? PRUNE_GRACE_MS;
  return layout.withIndexLock(async () => {
    const keep = new Set<Digest>();
    const keepManifests = new Set<Digest>();
    for (const image of await listCachedImages(layout)) {
      keepManifests.add(image.manifestDigest);
      for (const digest of opts.uncompressed ? image.distributed : image.blobs) keep.add(digest);
    }
    const report: PruneReport = { removed: [], flattened: 0, keptImages: 0, freedBytes: 0, staleTemps: (await layout.cleanStaleTemps(now)).length };
    for (const kept of await listKeptImages(layout.root)) {
      // A written entry can never be used again; others stay while a ref names their manifest, or they are new.
      const wanted = kept.unchanged && (keepManifests.has(kept.facts.manifestDigest) || now - kept.mtimeMs < grace);
      if (wanted && !opts.images) continue;
      await dropKeptImage(kept);
      report.keptImages++;
      report.freedBytes += kept.freeableBytes;
    }
    for (const orphan of await orphanedKeptImages(layout.root)) {
      if (now - orphan.mtimeMs < grace) continue;
      await rm(orphan.imagePath, { force: true });
      report.keptImages++;
      report.freedBytes += orphan.freeableBytes;
    }
    for (const file of await listFlattened(layout.root)) {
      // A recent one may still be written or read by an older rootforge running beside this one.
      if (now - file.mtimeMs < grace) continue;
      await rm(file.path, { force: true });
      report.flattened++;
      report.freedBytes += file.size;
    }
    await removeFlattenedDir(layout.root);
    for (const blob of await layout.listBlobs()) {
      if (keep.has(blob.digest) || now - blob.mtimeMs < grace) continue;
      await layout.removeBlob(blob.digest);
      report.removed.push(blob.digest);
      report.freedBytes += blob.size;
    }
    return report;
  });
}
