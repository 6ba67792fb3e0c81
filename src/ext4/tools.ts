/** Finds the e2fsprogs binaries, their version, and whether mkfs can read a tar on stdin. */
import { constants } from 'node:fs';
import { access, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { execa } from 'execa';
import { pack as tarPack } from 'tar-stream';
import { RootforgeError } from '../errors.js';
import { e2fsEnv, withMke2fsConfig } from './mke2fs-config.js';
import { toolError } from './tool-error.js';

export interface E2fsTools {
  /** e2fsprogs version, e.g. "1.47.2". */
  version: string;
  mkfs: string;
  debugfs: string;
  e2fsck?: string;
  tune2fs?: string;
  /** mkfs.ext4 fills the image from a tar on stdin (`-d -`): 1.47.1+, with libarchive loadable and C.UTF-8 usable. */
  tarStdin: boolean;
  /** Why tarStdin is false, for the error when tar is asked for. */
  tarProblem?: string;
}

/** First e2fsprogs whose `mkfs.ext4 -d -` reads tar input. */
export const TAR_STDIN_VERSION = '1.47.1';

/** Where distributions put e2fsprogs; a non-root user's PATH often lacks the sbin directories. */
export const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** "1.47.2" from `mke2fs 1.47.2 (1-Jan-2025)`, or undefined. */
export function parseE2fsVersion(text: string): string | undefined {
  return /\b(?:mke2fs|debugfs|e2fsck) (\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
}

/** Numeric comparison of dotted versions: negative when a < b. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** Directories to search: PATH first, then the sbin directories, each once. */
export function searchDirs(pathEnv: string | undefined = process.env.PATH): string[] {
  const dirs = (pathEnv ?? '').split(delimiter).filter((d) => d !== '');
  return [...new Set([...dirs, ...SBIN_DIRS])];
}

/** The first executable called one of names in dirs. */
export async function findTool(names: readonly string[], dirs: readonly string[] = searchDirs()): Promise<string | undefined> {
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = join(dir, name);
      try {
        await access(candidate, constants.X_OK);
        return candidate;
      } catch {
        // not here; keep looking
      }
    }
  }
  return undefined;
}

async function requireTool(names: readonly string[], dirs: readonly string[]): Promise<string> {
  const found = await findTool(names, dirs);
  if (!found) {
    throw new RootforgeError('ERR_TOOL_MISSING', `${names[0]} was not found on PATH or in ${SBIN_DIRS.join(', ')}`);
  }
  return found;
}

