/** Pure builder of one `debugfs -w -f -` script; quoting follows e2fsprogs lib/ss/parse.c (see quoteDebugfsArg). */
import { RootforgeError } from '../errors.js';
import type { DebugfsOp } from './debugfs-ops.js';

/** fgets(buf, BUFSIZ) keeps 8191 bytes including the newline; glibc's BUFSIZ is 8192. */
export const MAX_DEBUGFS_LINE_BYTES = 8190;

const S_IFMT = 0o170000;
/** debugfs's mknod parses major and minor with a 65535 cap; larger minors go straight into i_block[1]. */
const MKNOD_MAX = 0xffff;
const MAX_MAJOR = 0xfff;
const MAX_MINOR = 0xfffff;
/** ext4 keeps seconds as a signed 32-bit field plus two epoch bits; e2fsck calls epoch 3 "pre-1970 gone wrong". */
const MIN_TIME = -(2 ** 31);
const MAX_TIME = 2 ** 33 - 1;

// fgets ends a line at '\n', debugfs then cuts it at '\r', and C strings end at NUL: none can be quoted.
const UNSAYABLE = /[\n\r\0]/;

function unsayable(path: string, what: string, value: string): never {
  const char = value.includes('\0') ? 'NUL' : value.includes('\n') ? 'a newline' : 'a carriage return';
  throw new RootforgeError('ERR_DEBUGFS_NAME', `debugfs cannot express ${JSON.stringify(path)}: its ${what} contains ${char}`);
}

/** ss_parse splits on space/tab only and reads `""` inside quotes as `"`; backslash, '#', '<' and '-' are plain there. */
export function quoteDebugfsArg(value: string, path = value, what = 'name'): string {
  if (UNSAYABLE.test(value)) unsayable(path, what, value);
  return `"${value.replaceAll('"', '""')}"`;
}

/** Throws ERR_DEBUGFS_NAME when a path (or another string) cannot appear in a debugfs script. */
export function checkDebugfsName(path: string, value: string = path, what = 'name'): void {
  if (UNSAYABLE.test(value)) unsayable(path, what, value);
}

/** '/a/b' form of a path that may be given relative to the root ('' is the root). */
export function absolutePath(path: string): string {
  const abs = path.startsWith('/') ? path : `/${path}`;
  if (abs !== '/' && (abs.endsWith('/') || abs.includes('//') || abs.split('/').some((p) => p === '.' || p === '..'))) {
    throw new RootforgeError('ERR_INTERNAL', `debugfs op path ${JSON.stringify(path)} is not normalised`);
  }
  return abs;
}

function splitParent(abs: string): { parent: string; name: string } {
  const slash = abs.lastIndexOf('/');
  const name = abs.slice(slash + 1);
  if (name === '') throw new RootforgeError('ERR_INTERNAL', 'a debugfs op cannot create the root directory');
  return { parent: slash === 0 ? '/' : abs.slice(0, slash), name };
}

function integer(path: string, what: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RootforgeError('ERR_INTERNAL', `debugfs op for ${path}: ${what} ${value} is out of range`);
  }
  return value;
}

/** Linux's new_encode_dev, what ext4 keeps in i_block[1] for devices that do not fit the old 8:8 form. */
function newEncodeDev(major: number, minor: number): number {
  return ((minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12)) >>> 0;
}

const TIME_FIELDS = new Set(['mtime', 'atime', 'ctime']);

/** Values for set_inode_field: modes in octal, times in hex so strptime("%Y%m%d%H%M%S") never reads them as dates. */
function fieldLines(abs: string, field: string, value: number | string): string[] {
  const target = quoteDebugfsArg(abs);
  if (typeof value === 'string') return [`set_inode_field ${target} ${field} ${quoteDebugfsArg(value, abs, `${field} value`)}`];
  if (field === 'mode') {
    integer(abs, 'mode', value, 0, 0o177777);
    if ((value & S_IFMT) === 0) throw new RootforgeError('ERR_INTERNAL', `debugfs op for ${abs}: mode ${value.toString(8)} lacks the file type bits`);
    return [`set_inode_field ${target} mode 0${value.toString(8)}`];
  }
  if (TIME_FIELDS.has(field)) {
    if (!Number.isInteger(value)) throw new RootforgeError('ERR_INTERNAL', `debugfs op for ${abs}: ${field} ${value} is not whole seconds`);
    const seconds = Math.min(MAX_TIME, Math.max(MIN_TIME, value));
    if (seconds >= 0) return [`set_inode_field ${target} ${field} 0x${seconds.toString(16)}`];
    // debugfs cannot parse a negative time: clear the epoch bits, then write the raw signed 32-bit field.
    return [`set_inode_field ${target} ${field} 0x0`, `set_inode_field ${target} ${field}_lo 0x${(seconds >>> 0).toString(16)}`];
  }
  integer(abs, field, value, 0, 0xffffffff);
  return [`set_inode_field ${target} ${field} ${value}`];
}

