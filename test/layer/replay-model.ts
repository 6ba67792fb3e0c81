/**
 * A reference model of OCI layer replay for the property test, written to be obviously right rather than fast:
 * a flat Map from normalised path to node, with no tree, no streaming and no code shared with src/layer.
 *
 * Rules, per layer, oldest first:
 *  1. Read every entry: clean its name lexically ('' and '.' dropped, '..' pops; popping above the root is
 *     ERR_UNSAFE_PATH); a `.wh.`-name used as a directory is ERR_BAD_LAYER; `.wh...` is ERR_UNSAFE_PATH;
 *     `.wh..wh..opq` marks its directory opaque, other `.wh..wh.*` are AUFS bookkeeping and ignored;
 *     a hardlink target is cleaned the same way. Checked before the name, because tar readers disagree on
 *     them: a regular file named with a trailing '/', and a symlink, hardlink, device or fifo whose header
 *     claims data, are ERR_BAD_LAYER. The first refusal, in layer then entry order, is the outcome.
 *  2. Whiteouts and opaque markers act on the tree as the lower layers left it, so none hides an entry of its
 *     own layer, whatever the entry order: `.wh.X` removes X and everything under it, the opaque marker
 *     everything under its directory. One that names a path through a symlink or a file removes nothing,
 *     and a marker's missing directory is not created (by design: Docker's appliers make it as a parent).
 *  3. The other entries apply in tar order. Missing parents become 0755 root:root directories with the mtime
 *     of the entry that needed them; a parent that is a symlink is ERR_UNSAFE_PATH, any other non-directory
 *     ERR_BAD_LAYER. A directory over a directory keeps its children; anything else replaces the old path
 *     and its subtree. The root can only be a directory.
 *  4. A hardlink shares the inode its target has at that moment (later changes to the target path do not
 *     follow it). Its target must exist, must not be a directory and must not be reached through a symlink
 *     (ERR_UNSAFE_PATH; missing, through a file, or a directory: ERR_BAD_LAYER); it is checked before the
 *     link's own path. The link entry's own metadata is ignored.
 */
import type { TarSpec } from '../helpers/tar.js';

export type ModelType = 'file' | 'dir' | 'symlink' | 'fifo' | 'char' | 'block';

/** A layer entry as the property generates it: everything the model reads is explicit. */
export type ModelInput = TarSpec & Required<Pick<TarSpec, 'type' | 'mode' | 'uid' | 'gid' | 'mtime'>>;

/** One path of the final tree. `links` lists every path sharing the inode (itself included) when there are several. */
export interface ModelEntry {
  type: ModelType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  content?: string;
  target?: string;
  devMajor?: number;
  devMinor?: number;
  links?: string[];
}

export type ModelTree = Map<string, ModelEntry>;

export interface ModelResult {
  tree: ModelTree;
  /** Entries read across all layers, markers included. */
  tarEntries: number;
  /** AUFS bookkeeping entries (`.wh..wh.*` other than the opaque marker). */
  ignoredEntries: number;
}

export type RefusalCode = 'ERR_UNSAFE_PATH' | 'ERR_BAD_LAYER';

export class ModelRefusal extends Error {
  constructor(
    readonly code: RefusalCode,
    /** Index of the layer holding the refused entry. */
    readonly layer: number,
    why: string,
  ) {
    super(`${code} in layer ${layer}: ${why}`);
  }
}

/** An inode: hardlinked paths hold the same object. */
type Node = Omit<ModelEntry, 'links'>;

type Read =
  | { role: 'entry'; path: string[]; spec: ModelInput; linkTarget?: string[] }
  | { role: 'whiteout'; path: string[] }
  | { role: 'opaque'; dir: string[] }
  | { role: 'ignored' };

const key = (components: readonly string[]): string => components.join('/');

function typeOf(spec: ModelInput): ModelType | 'hardlink' {
  if (spec.type === 'directory') return 'dir';
  if (spec.type === 'link') return 'hardlink';
  if (spec.type === 'character-device') return 'char';
  if (spec.type === 'block-device') return 'block';
  if (spec.type === 'symlink' || spec.type === 'fifo' || spec.type === 'file') return spec.type;
  throw new Error(`the model does not know tar type ${spec.type}`);
}

