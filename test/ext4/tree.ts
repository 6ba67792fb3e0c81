/** Test trees: RootfsEntry lists with contents, written as a tar (tar-stream) or as a runner-owned staging dir. */
import { chmod, link, lutimes, mkdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pack as tarPack } from 'tar-stream';
import type { RootfsEntry } from '../../src/layer/types.js';

export interface TestTree {
  entries: RootfsEntry[];
  /** Content of regular files by path. */
  contents: Map<string, Buffer>;
}

const TAR_TYPES = {
  file: 'file',
  dir: 'directory',
  symlink: 'symlink',
  char: 'character-device',
  block: 'block-device',
  fifo: 'fifo',
} as const;

/** The tree as an uncompressed tar, parents first, the root as "./", xattrs as SCHILY.xattr PAX records. */
export function treeTar(tree: TestTree): Readable {
  const pack = tarPack();
  void (async () => {
    for (const e of tree.entries) {
      const pax: Record<string, string> = {};
      for (const [name, value] of Object.entries(e.xattrs ?? {})) pax[`SCHILY.xattr.${name}`] = value.toString('latin1');
      const header: Parameters<ReturnType<typeof tarPack>['entry']>[0] = {
        name: e.path === '' ? './' : e.type === 'dir' ? `${e.path}/` : e.path,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        mtime: new Date(e.mtime * 1000),
        type: e.hardlinkTo !== undefined ? 'link' : TAR_TYPES[e.type],
        ...(e.hardlinkTo !== undefined ? { linkname: e.hardlinkTo } : {}),
        ...(e.type === 'symlink' ? { linkname: e.linkTarget ?? '' } : {}),
        ...(e.devMajor !== undefined ? { devmajor: e.devMajor, devminor: e.devMinor ?? 0 } : {}),
        ...(Object.keys(pax).length > 0 ? { pax } : {}),
      };
      const body = e.type === 'file' && e.hardlinkTo === undefined ? (tree.contents.get(e.path) ?? Buffer.alloc(0)) : undefined;
      await new Promise<void>((resolve, reject) => {
        const done = (error?: Error | null) => (error ? reject(error) : resolve());
        if (body) pack.entry(header, body, done);
        else pack.entry(header, done);
      });
    }
    pack.finalize();
  })().catch((error: unknown) => pack.destroy(error as Error));
  return pack as unknown as Readable;
}

/** Materialises the tree as the runner would: owned by us, modes widened to stay readable, no device or fifo nodes. */
export async function stageTree(tree: TestTree, root: string): Promise<Map<string, number>> {
  const modes = new Map<string, number>();
  const staged = (e: RootfsEntry): number => {
    const want = e.mode & 0o7777;
    const mode = e.type === 'dir' ? want | 0o700 : want | 0o600;
    if (mode !== want) modes.set(e.path, mode);
    return mode;
  };
  await mkdir(root, { recursive: true });
  for (const e of tree.entries) {
    const p = join(root, e.path);
    if (e.path === '') continue;
    if (e.hardlinkTo !== undefined) {
      const target = tree.entries.find((t) => t.path === e.hardlinkTo);
      if (target?.type === 'file') await link(join(root, e.hardlinkTo), p);
      continue;
    }
    if (e.type === 'dir') await mkdir(p, { mode: 0o700 });
    else if (e.type === 'file') await writeFile(p, tree.contents.get(e.path) ?? Buffer.alloc(0), { mode: 0o600 });
    else if (e.type === 'symlink') await symlink(e.linkTarget ?? '', p);
  }
  for (const e of tree.entries) {
    if (e.path === '' || e.hardlinkTo !== undefined || e.type === 'char' || e.type === 'block' || e.type === 'fifo') continue;
    const p = join(root, e.path);
    if (e.type !== 'symlink') await chmod(p, staged(e));
    await lutimes(p, e.mtime, e.mtime);
  }
  // Directories last and deepest first: creating their children moved their mtimes.
  const dirs = tree.entries.filter((e) => e.type === 'dir' && e.path !== '').sort((a, b) => b.path.split('/').length - a.path.split('/').length);
  for (const e of dirs) await utimes(join(root, e.path), e.mtime, e.mtime);
  return modes;
}

function entry(path: string, type: RootfsEntry['type'], extra: Partial<RootfsEntry> = {}): RootfsEntry {
  return { path, type, mode: type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, size: 0, ...extra };
}

