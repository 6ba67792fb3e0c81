/** Reads an ext4 image back for tests in batched `debugfs -f -` runs (ls -p per depth, stat+dump, ea_get), addressing inodes as <N>. */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { quoteDebugfsArg } from '../../src/ext4/debugfs-script.js';

export interface Ext4Node {
  /** Relative to the root, '' for the root itself. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';
  /** Permission bits (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds as the kernel decodes them: signed 32-bit field plus the epoch bits of the extra field. */
  mtime: number;
  inode: number;
  links: number;
  linkTarget?: string;
  devMajor?: number;
  devMinor?: number;
  /** xattr name -> value as hex. */
  xattrs: Record<string, string>;
  /** Content hash of regular files. */
  sha256?: string;
}

function tool(name: string): string {
  const found = ['/usr/sbin', '/sbin', '/usr/bin', '/bin', '/usr/local/sbin'].map((d) => join(d, name)).find((p) => existsSync(p));
  if (!found) throw new Error(`${name} not found`);
  return found;
}

const TYPES: Record<number, Ext4Node['type']> = {
  0o100000: 'file',
  0o040000: 'dir',
  0o120000: 'symlink',
  0o020000: 'char',
  0o060000: 'block',
  0o010000: 'fifo',
  0o140000: 'socket',
};

/** Runs a read-only script and returns each command's output lines, in script order. */
async function batch(image: string, commands: string[], dir: string): Promise<string[][]> {
  const blocks: string[][] = commands.map(() => []);
  if (commands.length === 0) return blocks;
  const logPath = join(dir, `log-${Math.random().toString(16).slice(2)}`);
  const log = await open(logPath, 'w');
  try {
    const shared = log.fd as 1 | 2;
    await execa(tool('debugfs'), ['-f', '-', image], { input: `${commands.join('\n')}\n`, stdout: shared, stderr: shared, env: { LC_ALL: 'C.UTF-8' } });
  } finally {
    await log.close();
  }
  const output = (await readFile(logPath)).toString('latin1').split('\n');
  let current = -1;
  for (const line of output) {
    const next = commands[current + 1];
    if (next !== undefined && line === `debugfs: ${Buffer.from(next).toString('latin1')}`) {
      current += 1;
      continue;
    }
    if (current >= 0) (blocks[current] as string[]).push(line);
  }
  if (current !== commands.length - 1) throw new Error(`debugfs stopped after ${current + 1} of ${commands.length} commands`);
  return blocks;
}

const C_ESCAPES: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '\\': 92, '"': 34 };

