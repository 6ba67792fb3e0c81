/** Replays layer tars, oldest first, into the virtual tree by the OCI whiteout rules, from each layer's index (headers only). */
import { RootforgeError } from '../errors.js';
import { throwIfAborted } from './abort.js';
import { inEntry } from './entry-error.js';
import type { TarEntryMeta } from './entry-meta.js';
import { flattenTree, type RootfsPlan } from './flatten.js';
import { layerIndex } from './layer-index.js';
import { checkSymlinkTarget, pathComponents } from './paths.js';
import type { LayerSource } from './types.js';
import { VirtualTree, type Inode } from './vtree.js';
import { classifyPath, type NameRole } from './whiteout.js';

export type { PlannedContent, RootfsPlan } from './flatten.js';

export interface PlanLimits {
  /** Most path components an entry or hardlink target may have. */
  maxDepth?: number;
  /** Most tar entries read across all layers. */
  maxEntries?: number;
}

export interface PlanOptions {
  signal?: AbortSignal;
  limits?: PlanLimits;
}

export const DEFAULT_PLAN_LIMITS: Required<PlanLimits> = { maxDepth: 1024, maxEntries: 2_000_000 };

/** ext4 stores names of at most 255 bytes. */
const MAX_NAME_BYTES = 255;

interface Pending {
  name: string;
  components: string[];
  role: NameRole;
  meta: TarEntryMeta;
  inode?: Inode;
  target?: string[];
}

function checkDepth(components: readonly string[], maxDepth: number): void {
  if (components.length > maxDepth) throw new RootforgeError('ERR_LIMIT_EXCEEDED', `path is ${components.length} levels deep (limit ${maxDepth})`);
}

function inodeOf(meta: TarEntryMeta, layer: number, ordinal: number, offset: number): Inode {
  const kind = meta.kind === 'hardlink' ? 'file' : meta.kind;
  const inode: Inode = { type: kind, mode: meta.mode, uid: meta.uid, gid: meta.gid, mtime: meta.mtime, size: meta.size };
  if (kind === 'file') inode.source = { layer, ordinal, name: meta.name, offset };
  if (kind === 'symlink') inode.linkTarget = checkSymlinkTarget(meta.linkname ?? '');
  if (meta.devMajor !== undefined) inode.devMajor = meta.devMajor;
  if (meta.devMinor !== undefined) inode.devMinor = meta.devMinor;
  if (meta.xattrs) inode.xattrs = meta.xattrs;
  return inode;
}

function describe(meta: TarEntryMeta, layer: number, ordinal: number, offset: number, maxDepth: number): Pending {
  const components = pathComponents(meta.name);
  checkDepth(components, maxDepth);
  for (const c of components) {
    if (Buffer.byteLength(c) > MAX_NAME_BYTES) throw new RootforgeError('ERR_BAD_LAYER', `name ${JSON.stringify(c.slice(0, 40))}… is longer than ${MAX_NAME_BYTES} bytes`);
  }
  const role = classifyPath(components);
  const pending: Pending = { name: meta.name, components, role, meta };
  if (role.role !== 'entry') return pending;
  if (meta.kind === 'hardlink') {
    pending.target = pathComponents(meta.linkname ?? '');
    checkDepth(pending.target, maxDepth);
  } else {
    pending.inode = inodeOf(meta, layer, ordinal, offset);
  }
  return pending;
}

/** Replays every layer's headers; per layer, whiteouts hit the lower tree before additions apply, so none removes its own layer's entries. */
export async function planRootfs(layers: LayerSource[], opts: PlanOptions = {}): Promise<RootfsPlan> {
  const limits = { ...DEFAULT_PLAN_LIMITS, ...opts.limits };
  const tree = new VirtualTree();
  const counts = { tarEntries: 0, ignoredEntries: 0 };
  for (const [index, layer] of layers.entries()) {
    const pending: Pending[] = [];
    await layerIndex(layer, index, {
      ...(opts.signal ? { signal: opts.signal } : {}),
      maxEntries: limits.maxEntries - counts.tarEntries,
      onEntry: ({ meta, offset }, ordinal) => pending.push(inEntry(layer, index, meta.name, () => describe(meta, index, ordinal, offset, limits.maxDepth))),
    });
    counts.tarEntries += pending.length;
    throwIfAborted(opts.signal);
    for (const p of pending) {
      if (p.role.role === 'whiteout') tree.whiteout(p.role.dir, p.role.victim);
      else if (p.role.role === 'opaque') tree.opaque(p.role.dir);
      else if (p.role.role === 'ignored') counts.ignoredEntries++;
    }
    for (const p of pending) {
      if (p.role.role !== 'entry') continue;
      inEntry(layer, index, p.name, () => (p.target ? tree.link(p.components, p.target, p.meta.mtime) : tree.put(p.components, p.inode!)));
    }
  }
  return flattenTree(tree, layers, counts);
}