export function replayModel(layers: readonly ModelInput[][]): ModelResult {
  let ignoredEntries = 0;
  const tree = new Map<string, Node>([['', { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0 }]]);
  for (const [layer, entries] of layers.entries()) {
    const refuse = (code: RefusalCode, why: string): never => {
      throw new ModelRefusal(code, layer, why);
    };

    const clean = (name: string): string[] => {
      const out: string[] = [];
      for (const part of name.split('/')) {
        if (part === '' || part === '.') continue;
        if (part !== '..') out.push(part);
        else if (out.pop() === undefined) refuse('ERR_UNSAFE_PATH', `${name} climbs above the root`);
      }
      return out;
    };

    const read = (spec: ModelInput): Read => {
      if (spec.type === 'file' && spec.name.endsWith('/')) refuse('ERR_BAD_LAYER', `regular file ${spec.name} ends in a slash`);
      if (spec.type !== 'file' && spec.type !== 'directory' && (spec.headerSize ?? 0) > 0) refuse('ERR_BAD_LAYER', `${spec.type} ${spec.name} claims data`);
      const path = clean(spec.name);
      if (path.slice(0, -1).some((c) => c.startsWith('.wh.'))) refuse('ERR_BAD_LAYER', `${spec.name} uses a whiteout as a directory`);
      const base = path.at(-1) ?? '';
      if (base === '.wh..wh..opq') return { role: 'opaque', dir: path.slice(0, -1) };
      if (base.startsWith('.wh..wh.')) return { role: 'ignored' };
      if (base.startsWith('.wh.')) {
        const victim = base.slice('.wh.'.length);
        if (victim === '..') refuse('ERR_UNSAFE_PATH', `${spec.name} whites out the parent`);
        if (victim === '' || victim === '.') refuse('ERR_BAD_LAYER', `${spec.name} whites out nothing`);
        return { role: 'whiteout', path: [...path.slice(0, -1), victim] };
      }
      if (typeOf(spec) !== 'hardlink') return { role: 'entry', path, spec };
      return { role: 'entry', path, spec, linkTarget: clean(spec.linkname ?? '') };
    };

    const removeSubtree = (path: string): void => {
      for (const p of [...tree.keys()]) if (p === path || p.startsWith(`${path}/`)) tree.delete(p);
    };

    const removeChildren = (dir: string): void => {
      for (const p of [...tree.keys()]) if (p !== '' && (dir === '' || p.startsWith(`${dir}/`))) tree.delete(p);
    };

    const makeParents = (path: readonly string[], mtime: number): void => {
      for (let i = 1; i < path.length; i++) {
        const parent = key(path.slice(0, i));
        const node = tree.get(parent);
        if (!node) tree.set(parent, { type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime });
        else if (node.type === 'symlink') refuse('ERR_UNSAFE_PATH', `${key(path)} is under symlink ${parent}`);
        else if (node.type !== 'dir') refuse('ERR_BAD_LAYER', `${key(path)} is under non-directory ${parent}`);
      }
    };

    const linkTarget = (target: readonly string[]): Node => {
      for (let i = 1; i < target.length; i++) {
        const node = tree.get(key(target.slice(0, i)));
        if (!node) refuse('ERR_BAD_LAYER', `hardlink target ${key(target)} is missing`);
        if (node!.type === 'symlink') refuse('ERR_UNSAFE_PATH', `hardlink target ${key(target)} is under a symlink`);
        if (node!.type !== 'dir') refuse('ERR_BAD_LAYER', `hardlink target ${key(target)} is under a non-directory`);
      }
      const node = tree.get(key(target));
      if (!node) return refuse('ERR_BAD_LAYER', `hardlink target ${key(target)} is missing`);
      if (node.type === 'dir') refuse('ERR_BAD_LAYER', `hardlink target ${key(target)} is a directory`);
      return node;
    };

    const put = (path: readonly string[], node: Node, mtime: number): void => {
      if (path.length === 0) {
        if (node.type !== 'dir') refuse('ERR_BAD_LAYER', 'the root must be a directory');
        tree.set('', node);
        return;
      }
      makeParents(path, mtime);
      const old = tree.get(key(path));
      if (!(old?.type === 'dir' && node.type === 'dir')) removeSubtree(key(path));
      tree.set(key(path), node);
    };

    const reads = entries.map(read);
    ignoredEntries += reads.filter((r) => r.role === 'ignored').length;
    for (const r of reads) {
      if (r.role === 'whiteout') removeSubtree(key(r.path));
      if (r.role === 'opaque') removeChildren(key(r.dir));
    }
    for (const r of reads) {
      if (r.role !== 'entry') continue;
      const { spec } = r;
      if (r.linkTarget) {
        const shared = linkTarget(r.linkTarget);
        if (r.path.length === 0) refuse('ERR_BAD_LAYER', 'the root cannot be a hardlink');
        put(r.path, shared, spec.mtime);
        continue;
      }
      const node: Node = { type: typeOf(spec) as ModelType, mode: spec.mode, uid: spec.uid, gid: spec.gid, mtime: spec.mtime };
      if (node.type === 'file') node.content = Buffer.from(spec.content ?? '').toString();
      if (node.type === 'symlink') node.target = spec.linkname;
      if (node.type === 'char' || node.type === 'block') Object.assign(node, { devMajor: spec.devmajor ?? 0, devMinor: spec.devminor ?? 0 });
      put(r.path, node, spec.mtime);
    }
  }
  return { tree: finalTree(tree), tarEntries: layers.flat().length, ignoredEntries };
}

function finalTree(tree: Map<string, Node>): ModelTree {
  const sharing = new Map<Node, string[]>();
  for (const [path, node] of tree) sharing.set(node, [...(sharing.get(node) ?? []), path]);
  const out: ModelTree = new Map();
  for (const [path, node] of tree) {
    const entry: ModelEntry = { ...node };
    const links = sharing.get(node)!;
    if (links.length > 1) entry.links = [...links].sort();
    out.set(path, entry);
  }
  return out;
}