/** The script for a list of ops: creations run from inside their parent, removals from the root. */
export function buildDebugfsScript(ops: readonly DebugfsOp[]): string {
  const lines: string[] = [];
  let cwd = '/';
  const push = (abs: string, line: string): void => {
    if (Buffer.byteLength(line) > MAX_DEBUGFS_LINE_BYTES) {
      throw new RootforgeError('ERR_DEBUGFS_NAME', `debugfs cannot express ${JSON.stringify(abs)}: its command line is longer than ${MAX_DEBUGFS_LINE_BYTES} bytes`);
    }
    lines.push(line);
  };
  // debugfs's mknod links its whole argument as one name in the cwd, so every creation works on a bare name.
  const enter = (abs: string): string => {
    const { parent, name } = splitParent(abs);
    if (parent !== cwd) {
      push(abs, `cd ${quoteDebugfsArg(parent, abs)}`);
      cwd = parent;
    }
    return quoteDebugfsArg(name, abs);
  };
  // rm, unlink, rmdir and link resolve "/name"'s parent "" against the cwd, so they must run from the root.
  const atRoot = (abs: string): void => {
    if (cwd !== '/') {
      push(abs, 'cd "/"');
      cwd = '/';
    }
  };

  for (const op of ops) {
    const abs = absolutePath(op.path);
    switch (op.op) {
      case 'mkdir':
        push(abs, `mkdir ${enter(abs)}`);
        break;
      case 'write': {
        const host = quoteDebugfsArg(op.hostPath, abs, 'host file path');
        push(abs, `write ${host} ${enter(abs)}`);
        break;
      }
      case 'symlink': {
        const target = quoteDebugfsArg(op.target, abs, 'symlink target');
        push(abs, `symlink ${enter(abs)} ${target}`);
        break;
      }
      case 'mknod': {
        if (op.kind === 'fifo') {
          push(abs, `mknod ${enter(abs)} p`);
          break;
        }
        const major = integer(abs, 'major', op.major ?? 0, 0, MAX_MAJOR);
        const minor = integer(abs, 'minor', op.minor ?? 0, 0, MAX_MINOR);
        const letter = op.kind === 'char' ? 'c' : 'b';
        if (major <= MKNOD_MAX && minor <= MKNOD_MAX) {
          push(abs, `mknod ${enter(abs)} ${letter} ${major} ${minor}`);
          break;
        }
        push(abs, `mknod ${enter(abs)} ${letter} ${major} 0`);
        push(abs, `set_inode_field ${quoteDebugfsArg(abs)} block[0] 0`);
        push(abs, `set_inode_field ${quoteDebugfsArg(abs)} block[1] ${newEncodeDev(major, minor)}`);
        break;
      }
      case 'link':
        atRoot(abs);
        push(abs, `link ${quoteDebugfsArg(absolutePath(op.target), abs, 'link target')} ${quoteDebugfsArg(abs)}`);
        break;
      case 'set_inode_field':
        for (const line of fieldLines(abs, op.field, op.value)) push(abs, line);
        break;
      case 'ea_set': {
        const file = quoteDebugfsArg(op.valueFile, abs, 'xattr value file path');
        push(abs, `ea_set -f ${file} ${quoteDebugfsArg(abs)} ${quoteDebugfsArg(op.name, abs, 'xattr name')}`);
        break;
      }
      case 'unlink':
      case 'rm':
      case 'rmdir':
        atRoot(abs);
        push(abs, `${op.op} ${quoteDebugfsArg(abs)}`);
        break;
      default: {
        const never: never = op;
        throw new RootforgeError('ERR_INTERNAL', `unknown debugfs op ${JSON.stringify(never)}`);
      }
    }
  }
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}
