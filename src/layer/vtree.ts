/** The in-memory tree layers are replayed into: it never follows a symlink and never touches the host filesystem. */
import { RootforgeError } from '../errors.js';
import type { EntryType } from './types.js';

/** Where a regular file's bytes are: which layer, which entry of it. */
export interface ContentSource {
  layer: number;
  ordinal: number;
  /** The entry's raw tar name, for errors. */
  name: string;
  /** Where the content starts in the layer tar. */
  offset: number;
}

/** One file object; hardlinked paths share it, so content and metadata come from the link target. */
export interface Inode {
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkTarget?: string;
  devMajor?: number;
  devMinor?: number;
  xattrs?: Record<string, Buffer>;
  source?: ContentSource;
}

export interface TreeNode {
  readonly name: string;
  parent: TreeNode | undefined;
  inode: Inode;
  /** Present on directories only. */
  children: Map<string, TreeNode> | undefined;
}

/** Parents that no entry names get these: root-owned 0755, and the mtime of the entry that needed them. */
export function implicitDir(mtime: number): Inode {
  return { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime, size: 0 };
}

type Lookup = { found: TreeNode } | { missing: true } | { symlink: TreeNode } | { notDir: TreeNode };

export class VirtualTree {
  readonly root: TreeNode = { name: '', parent: undefined, inode: implicitDir(0), children: new Map() };

  pathOf(node: TreeNode): string {
    const parts: string[] = [];
    for (let n: TreeNode | undefined = node; n && n.parent; n = n.parent) parts.push(n.name);
    return parts.reverse().join('/');
  }

  /** Walks to a path without following symlinks. */
  find(components: readonly string[]): Lookup {
    let node = this.root;
    for (const name of components) {
      if (!node.children) return node.inode.type === 'symlink' ? { symlink: node } : { notDir: node };
      const child = node.children.get(name);
      if (!child) return { missing: true };
      node = child;
    }
    return { found: node };
  }

  /** Deletes a lower entry and its subtree; a no-op when it is missing or only reachable through a symlink or file. */
  whiteout(dir: readonly string[], victim: string): boolean {
    const at = this.find(dir);
    if (!('found' in at) || !at.found.children) return false;
    return at.found.children.delete(victim);
  }

  /** Hides every child of a lower directory; a no-op unless the directory exists as one. */
  opaque(dir: readonly string[]): boolean {
    const at = this.find(dir);
    if (!('found' in at) || !at.found.children) return false;
    at.found.children.clear();
    return true;
  }

  /** The directory a new entry goes into, creating missing parents; refuses to go through a symlink or a file. */
  private parentFor(components: readonly string[], mtime: number): TreeNode {
    let node = this.root;
    for (let i = 0; i < components.length - 1; i++) {
      const name = components[i]!;
      const child = node.children!.get(name);
      if (!child) {
        const created: TreeNode = { name, parent: node, inode: implicitDir(mtime), children: new Map() };
        node.children!.set(name, created);
        node = created;
      } else if (child.children) {
        node = child;
      } else if (child.inode.type === 'symlink') {
        throw new RootforgeError('ERR_UNSAFE_PATH', `would be written through symlink ${this.pathOf(child)} -> ${child.inode.linkTarget ?? ''}`);
      } else {
        throw new RootforgeError('ERR_BAD_LAYER', `parent ${this.pathOf(child)} is not a directory`);
      }
    }
    return node;
  }

  /** Sets the entry at a path; a directory over a directory keeps its children, anything else replaces the old subtree. */
  put(components: readonly string[], inode: Inode): void {
    if (components.length === 0) {
      if (inode.type !== 'dir') throw new RootforgeError('ERR_BAD_LAYER', 'the root can only be a directory');
      this.root.inode = inode;
      return;
    }
    const parent = this.parentFor(components, inode.mtime);
    const name = components[components.length - 1]!;
    const existing = parent.children!.get(name);
    if (existing?.children && inode.type === 'dir') {
      existing.inode = inode;
      return;
    }
    parent.children!.set(name, { name, parent, inode, children: inode.type === 'dir' ? new Map() : undefined });
  }

  /** Adds a hardlink: the path shares the target's inode, which must exist now and not be a directory. */
  link(components: readonly string[], target: readonly string[], mtime: number): void {
    const at = this.find(target);
    const shown = target.join('/');
    if ('symlink' in at) throw new RootforgeError('ERR_UNSAFE_PATH', `hardlink target ${shown} goes through symlink ${this.pathOf(at.symlink)}`);
    if (!('found' in at)) throw new RootforgeError('ERR_BAD_LAYER', `hardlink target ${shown} does not exist`);
    if (at.found.children) throw new RootforgeError('ERR_BAD_LAYER', `hardlink target ${shown} is a directory`);
    if (components.length === 0) throw new RootforgeError('ERR_BAD_LAYER', 'the root can only be a directory');
    const here = this.find(components);
    if ('found' in here && here.found === at.found) return;
    const parent = this.parentFor(components, mtime);
    const name = components[components.length - 1]!;
    parent.children!.set(name, { name, parent, inode: at.found.inode, children: undefined });
  }
}
