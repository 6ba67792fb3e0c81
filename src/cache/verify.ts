import { sha256File, type Digest } from '../oci/digest.js';
import type { OciLayout } from './layout.js';
import { dropKeptImage, listKeptImages } from './kept-images.js';

export interface VerifyReport {
  checked: number;
  bad: Digest[];
  removed: Digest[];
  /** Built images kept for rebuilds: how many were hashed, and the paths of those whose bytes no longer match. */
  keptImagesChecked: number;
  badKeptImages: string[];
}

/** Re-hashes every blob and kept image; with `fix`, removes the ones whose content no longer matches. */
export async function verifyCache(layout: OciLayout, opts: { fix?: boolean; signal?: AbortSignal } = {}): Promise<VerifyReport> {
  const report: VerifyReport = { checked: 0, bad: [], removed: [], keptImagesChecked: 0, badKeptImages: [] };
  for (const kept of await listKeptImages(layout.root)) {
    opts.signal?.throwIfAborted();
    // An entry whose output was written to (booted) is not damage: builds drop it unread, and so does prune.
    if (!kept.unchanged) continue;
    const good = (await sha256File(kept.imagePath, opts.signal).catch((error: unknown) => {
      if ((error as Error).name === 'AbortError') throw error;
      return undefined;
    })) === kept.facts.sha256;
    report.keptImagesChecked++;
    if (good) continue;
    report.badKeptImages.push(kept.imagePath);
    if (opts.fix) await dropKeptImage(kept);
  }
  for (const blob of await layout.listBlobs()) {
    opts.signal?.throwIfAborted();
    let actual: Digest | undefined;
    try {
      actual = await layout.hashBlob(blob.digest, opts.signal);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // pruned meanwhile
      if ((error as Error).name === 'AbortError') throw error;
    }
    report.checked++;
    if (actual !== blob.digest) {
      report.bad.push(blob.digest);
      if (opts.fix) {
        await layout.removeBlob(blob.digest);
        report.removed.push(blob.digest);
      }
    }
  }
  return report;
}
