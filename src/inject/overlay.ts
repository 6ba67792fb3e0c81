import { lstat, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { dirname, join, posix, resolve } from 'node:path';
import { RootforgeError } from '../errors.js';
import type { GuestDir, GuestFile, GuestRegularFile, GuestSymlink } from './guest-files.js';

export interface Owner {
  uid: number;
  gid: number;
}

const MAX_ID = 0xfffffffe;

function injectError(message: string, cause?: unknown): RootforgeError {
  return new RootforgeError('ERR_INJECT', message, cause === undefined ? {} : { cause });
}

function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' ? 'not found' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
}

/** A host directory tree as guest files rooted at '/', sorted; host modes, symlinks verbatim, owned by root unless overlayOwner says otherwise. */
export async function overlayFiles(dir: string, opts: { overlayOwner?: Owner; signal?: AbortSignal } = {}): Promise<GuestFile[]> {
  const root = resolve(dir);
  const owner = opts.overlayOwner ?? { uid: 0, gid: 0 };
  if (!Number.isInteger(owner.uid) || !Number.isInteger(owner.gid) || owner.uid < 0 || owner.gid < 0 || owner.uid > MAX_ID || owner.gid > MAX_ID) {
    throw injectError(`overlay owner ${owner.uid}:${owner.gid} is not a valid uid:gid`);
  }
  let top;
  try {
    top = await stat(root);
  } catch (error) {
    throw injectError(`overlay directory ${root}: ${reason(error)}`, error);
  }
  if (!top.isDirectory()) throw injectError(`overlay ${root} is not a directory`);

  const out: GuestFile[] = [];
  const walk = async (hostDir: string, guestDir: string): Promise<void> => {
    opts.signal?.throwIfAborted();
    let names: string[];
    try {
      names = await readdir(hostDir);
    } catch (error) {
      throw injectError(`overlay directory ${hostDir}: ${reason(error)}`, error);
    }
    names.sort();
    for (const name of names) {
      const hostPath = join(hostDir, name);
      const guestPath = posix.join(guestDir, name);
      let info;
      try {
        info = await lstat(hostPath);
      } catch (error) {
        throw injectError(`overlay entry ${hostPath}: ${reason(error)}`, error);
      }
      const mode = info.mode & 0o7777;
      if (info.isDirectory()) {
        const entry: GuestDir = { kind: 'dir', path: guestPath, mode, uid: owner.uid, gid: owner.gid };
        out.push(entry);
        await walk(hostPath, guestPath);
      } else if (info.isFile()) {
        const entry: GuestRegularFile = { kind: 'file', path: guestPath, hostPath, size: info.size, mode, uid: owner.uid, gid: owner.gid };
        out.push(entry);
      } else if (info.isSymbolicLink()) {
        const entry: GuestSymlink = { kind: 'symlink', path: guestPath, target: await readlink(hostPath), uid: owner.uid, gid: owner.gid };
        out.push(entry);
      } else {
        throw injectError(`overlay entry ${hostPath} is a socket, fifo or device; only directories, files and symlinks can be overlaid`);
      }
    }
  };
  await walk(root, '/');
  return out;
}

/** The --inject JSON document, after validation. */
export interface InjectSpec {
  files: Array<{ path: string; source?: string; content?: string; mode?: number; uid: number; gid: number }>;
  symlinks: Array<{ path: string; target: string; uid?: number; gid?: number }>;
  dirs: Array<{ path: string; mode: number; uid: number; gid: number }>;
}

