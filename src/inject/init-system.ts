import { posix } from 'node:path';
import type { RootfsEntry } from '../layer/types.js';

/** The init system an image boots with, as far as its files tell. */
export type InitSystem = 'systemd' | 'openrc' | 'busybox' | 'none';

const SYSTEMD_BINARIES = ['lib/systemd/systemd', 'usr/lib/systemd/systemd'];
const INIT_LINKS = ['sbin/init', 'usr/sbin/init'];
const OPENRC_BINARIES = ['sbin/openrc', 'sbin/openrc-run', 'usr/sbin/openrc', 'usr/sbin/openrc-run'];
const BUSYBOX_MARKERS = ['etc/inittab', 'bin/busybox', 'usr/bin/busybox'];

/** Detects the init system from the image's final tree: systemd, then OpenRC, then busybox-style init. */
export function detectInitSystem(entries: readonly RootfsEntry[]): InitSystem {
  const byPath = new Map<string, RootfsEntry>();
  for (const entry of entries) byPath.set(entry.path, entry);
  const present = (path: string): boolean => {
    const type = byPath.get(path)?.type;
    return type === 'file' || type === 'symlink';
  };

  if (SYSTEMD_BINARIES.some(present)) return 'systemd';
  for (const link of INIT_LINKS) {
    const entry = byPath.get(link);
    if (entry?.type === 'symlink' && entry.linkTarget !== undefined && posix.basename(entry.linkTarget) === 'systemd') return 'systemd';
  }
  if (OPENRC_BINARIES.some(present) && byPath.get('etc/init.d')?.type === 'dir') return 'openrc';
  if (BUSYBOX_MARKERS.some(present)) return 'busybox';
  return 'none';
}
