/** The final tree as each output shows it (plan, staging directory, merged tar) and as the model predicts it, in one comparable shape. */
import { lstat, readdir, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { expect } from 'vitest';
import type { RootfsPlan } from '../../src/layer/plan.js';
import type { RootfsStats } from '../../src/layer/types.js';
import type { ModelEntry, ModelResult, ModelTree } from './replay-model.js';

/** path -> what one output says about it; plain objects so a failing toEqual prints a readable diff. */
export type View = Record<string, Partial<ModelEntry> & { size?: number }>;

/** Parent-first, children in byte order of their names: the order the plan promises. */
export function planOrder(a: string, b: string): number {
  const x = a === '' ? [] : a.split('/');
  const y = b === '' ? [] : b.split('/');
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const c = Buffer.compare(Buffer.from(x[i]!), Buffer.from(y[i]!));
    if (c !== 0) return c;
  }
  return x.length - y.length;
}

const isDevice = (type: string): boolean => type === 'char' || type === 'block';
/** Devices and fifos are left to debugfs: staging lists them instead of creating them. */
export const isSpecial = (type: string): boolean => type === 'fifo' || isDevice(type);

/** Sorted by path, with `links` filled from groups of paths that share an inode. */
function finish(entries: Map<string, View[string]>, groups: Iterable<string[]>): View {
  for (const group of groups) if (group.length > 1) for (const p of group) entries.get(p)!.links = [...group].sort();
  return Object.fromEntries([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

function groupsOf<K>(pairs: Iterable<[K, string]>): string[][] {
  const groups = new Map<K, string[]>();
  for (const [k, path] of pairs) groups.set(k, [...(groups.get(k) ?? []), path]);
  return [...groups.values()];
}

// ---- the model, projected onto what each output can carry ----

/** The model's entries as `pick` projects them (undefined leaves one out), with links among the kept paths. */
function modelView(model: ModelTree, pick: (e: Omit<ModelEntry, 'links'>) => View[string] | undefined): View {
  const entries = new Map<string, View[string]>();
  const inodes: Array<[string, string]> = [];
  for (const [path, { links, ...e }] of model) {
    const v = pick(e);
    if (!v) continue;
    entries.set(path, v);
    inodes.push([links?.join('\0') ?? path, path]);
  }
  return finish(entries, groupsOf(inodes));
}

/** The plan carries sizes (0 for all but files), not contents. */
export function modelPlanView(model: ModelTree): View {
  return modelView(model, ({ content, ...rest }) => ({ ...rest, size: Buffer.byteLength(content ?? '') }));
}

export function modelTarView(model: ModelTree): View {
  return modelView(model, (e) => e);
}

/** Modes staging must use so the runner can read what mkfs reads, and no setuid file sits on the host. */
export function stagedMode(e: Pick<ModelEntry, 'type' | 'mode'>): number {
  return e.type === 'dir' ? e.mode | 0o700 : (e.mode & ~0o6000) | 0o400;
}

/** Staging is written as the runner (no owners) and holds no devices or fifos; symlink modes mean nothing on Linux. */
export function modelStageView(model: ModelTree): View {
  return modelView(model, ({ type, mode, mtime, content, target }) => {
    if (isSpecial(type)) return undefined;
    const v: View[string] = { type, mtime };
    if (type !== 'symlink') v.mode = stagedMode({ type, mode });
    if (content !== undefined) v.content = content;
    if (target !== undefined) v.target = target;
    return v;
  });
}

/** The counts images are sized from: one inode per group of shared paths, every path by its inode's type. */
export function modelStats({ tree, tarEntries, ignoredEntries }: ModelResult): RootfsStats {
  const byType: RootfsStats['byType'] = { file: 0, dir: 0, symlink: 0, char: 0, block: 0, fifo: 0 };
  const children = new Map<string, number>();
  const inodes = new Map<string, ModelEntry>();
  for (const [path, e] of tree) {
    byType[e.type]++;
    inodes.set(e.links?.join('\0') ?? path, e);
    if (e.type === 'dir') children.set(path, children.get(path) ?? 0);
    if (path !== '') {
      const parent = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '';
      children.set(parent, (children.get(parent) ?? 0) + 1);
    }
  }
  const fileBytes = [...inodes.values()].reduce((sum, e) => sum + Buffer.byteLength(e.content ?? ''), 0);
  return { byType, hardlinks: tree.size - inodes.size, fileBytes, maxDirEntries: Math.max(...children.values()), tarEntries, ignoredEntries };
}

// ---- what rootforge produced ----

/** The plan's tree; checks its order and that each hardlink names the first path of its inode. */
export function planView(plan: RootfsPlan): View {
  const entries = plan.entries();
  const paths = entries.map((e) => e.path);
  expect(paths).toEqual([...paths].sort(planOrder));
  const index = new Map(paths.map((p, i) => [p, i]));
  const out = new Map<string, View[string]>();
  for (const e of entries) {
    const v: View[string] = { type: e.type as ModelEntry['type'], mode: e.mode, uid: e.uid, gid: e.gid, mtime: e.mtime, size: e.size };
    if (e.linkTarget !== undefined) v.target = e.linkTarget;
    if (isDevice(e.type)) Object.assign(v, { devMajor: e.devMajor, devMinor: e.devMinor });
    out.set(e.path, v);
    if (e.hardlinkTo === undefined) continue;
    expect(index.get(e.hardlinkTo)).toBeLessThan(index.get(e.path)!);
    expect(entries[index.get(e.hardlinkTo)!]!.hardlinkTo).toBeUndefined();
  }
  return finish(out, groupsOf(entries.map((e) => [e.hardlinkTo ?? e.path, e.path])));
}

/** The staging directory as the host sees it, never following a symlink; hardlinks grouped by inode number. */
export async function stageView(root: string): Promise<View> {
  const out = new Map<string, View[string]>();
  const inodes: Array<[number, string]> = [];
  const walk = async (rel: string): Promise<void> => {
    const host = rel === '' ? root : join(root, rel);
    const st = await lstat(host);
    const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : (`other ${st.mode.toString(8)}` as ModelEntry['type']);
    const v: View[string] = { type, mtime: st.mtimeMs / 1000 };
    if (type !== 'symlink') v.mode = st.mode & 0o7777;
    out.set(rel, v);
    if (type === 'file') v.content = await readFile(host, 'utf8');
    if (type === 'symlink') v.target = await readlink(host);
    if (type !== 'dir') inodes.push([st.ino, rel]);
    else for (const name of (await readdir(host)).sort()) await walk(rel === '' ? name : `${rel}/${name}`);
  };
  await walk('');
  return finish(out, groupsOf(inodes));
}

const TAR_TYPES: Record<string, ModelEntry['type']> = { directory: 'dir', file: 'file', symlink: 'symlink', fifo: 'fifo', 'character-device': 'char', 'block-device': 'block' };

/** The merged tar parsed back with tar-stream; checks every parent and hardlink target comes before the entries that need it. */
export async function tarView(stream: Readable): Promise<View> {
  const ex = extract();
  stream.on('error', (error) => ex.destroy(error));
  stream.pipe(ex);
  const out = new Map<string, View[string]>();
  const heads: Array<[string, string]> = [];
  for await (const entry of ex) {
    const h = entry.header;
    const path = h.name === './' ? '' : h.name.replace(/\/$/, '');
    expect(path.startsWith('/') || path.split('/').some((c) => c === '..' || c === '.'), `unsafe tar name ${h.name}`).toBe(false);
    expect(out.has(path), `${path} emitted twice`).toBe(false);
    if (path !== '') expect(out.get(path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : '')?.type, `parent of ${path} comes first`).toBe('dir');
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    // tar-stream applies only path, linkpath and size from PAX; ids too large for ustar come as PAX records.
    const pax = (h.pax ?? {}) as Record<string, string | undefined>;
    const id = (key: 'uid' | 'gid'): number => (pax[key] === undefined ? h[key]! : Number(pax[key]));
    const v: View[string] = { type: TAR_TYPES[h.type]!, mode: h.mode!, uid: id('uid'), gid: id('gid'), mtime: h.mtime!.getTime() / 1000 };
    if (h.type === 'link') {
      const target = out.get(h.linkname!);
      expect(target, `hardlink ${path} -> ${h.linkname} comes after its target`).toBeDefined();
      expect(heads.some(([p, head]) => p === h.linkname && head === p), `hardlink ${path} names the first path`).toBe(true);
      // The link shares its target's type and content; its own header must repeat the metadata (mke2fs applies it).
      const { mode: _mode, uid: _uid, gid: _gid, mtime: _mtime, ...shared } = target!;
      Object.assign(v, shared);
      heads.push([path, h.linkname!]);
    } else {
      if (h.type === 'file') v.content = Buffer.concat(chunks).toString();
      if (h.type === 'symlink') v.target = h.linkname!;
      if (isDevice(v.type!)) Object.assign(v, { devMajor: h.devmajor, devMinor: h.devminor });
      if (h.type !== 'directory') heads.push([path, path]);
    }
    out.set(path, v);
  }
  return finish(out, groupsOf(heads.map(([path, head]) => [head, path])));
}
