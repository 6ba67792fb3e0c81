import type { Digest } from '../oci/digest.js';
import type { ResolvedImage } from './resolve.js';

/** `<name>.json` beside each image: where it came from and how to boot it. */
export interface Sidecar {
  ref: string;
  name: string;
  manifestDigest: Digest;
  configDigest: Digest;
  diffIds: Digest[];
  platform: string;
  sizeBytes: number;
  entries: number;
  populate: 'tar' | 'dir';
  init: string;
  injected: string[];
  /** Hash of everything that shaped the output; a rerun with the same key reuses it. */
  buildKey: string;
  /** sha256 of the .ext4 file. */
  sha256: Digest;
  /** Whether the same inputs and options give these exact bytes again (tar path: yes; dir path: no). */
  reproducible: boolean;
  /** The timestamp every inode mkfs and debugfs created carries. */
  sourceDateEpoch: number;
  /** Filesystem UUID. */
  uuid: string;
  config: {
    Entrypoint: string[] | null;
    Cmd: string[] | null;
    Env: string[];
    WorkingDir: string;
    User: string;
  };
  rootforgeVersion: string;
}

export function imageConfigSummary(image: ResolvedImage): Sidecar['config'] {
  const c = image.config.config ?? {};
  return { Entrypoint: c.Entrypoint ?? null, Cmd: c.Cmd ?? null, Env: c.Env ?? [], WorkingDir: c.WorkingDir ?? '', User: c.User ?? '' };
}