const TOP_KEYS = ['files', 'symlinks', 'dirs'];
const FILE_KEYS = ['path', 'source', 'content', 'mode', 'uid', 'gid'];
const LINK_KEYS = ['path', 'target', 'uid', 'gid'];
const DIR_KEYS = ['path', 'mode', 'uid', 'gid'];

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Validates an --inject document; `label` (the JSON path) prefixes every message. Pure: sources are not read. */
export function parseInjectSpec(json: unknown, label: string): InjectSpec {
  const bad = (where: string, why: string): never => {
    throw injectError(`${label}: ${where}: ${why}`);
  };
  if (!isObject(json)) return bad('top level', 'expected an object with "files", "symlinks" and/or "dirs"');
  for (const key of Object.keys(json)) if (!TOP_KEYS.includes(key)) bad(key, `unknown key (expected ${TOP_KEYS.join(', ')})`);

  const list = (key: string): Record<string, unknown>[] => {
    const value = json[key];
    if (value === undefined) return [];
    if (!Array.isArray(value)) return bad(key, 'expected an array');
    return value.map((item, i) => (isObject(item) ? item : bad(`${key}[${i}]`, 'expected an object')));
  };
  const keys = (where: string, item: Record<string, unknown>, allowed: string[]): void => {
    for (const key of Object.keys(item)) if (!allowed.includes(key)) bad(where, `unknown key "${key}" (expected ${allowed.join(', ')})`);
  };
  const guestPath = (where: string, value: unknown): string => {
    if (typeof value !== 'string' || value === '') return bad(`${where}.path`, 'expected an absolute guest path');
    if (/[\n\0]/.test(value)) return bad(`${where}.path`, 'the path contains a newline or NUL');
    if (!value.startsWith('/') || value === '/' || value.endsWith('/') || posix.normalize(value) !== value) {
      return bad(`${where}.path`, `${JSON.stringify(value)} must be absolute and normalised (no //, . or .., no trailing /)`);
    }
    return value;
  };
  const mode = (where: string, value: unknown): number | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || !/^(0o?)?[0-7]{1,4}$/.test(value)) return bad(`${where}.mode`, 'expected an octal string like "0644"');
    return Number.parseInt(value.replace(/^0o/, ''), 8);
  };
  const id = (where: string, name: string, value: unknown): number | undefined => {
    if (value === undefined) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_ID) return bad(`${where}.${name}`, 'expected a whole number from 0 to 4294967294');
    return value;
  };

  const spec: InjectSpec = { files: [], symlinks: [], dirs: [] };
  list('files').forEach((item, i) => {
    const where = `files[${i}]`;
    keys(where, item, FILE_KEYS);
    const path = guestPath(where, item.path);
    const hasSource = item.source !== undefined;
    const hasContent = item.content !== undefined;
    if (hasSource === hasContent) bad(where, 'give exactly one of "source" (a host file) or "content" (inline text)');
    if (hasSource && (typeof item.source !== 'string' || item.source === '')) bad(`${where}.source`, 'expected a host file path');
    if (hasContent && typeof item.content !== 'string') bad(`${where}.content`, 'expected a string');
    const m = mode(where, item.mode);
    spec.files.push({
      path,
      ...(hasSource ? { source: item.source as string } : { content: item.content as string }),
      ...(m === undefined ? {} : { mode: m }),
      uid: id(where, 'uid', item.uid) ?? 0,
      gid: id(where, 'gid', item.gid) ?? 0,
    });
  });
  list('symlinks').forEach((item, i) => {
    const where = `symlinks[${i}]`;
    keys(where, item, LINK_KEYS);
    const path = guestPath(where, item.path);
    if (typeof item.target !== 'string' || item.target === '' || /[\n\0]/.test(item.target)) bad(`${where}.target`, 'expected a non-empty link target without newlines');
    const uid = id(where, 'uid', item.uid);
    const gid = id(where, 'gid', item.gid);
    spec.symlinks.push({ path, target: item.target as string, ...(uid === undefined ? {} : { uid }), ...(gid === undefined ? {} : { gid }) });
  });
  list('dirs').forEach((item, i) => {
    const where = `dirs[${i}]`;
    keys(where, item, DIR_KEYS);
    spec.dirs.push({
      path: guestPath(where, item.path),
      mode: mode(where, item.mode) ?? 0o755,
      uid: id(where, 'uid', item.uid) ?? 0,
      gid: id(where, 'gid', item.gid) ?? 0,
    });
  });
  const seen = new Map<string, string>();
  for (const [kind, entries] of [['dirs', spec.dirs], ['files', spec.files], ['symlinks', spec.symlinks]] as const) {
    for (const entry of entries) {
      const other = seen.get(entry.path);
      if (other) bad(kind, `${entry.path} is listed twice (also in ${other})`);
      seen.set(entry.path, kind);
    }
  }
  return spec;
}

/** Reads an --inject JSON file: sources resolve against its directory and keep their host mode unless "mode" is given. */
export async function loadInjectFile(jsonPath: string): Promise<GuestFile[]> {
  const label = resolve(jsonPath);
  let text: string;
  try {
    text = await readFile(label, 'utf8');
  } catch (error) {
    throw injectError(`${label}: ${reason(error)}`, error);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw injectError(`${label}: not valid JSON: ${(error as Error).message}`, error);
  }
  const spec = parseInjectSpec(json, label);
  const base = dirname(label);

  const out: GuestFile[] = spec.dirs.map((d) => ({ kind: 'dir', ...d }));
  for (const [i, file] of spec.files.entries()) {
    if (file.content !== undefined) {
      const content = Buffer.from(file.content, 'utf8');
      out.push({ kind: 'file', path: file.path, content, size: content.length, mode: file.mode ?? 0o644, uid: file.uid, gid: file.gid });
      continue;
    }
    const hostPath = resolve(base, file.source as string);
    let info;
    try {
      info = await stat(hostPath);
    } catch (error) {
      throw injectError(`${label}: files[${i}].source: ${hostPath}: ${reason(error)}`, error);
    }
    if (!info.isFile()) throw injectError(`${label}: files[${i}].source: ${hostPath} is not a regular file`);
    out.push({ kind: 'file', path: file.path, hostPath, size: info.size, mode: file.mode ?? info.mode & 0o7777, uid: file.uid, gid: file.gid });
  }
  for (const link of spec.symlinks) out.push({ kind: 'symlink', ...link });
  return out;
}