/** Undoes debugfs's xattr name printing: hex bytes when under 7/8 is printable, else C escapes. */
function unescapeName(latin1: string): string {
  if (/^(?:[0-9a-f]{2} )+$/.test(latin1)) return Buffer.from(latin1.replaceAll(' ', ''), 'hex').toString('utf8');
  const bytes: number[] = [];
  for (let i = 0; i < latin1.length; i++) {
    const c = latin1[i] as string;
    const next = latin1[i + 1] ?? '';
    if (c === '\\' && /^[0-7]{3}$/.test(latin1.slice(i + 1, i + 4))) {
      bytes.push(Number.parseInt(latin1.slice(i + 1, i + 4), 8));
      i += 3;
    } else if (c === '\\' && C_ESCAPES[next] !== undefined) {
      bytes.push(C_ESCAPES[next] as number);
      i += 1;
    } else {
      bytes.push(c.charCodeAt(0));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

function num(block: string, pattern: RegExp): number {
  const m = pattern.exec(block);
  if (!m) throw new Error(`no ${pattern} in stat output:\n${block}`);
  return Number(m[1]);
}

interface Listed {
  path: string;
  inode: number;
  rawMode: number;
}

/** Every path in the image (lost+found included) with its inode's metadata, xattrs and file hashes. */
export async function readExt4Tree(image: string): Promise<Map<string, Ext4Node>> {
  const dir = await mkdtemp(join(tmpdir(), 'rootforge-ext4-read-'));
  try {
    const listed: Listed[] = [{ path: '', inode: 2, rawMode: 0o040755 }];
    let level: Listed[] = [listed[0] as Listed];
    while (level.length > 0) {
      const blocks = await batch(image, level.map((d) => `ls -p <${d.inode}>`), dir);
      const next: Listed[] = [];
      level.forEach((parent, i) => {
        for (const line of blocks[i] as string[]) {
          if (line === '') continue;
          // /ino/mode/uid/gid/name/size/ — names cannot hold '/', so the split is exact.
          const fields = line.split('/');
          if (fields.length !== 8) throw new Error(`unexpected ls -p line ${JSON.stringify(line)}`);
          const name = Buffer.from(fields[5] as string, 'latin1').toString('utf8');
          // Empty directory blocks list as inode 0 with no name.
          if (name === '.' || name === '..' || name === '' || fields[1] === '0') continue;
          const child = { path: parent.path === '' ? name : `${parent.path}/${name}`, inode: Number(fields[1]), rawMode: Number.parseInt(fields[2] as string, 8) };
          listed.push(child);
          if ((child.rawMode & 0o170000) === 0o040000) next.push(child);
        }
      });
      level = next;
    }

    const inodes = [...new Map(listed.map((l) => [l.inode, l])).values()];
    const commands: string[] = [];
    const dumpOf = new Map<number, string>();
    for (const l of inodes) {
      commands.push(`stat <${l.inode}>`);
      const type = l.rawMode & 0o170000;
      if (type === 0o100000 || type === 0o120000) {
        const file = join(dir, `dump-${l.inode}`);
        dumpOf.set(l.inode, file);
        commands.push(`dump <${l.inode}> ${quoteDebugfsArg(file)}`);
      }
    }
    const statBlocks = await batch(image, commands, dir);
    const stats = new Map<number, string>();
    let k = 0;
    for (const l of inodes) {
      stats.set(l.inode, (statBlocks[k] as string[]).join('\n'));
      k += dumpOf.has(l.inode) ? 2 : 1;
    }

    const xattrNames = new Map<number, string[]>();
    for (const [inode, block] of stats) {
      const lines = block.split('\n');
      const start = lines.indexOf('Extended attributes:');
      if (start < 0) continue;
      const names: string[] = [];
      for (const line of lines.slice(start + 1)) {
        const m = /^ {2}(.*) \((\d+)\)(?: = .*)?$/.exec(line);
        if (!m) break;
        names.push(unescapeName(m[1] as string));
      }
      xattrNames.set(inode, names);
    }
    const eaCommands: string[] = [];
    const eaKeys: Array<[number, string]> = [];
    for (const [inode, names] of xattrNames) {
      for (const name of names) {
        eaCommands.push(`ea_get -x <${inode}> ${quoteDebugfsArg(name)}`);
        eaKeys.push([inode, name]);
      }
    }
    const eaBlocks = await batch(image, eaCommands, dir);
    const xattrs = new Map<number, Record<string, string>>();
    eaKeys.forEach(([inode, name], i) => {
      const text = (eaBlocks[i] as string[]).find((l) => l.trim() !== '') ?? '';
      const m = /\((\d+)\)(?: = ((?:[0-9a-f]{2} )*))?$/.exec(text);
      if (!m) throw new Error(`cannot read xattr ${name} of inode ${inode}: ${text}`);
      const record = xattrs.get(inode) ?? {};
      record[name] = (m[2] ?? '').replaceAll(' ', '');
      xattrs.set(inode, record);
    });

    const nodes = new Map<string, Ext4Node>();
    for (const l of listed) {
      const block = stats.get(l.inode) as string;
      const rawMode = l.rawMode;
      const type = TYPES[rawMode & 0o170000];
      if (!type) throw new Error(`unknown file type ${rawMode.toString(8)} at ${l.path}`);
      const times = /^\s*mtime: 0x([0-9a-f]+)(?::([0-9a-f]+))?/m.exec(block);
      if (!times) throw new Error(`no mtime for ${l.path}`);
      const lo = Number.parseInt(times[1] as string, 16) | 0;
      const extra = times[2] ? Number.parseInt(times[2], 16) : 0;
      const node: Ext4Node = {
        path: l.path,
        type,
        mode: Number.parseInt(String(num(block, /Mode:\s+(\d+)/)), 8),
        uid: num(block, /User:\s+(\d+)/),
        gid: num(block, /Group:\s+(\d+)/),
        size: num(block, /Size: (\d+)/),
        mtime: lo + (extra & 3) * 2 ** 32,
        inode: l.inode,
        links: num(block, /Links: (\d+)/),
        xattrs: xattrs.get(l.inode) ?? {},
      };
      const dev = /Device major\/minor number: (\d+):(\d+)/.exec(block);
      if (dev && (type === 'char' || type === 'block')) {
        node.devMajor = Number(dev[1]);
        node.devMinor = Number(dev[2]);
      }
      const dump = dumpOf.get(l.inode);
      if (type === 'symlink') {
        const fast = /^Fast link dest: "(.*)"$/m.exec(block);
        node.linkTarget = fast ? Buffer.from(fast[1] as string, 'latin1').toString('utf8') : (await readFile(dump as string)).toString('utf8');
      }
      if (type === 'file') node.sha256 = createHash('sha256').update(await readFile(dump as string)).digest('hex');
      nodes.set(l.path, node);
    }
    return nodes;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `e2fsck -fn`: throws with e2fsck's output unless the image is clean (exit 0). */
export async function e2fsckClean(image: string): Promise<void> {
  const result = await execa(tool('e2fsck'), ['-fn', image], { all: true, reject: false, env: { LC_ALL: 'C.UTF-8' } });
  if (result.exitCode !== 0) throw new Error(`e2fsck -fn ${image} exited ${result.exitCode}:\n${String(result.all)}`);
}