/** A one-file tar whose name needs UTF-8 PAX handling, the hardest thing mkfs must read from the real tars. */
async function probeTar(): Promise<Buffer> {
  const pack = tarPack();
  const chunks: Buffer[] = [];
  pack.on('data', (chunk: unknown) => void chunks.push(chunk as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  pack.entry({ name: 'rootforge-probe-\u00e9', type: 'file', mode: 0o644, mtime: new Date(0), pax: { path: 'rootforge-probe-\u00e9' } }, 'x');
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** Builds a tiny image from a tar on stdin; returns why it failed, or undefined. */
async function probeTarStdin(mkfs: string, signal?: AbortSignal): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'rootforge-probe-'));
  try {
    const image = join(dir, 'probe.ext4');
    const input = await probeTar();
    const result = await withMke2fsConfig((config) =>
      execa(mkfs, ['-F', '-q', '-t', 'ext4', '-T', 'default', '-b', '4096', '-N', '16', '-O', '^has_journal', '-d', '-', image, '256k'], {
        input,
        all: true,
        reject: false,
        env: e2fsEnv({}, config),
        ...(signal ? { cancelSignal: signal } : {}),
      }),
    );
    if (result.isCanceled) throw new RootforgeError('ERR_ABORTED', 'interrupted while probing mkfs.ext4');
    if (result.exitCode === 0) return undefined;
    const output = String(result.all ?? '').trim();
    if (/libarchive/.test(output)) return 'mkfs.ext4 cannot load libarchive (install libarchive13 / libarchive)';
    if (/current locale|convert/.test(output)) return 'the C.UTF-8 locale is missing, so mkfs.ext4 cannot read UTF-8 tar paths';
    return `mkfs.ext4 could not read a test tar: ${output || `exit ${result.exitCode}`}`;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Finds mkfs.ext4, debugfs and e2fsck (PATH, then sbin), reads the version, and probes tar input. */
export async function detectE2fsprogs(signal?: AbortSignal, opts: { pathEnv?: string; dirs?: readonly string[] } = {}): Promise<E2fsTools> {
  const dirs = opts.dirs ?? searchDirs(opts.pathEnv ?? process.env.PATH);
  const mkfs = await requireTool(['mkfs.ext4', 'mke2fs'], dirs);
  const debugfs = await requireTool(['debugfs'], dirs);
  const e2fsck = await findTool(['e2fsck', 'fsck.ext4'], dirs);
  const tune2fs = await findTool(['tune2fs'], dirs);
  // mke2fs -V prints its version on stderr and exits 0.
  const result = await execa(mkfs, ['-V'], { all: true, reject: false, env: e2fsEnv(), ...(signal ? { cancelSignal: signal } : {}) });
  if (result.isCanceled) throw new RootforgeError('ERR_ABORTED', 'interrupted while detecting e2fsprogs');
  const output = String(result.all ?? '');
  const version = parseE2fsVersion(output);
  if (result.failed || !version) {
    throw toolError({ tool: `${mkfs} -V`, exitCode: result.exitCode, output, code: (result.cause as NodeJS.ErrnoException | undefined)?.code });
  }
  const tools: E2fsTools = { version, mkfs, debugfs, tarStdin: false, ...(e2fsck ? { e2fsck } : {}), ...(tune2fs ? { tune2fs } : {}) };
  if (compareVersions(version, TAR_STDIN_VERSION) < 0) {
    tools.tarProblem = `e2fsprogs ${version} is older than ${TAR_STDIN_VERSION}`;
    return tools;
  }
  const problem = await probeTarStdin(mkfs, signal);
  if (problem) tools.tarProblem = problem;
  else tools.tarStdin = true;
  return tools;
}

/** tar when mkfs can read it (the default), dir otherwise; asking for tar that cannot work is an error. */
export function choosePopulate(requested: 'tar' | 'dir' | undefined, tools: Pick<E2fsTools, 'version' | 'tarStdin' | 'tarProblem'>): 'tar' | 'dir' {
  if (requested === 'dir') return 'dir';
  if (tools.tarStdin) return 'tar';
  if (requested === undefined) return 'dir';
  if (compareVersions(tools.version, TAR_STDIN_VERSION) < 0) {
    throw new RootforgeError('ERR_TOOL_TOO_OLD', `--populate tar needs e2fsprogs ${TAR_STDIN_VERSION} or newer; this is ${tools.version}`);
  }
  throw new RootforgeError('ERR_TOOL_MISSING', `--populate tar cannot work here: ${tools.tarProblem ?? 'mkfs.ext4 cannot read tar input'}`, {
    hint: 'Install libarchive (Debian/Ubuntu: libarchive13, Fedora: libarchive, Alpine: libarchive) and the C.UTF-8 locale, or use --populate dir.',
  });
}

/** The e2fsprogs binaries found once per process, for runners called without an explicit path. */
let cached: Promise<string | undefined>[] | undefined;
export async function defaultTool(name: 'mkfs.ext4' | 'debugfs' | 'e2fsck'): Promise<string> {
  cached ??= [findTool(['mkfs.ext4', 'mke2fs']), findTool(['debugfs']), findTool(['e2fsck', 'fsck.ext4'])];
  const index = name === 'mkfs.ext4' ? 0 : name === 'debugfs' ? 1 : 2;
  const found = await cached[index];
  if (!found) throw new RootforgeError('ERR_TOOL_MISSING', `${name} was not found on PATH or in ${SBIN_DIRS.join(', ')}`);
  return found;
}
