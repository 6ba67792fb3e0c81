/** One path of the final root filesystem, after every layer has been replayed. */
export type EntryType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo';

export interface RootfsEntry {
  /** Normalised path relative to the root: no leading '/', no '.', no '..', '' is the root itself. */
  path: string;
  type: EntryType;
  /** Permission bits including setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time, whole seconds since the epoch. */
  mtime: number;
  /** Content size in bytes (files only; 0 otherwise). */
  size: number;
  /** Symlink target, verbatim from the layer. */
  linkTarget?: string;
  /** For the second and later paths of a hardlinked file: the path emitted first. */
  hardlinkTo?: string;
  devMajor?: number;
  devMinor?: number;
  /** Extended attributes from PAX SCHILY.xattr.* records, name -> raw value. */
  xattrs?: Record<string, Buffer>;
}

/** An uncompressed layer tar on disk, oldest first. */
export interface LayerSource {
  /** Path of the uncompressed tar (verified against its diff_id before use). */
  path: string;
  /** The layer's diff_id, used to name the layer in errors. */
  diffId: string;
  /** Where the layer's table of contents is kept between runs (see layer-index.ts); without it, every replay scans the tar. */
  indexPath?: string;
}

/** Counts for the final tree, for sizing and reports. */
export interface RootfsStats {
  /** Paths of each type, the root included; a hardlinked path counts as its target's type. */
  byType: Record<EntryType, number>;
  /** Paths that are extra names of an inode already counted (entries with hardlinkTo). */
  hardlinks: number;
  /** Bytes of regular file content, each inode counted once. */
  fileBytes: number;
  /** The most children any one directory has. */
  maxDirEntries: number;
  /** Tar entries read across all layers, whiteouts included. */
  tarEntries: number;
  /** AUFS metadata entries (.wh..wh.*) that were skipped. */
  ignoredEntries: number;
}

/** What materializeTree left for the ext4 stage to finish. */
export interface StagedInfo {
  /** Paths staged with a mode other than their real one (so the runner can read them, or so no setuid file sits on the host): path -> staged mode. */
  stagedModes: Map<string, number>;
  /** Devices and fifos (and their extra hardlink paths), not created in staging because that needs root. */
  special: RootfsEntry[];
}
