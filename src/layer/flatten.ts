/** Flattens the replayed tree into the plan: paths parent-first in byte order, hardlinks named, file contents indexed by layer entry. */
import type { LayerSource, RootfsEntry, RootfsStats } from './types.js';
import type { Inode, TreeNode, VirtualTree } from './vtree.js';

/** One surviving regular file whose bytes are entry `ordinal` of a layer tar. */
export interface PlannedContent {
  ordinal: number;
  /** The entry's raw tar name, for errors. */
  name: string;
  /** Where the content starts in the layer tar. */
  offset: number;
  size: number;
  /** The path written as the regular file (first in plan order). */
  file: RootfsEntry;
  /** Its other paths, each with hardlinkTo = file.path, in plan order. */
  links: RootfsEntry[];
}

/** The final tree of an image, and the index the emitters stream layer contents by. */
export interface RootfsPlan {
  readonly layers: readonly LayerSource[];
  readonly stats: RootfsStats;
  /** Every final path, parent-first: the root '' first, then depth-first with children in byte order of their UTF-8 names. */
  entries(): RootfsEntry[];
  /** The files whose content lives in layer `index`, keyed by entry ordinal; empty when nothing of that layer survives. */
  contents(index: number): ReadonlyMap<number, PlannedContent>;
}

function toEntry(path: string, inode: Inode): RootfsEntry {
  const entry: RootfsEntry = { path, type: inode.type, mode: inode.mode, uid: inode.uid, gid: inode.gid, mtime: inode.mtime, size: inode.type === 'file' ? inode.size : 0 };
  if (inode.linkTarget !== undefined) entry.linkTarget = inode.linkTarget;
  if (inode.devMajor !== undefined) entry.devMajor = inode.devMajor;
  if (inode.devMinor !== undefined) entry.devMinor = inode.devMinor;
  if (inode.xattrs) entry.xattrs = inode.xattrs;
  return entry;
}

function sortedChildren(node: TreeNode): TreeNode[] {
  const keyed = [...node.children!.values()].map((child) => ({ key: Buffer.from(child.name), child }));
  keyed.sort((a, b) => Buffer.compare(a.key, b.key));
  return keyed.map((k) => k.child);
}

export function flattenTree(tree: VirtualTree, layers: readonly LayerSource[], counts: { tarEntries: number; ignoredEntries: number }): RootfsPlan {
  const entries: RootfsEntry[] = [];
  const contents = layers.map(() => new Map<number, PlannedContent>());
  const firstPath = new Map<Inode, PlannedContent | string>();
  const stats: RootfsStats = {
    byType: { file: 0, dir: 0, symlink: 0, char: 0, block: 0, fifo: 0 },
    hardlinks: 0,
    fileBytes: 0,
    maxDirEntries: 0,
    ...counts,
  };
  // Iterative, so a deep tree cannot overflow the stack.
  const stack: Array<[TreeNode, string]> = [[tree.root, '']];
  while (stack.length > 0) {
    const [node, path] = stack.pop()!;
    const inode = node.inode;
    const entry = toEntry(path, inode);
    entries.push(entry);
    stats.byType[inode.type]++;
    const first = firstPath.get(inode);
    if (first !== undefined) {
      entry.hardlinkTo = typeof first === 'string' ? first : first.file.path;
      if (typeof first !== 'string') first.links.push(entry);
      stats.hardlinks++;
    } else if (inode.type === 'file' && inode.source) {
      const planned: PlannedContent = { ordinal: inode.source.ordinal, name: inode.source.name, offset: inode.source.offset, size: inode.size, file: entry, links: [] };
      contents[inode.source.layer]!.set(inode.source.ordinal, planned);
      firstPath.set(inode, planned);
      stats.fileBytes += inode.size;
    } else {
      firstPath.set(inode, path);
    }
    if (node.children) {
      stats.maxDirEntries = Math.max(stats.maxDirEntries, node.children.size);
      const children = sortedChildren(node);
      for (let i = children.length - 1; i >= 0; i--) {
        const child = children[i]!;
        stack.push([child, path === '' ? child.name : `${path}/${child.name}`]);
      }
    }
  }
  return {
    layers,
    stats,
    entries: () => entries.slice(),
    contents: (index) => contents[index] ?? new Map(),
  };
}
