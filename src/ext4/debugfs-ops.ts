/** The debugfs commands rootforge issues; a pure builder turns these into one `debugfs -w -f -` script. */
export type DebugfsOp =
  | { op: 'mkdir'; path: string }
  | { op: 'write'; hostPath: string; path: string }
  | { op: 'symlink'; path: string; target: string }
  | { op: 'mknod'; path: string; kind: 'char' | 'block' | 'fifo'; major?: number; minor?: number }
  /** A second name for an existing inode; debugfs does not count it, so follow with links_count. */
  | { op: 'link'; path: string; target: string }
  | { op: 'set_inode_field'; path: string; field: 'uid' | 'gid' | 'mode' | 'mtime' | 'atime' | 'ctime' | 'links_count'; value: number | string }
  | { op: 'ea_set'; path: string; name: string; valueFile: string }
  | { op: 'unlink'; path: string }
  | { op: 'rm'; path: string }
  | { op: 'rmdir'; path: string };
