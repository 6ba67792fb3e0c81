// A small top layer with the cases where flattening tools differ: whiteouts, an opaque directory, xattrs, owners, links.
import { lstatSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { TarEntrySpec } from '../../test/helpers/images.js';

const tarName = (hostPath: string): string => hostPath.replace(/^\/+/, '');

/** Directory entries for `dirs` and their parents, with the host's metadata, as docker writes them into every layer. */
function parentEntries(dirs: string[]): TarEntrySpec[] {
  const all = new Set<string>();
  for (const dir of dirs) for (let d = dir; d !== '/'; d = dirname(d)) all.add(d);
  return [...all].sort().map((dir) => {
    const s = lstatSync(dir);
    return { name: tarName(dir), type: 'directory', mode: s.mode & 0o7777, uid: s.uid, gid: s.gid, mtime: new Date(Math.floor(s.mtimeMs / 1000) * 1000) };
  });
}

/** `below` and `opaqueBelow` are host paths of earlier layers: one file there is deleted, one directory made opaque. */
export function quirksEntries(below: string[], opaqueBelow: string[]): TarEntrySpec[] {
  const deleted = below.find((p) => p.split('/').length > 3 && lstatSync(p).isFile());
  const opaque = opaqueBelow.find((p) => p.split('/').length > 4 && lstatSync(p).isDirectory() && opaqueBelow.filter((q) => dirname(q) === p).length >= 2);
  if (!deleted || !opaque) throw new Error('the lower layers have no file to delete or directory to make opaque');
  // crane export writes the top layer first, so without these mkfs.ext4 -d - meets files before their directories.
  return [
    ...parentEntries([dirname(deleted), opaque]),
    { name: `${tarName(dirname(deleted))}/.wh.${basename(deleted)}` },
    { name: `${tarName(opaque)}/.wh..wh..opq` },
    { name: `${tarName(opaque)}/added-over-opaque.txt`, content: 'only this file is left in the opaque directory\n' },
    { name: 'opt', type: 'directory' },
    { name: 'opt/quirks', type: 'directory' },
    { name: 'opt/quirks/user-xattr.txt', content: 'has user.rootforge-bench\n', pax: { 'SCHILY.xattr.user.rootforge-bench': 'kept' } },
    { name: 'opt/quirks/owned-1000.txt', content: 'uid 1000\n', uid: 1000, gid: 1000, mode: 0o640 },
    // GNU tar repeats the inode's metadata on the link entry; mkfs.ext4 -d - applies it to the shared inode.
    { name: 'opt/quirks/hardlink.txt', type: 'link', linkname: 'opt/quirks/owned-1000.txt', uid: 1000, gid: 1000, mode: 0o640 },
    { name: 'opt/quirks/setuid', content: '#!/bin/sh\n', mode: 0o4755 },
    { name: 'var', type: 'directory' },
    { name: 'var/mail', type: 'directory', gid: 8, mode: 0o2775 },
  ];
}
