import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { GuestFile } from './guest-files.js';
import { loadInjectFile, overlayFiles, type Owner } from './overlay.js';

export interface UserFileOptions {
  /** Host directory copied into the image. */
  overlayDir?: string;
  /** Owner of the overlay's files (default root). */
  overlayOwner?: Owner;
  /** JSON file listing files, dirs and symlinks to add. */
  injectFile?: string;
}

export interface UserFiles {
  files: GuestFile[];
  /** Hash of every path, owner, mode and content, so a changed overlay triggers a rebuild. */
  digest: string | undefined;
}

/** The user's own files (--overlay, --inject), loaded once per run and shared by every image. */
export async function loadUserFiles(opts: UserFileOptions, signal?: AbortSignal): Promise<UserFiles> {
  const files: GuestFile[] = [];
  if (opts.overlayDir) files.push(...(await overlayFiles(opts.overlayDir, { ...(opts.overlayOwner ? { overlayOwner: opts.overlayOwner } : {}), ...(signal ? { signal } : {}) })));
  if (opts.injectFile) files.push(...(await loadInjectFile(opts.injectFile)));
  if (files.length === 0) return { files, digest: undefined };
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(JSON.stringify({ ...file, content: undefined, hostPath: undefined }));
    if (file.kind === 'file') hash.update(file.content ?? (file.hostPath ? await readFile(file.hostPath) : Buffer.alloc(0)));
  }
  return { files, digest: hash.digest('hex') };
}
