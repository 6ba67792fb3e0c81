import type { Digest } from '../oci/digest.js';
import type { OciLayout } from './layout.js';

export interface VerifyReport {
  checked: number;
  bad: Digest[];
  removed: Digest[];
}

/** Re-hashes every blob; with `fix`, removes the ones whose content no longer matches their name. */
export async function verifyCache(layout: OciLayout, opts: { fix?: boolean; signal?: AbortSignal } = {}): Promise<VerifyReport> {
  const report: VerifyReport = { checked: 0, bad: [], removed: [] };
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