/** security.capability v2 for cap_net_bind_service: every byte below 0x80, so a PAX string carries it intact. */
export const CAPABILITY = Buffer.from('0100000200040000000000000000000000000000', 'hex');
/** security.capability v2 for cap_setuid: the 0x80 byte does not survive tar-stream's PAX strings. */
export const CAPABILITY_SETUID = Buffer.from('0100000280000000000000000000000000000000', 'hex');

/** The round-trip tree: every kind of entry and metadata the populate paths must carry or have fixed up. */
export function sampleTree(): TestTree {
  const contents = new Map<string, Buffer>();
  const file = (path: string, content: string | Buffer, extra: Partial<RootfsEntry> = {}): RootfsEntry => {
    const body = Buffer.isBuffer(content) ? content : Buffer.from(content);
    contents.set(path, body);
    return entry(path, 'file', { size: body.length, ...extra });
  };
  const entries: RootfsEntry[] = [
    entry('', 'dir', { mode: 0o755, mtime: 1_600_000_000 }),
    entry('bin', 'dir', { mtime: 1_600_000_100 }),
    file('bin/ping', 'ping binary', { mode: 0o755, xattrs: { 'security.capability': CAPABILITY } }),
    file('bin/su', 'su binary', { mode: 0o4755 }),
    file('bin/newuidmap', 'newuidmap binary', { mode: 0o755, xattrs: { 'security.capability': CAPABILITY_SETUID } }),
    file('bin/wall', 'wall binary', { mode: 0o2755, gid: 5 }),
    file('secret', 'nobody reads this', { mode: 0o000 }),
    entry('ro', 'dir', { mode: 0o555, mtime: 1_600_000_200 }),
    file('ro/child', 'inside a read-only dir'),
    entry('ro/sub', 'dir', { mode: 0o500, uid: 100000, gid: 100000 }),
    file('ro/sub/deep', 'deeper'),
    file('home-user-file', 'owned by a high uid', { uid: 100000, gid: 100001, mode: 0o640 }),
    file('mid-uid', 'uid 1000', { uid: 1000, gid: 1000 }),
    entry('dev', 'dir', { mtime: 1_600_000_300 }),
    entry('dev/null', 'char', { mode: 0o666, devMajor: 1, devMinor: 3 }),
    entry('dev/sda1', 'block', { mode: 0o660, gid: 6, devMajor: 8, devMinor: 1 }),
    entry('dev/big', 'char', { mode: 0o600, devMajor: 300, devMinor: 70000 }),
    entry('dev/initctl', 'fifo', { mode: 0o600, uid: 7, mtime: 1_500_000_000 }),
    entry('dev/initctl-again', 'fifo', { mode: 0o600, uid: 7, mtime: 1_500_000_000, hardlinkTo: 'dev/initctl' }),
    entry('link', 'symlink', { linkTarget: 'bin/ping' }),
    entry('long-link', 'symlink', { linkTarget: `/usr/${'very-long-directory-name/'.repeat(8)}target` }),
    file('hard-a', 'shared content', { mode: 0o640, uid: 5 }),
    entry('hard-b', 'file', { mode: 0o640, uid: 5, size: 14, hardlinkTo: 'hard-a' }),
    entry('hard-c', 'file', { mode: 0o640, uid: 5, size: 14, hardlinkTo: 'hard-a' }),
    file('xattrs', 'with xattrs', { xattrs: { 'user.mime_type': Buffer.from('text/plain'), 'user.comment': Buffer.from('a "quoted" value') } }),
    file('trusted', 'trusted xattr', { xattrs: { 'trusted.overlay.opaque': Buffer.from('y') } }),
    file('with space', 'spaces'),
    file('quote"d', 'quotes'),
    file('tab\there', 'tab'),
    file('back\\slash', 'backslash'),
    file('#hash', 'hash'),
    file('-dash', 'dash'),
    file('<12>', 'inode-like'),
    file('ünïcødé-日本', 'unicode'),
    file('old', 'old mtime', { mtime: 0 }),
    file('y2100', 'after 2038', { mtime: 4_102_444_800 }),
    file('big', Buffer.alloc(200_000, 7)),
    file('empty', ''),
  ];
  return { entries, contents };
}
