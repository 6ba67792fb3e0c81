// Compares two read-back ext4 trees on what a guest sees: paths, types, modes, owners, sizes, link targets, content, xattrs.
import type { Ext4Node } from '../../test/helpers/ext4-read.js';

export interface TreeDiff {
  onlyInRootforge: string[];
  onlyInPeer: string[];
  /** Per field, the paths where the two differ, with both values for the first few. */
  differing: Record<string, { count: number; examples: { path: string; rootforge: unknown; peer: unknown }[] }>;
}

const EXAMPLES = 5;

function fieldsOf(node: Ext4Node): Record<string, unknown> {
  const content = node.type === 'file' || node.type === 'symlink';
  return {
    type: node.type,
    mode: node.mode.toString(8),
    owner: `${node.uid}:${node.gid}`,
    ...(content ? { size: node.size } : {}),
    ...(node.linkTarget !== undefined ? { linkTarget: node.linkTarget } : {}),
    ...(node.sha256 !== undefined ? { content: node.sha256.slice(0, 12) } : {}),
    xattrs: Object.keys(node.xattrs).sort().join(',') || '-',
  };
}

/** `ignore` drops paths only rootforge puts there on purpose (its guest files) from both sides. */
export function diffTrees(rootforge: Map<string, Ext4Node>, peer: Map<string, Ext4Node>, ignore: (path: string) => boolean): TreeDiff {
  const diff: TreeDiff = { onlyInRootforge: [], onlyInPeer: [], differing: {} };
  for (const [path, node] of rootforge) {
    if (ignore(path)) continue;
    const other = peer.get(path);
    if (!other) {
      diff.onlyInRootforge.push(path);
      continue;
    }
    const ours = fieldsOf(node);
    const theirs = fieldsOf(other);
    for (const field of new Set([...Object.keys(ours), ...Object.keys(theirs)])) {
      if (ours[field] === theirs[field]) continue;
      const entry = (diff.differing[field] ??= { count: 0, examples: [] });
      entry.count++;
      if (entry.examples.length < EXAMPLES) entry.examples.push({ path, rootforge: ours[field], peer: theirs[field] });
    }
  }
  for (const path of peer.keys()) if (!rootforge.has(path) && !ignore(path)) diff.onlyInPeer.push(path);
  return diff;
}
