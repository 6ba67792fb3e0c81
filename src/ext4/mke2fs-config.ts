/** The mke2fs.conf rootforge runs mkfs with, and the environment every e2fsprogs tool gets. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Pinned so images never depend on the host's mke2fs.conf; 1.46's ext4 features, as 1.47's orphan_file is read-only before Linux 5.15. */
export const MKE2FS_CONF = `[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384

[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
	default = {
	}
`;

/** LC_ALL=C.UTF-8, not C: under C libarchive rejects non-ASCII PAX paths; C.UTF-8 still prints the English we match. */
export function e2fsEnv(extra: Readonly<Record<string, string>> = {}, configPath?: string): Record<string, string> {
  const env: Record<string, string> = { ...extra, LC_ALL: 'C.UTF-8', LANGUAGE: '', DEBUGFS_PAGER: '__none__', PAGER: 'cat' };
  if (configPath) env.MKE2FS_CONFIG = configPath;
  return env;
}

/** Runs fn with MKE2FS_CONF written to a private temp file, removed afterwards. */
export async function withMke2fsConfig<T>(fn: (configPath: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'rootforge-mke2fs-'));
  try {
    const path = join(dir, 'mke2fs.conf');
    await writeFile(path, MKE2FS_CONF);
    return await fn(path);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
