/**
 * The e2fsprogs probe, remembered in the cache. Probing runs mkfs twice, about 80 ms of a warm build; the
 * record is used only while everything the answer depends on is unchanged: the binaries found, the shared
 * libraries and locales mkfs loads (libarchive and C.UTF-8 for tar input), and the environment that steers them.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { packageVersion } from '../package-root.js';
import { detectE2fsprogs, findTool, searchDirs, type E2fsTools } from '../ext4/tools.js';

export const TOOLS_RECORD_DIR = 'rootforge-tools';
const RECORD_FILE = 'e2fsprogs.json';

/** ldconfig rewrites ld.so.cache whenever a library is installed or removed; the locale files hold C.UTF-8 where glibc does not build it in. */
const LOADER_FILES = ['/etc/ld.so.cache', '/usr/lib/locale/locale-archive', '/usr/lib/locale/C.utf8', '/usr/lib/locale/C.UTF-8'];
const LOADER_ENV = ['LD_LIBRARY_PATH', 'LD_PRELOAD', 'LOCPATH'];

interface ToolsRecord {
  key: string;
  tools: E2fsTools;
}

export function toolsRecordPath(cacheRoot: string): string {
  return join(cacheRoot, TOOLS_RECORD_DIR, RECORD_FILE);
}

async function identity(path: string): Promise<string> {
  const s = await stat(path).catch(() => undefined);
  return s ? `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}` : 'missing';
}

type FoundTools = Pick<E2fsTools, 'mkfs' | 'debugfs' | 'e2fsck' | 'tune2fs'>;

/** Names what the probe would see; undefined when mkfs or debugfs is not found, so the probe reports that itself. */
async function probeKey(dirs: readonly string[], env: NodeJS.ProcessEnv): Promise<{ key: string; found: FoundTools } | undefined> {
  const [mkfs, debugfs, e2fsck, tune2fs] = await Promise.all([findTool(['mkfs.ext4', 'mke2fs'], dirs), findTool(['debugfs'], dirs), findTool(['e2fsck', 'fsck.ext4'], dirs), findTool(['tune2fs'], dirs)]);
  if (!mkfs || !debugfs) return undefined;
  const files = [mkfs, debugfs, e2fsck ?? 'none', tune2fs ?? 'none', ...LOADER_FILES];
  const identities = await Promise.all(files.map(async (file) => [file, file === 'none' ? 'none' : await identity(file)]));
  const material = { rootforge: packageVersion(), dirs, files: identities, env: LOADER_ENV.map((name) => env[name] ?? null) };
  return { key: createHash('sha256').update(JSON.stringify(material)).digest('hex'), found: { mkfs, debugfs, ...(e2fsck ? { e2fsck } : {}), ...(tune2fs ? { tune2fs } : {}) } };
}

/** A record may name only the binaries this search finds: a cache others can write must not choose what rootforge runs. */
function namesFound(tools: E2fsTools, found: FoundTools): boolean {
  return tools.mkfs === found.mkfs && tools.debugfs === found.debugfs && tools.e2fsck === found.e2fsck && tools.tune2fs === found.tune2fs;
}

async function readRecord(path: string): Promise<ToolsRecord | undefined> {
  try {
    const record = JSON.parse(await readFile(path, 'utf8')) as Partial<ToolsRecord>;
    return typeof record.key === 'string' && typeof record.tools?.mkfs === 'string' ? (record as ToolsRecord) : undefined;
  } catch {
    return undefined;
  }
}

/** detectE2fsprogs, answered from the cache's record while nothing it depends on has changed; a cache that cannot be written only means probing again. */
export async function rememberedE2fsprogs(cacheRoot: string, signal?: AbortSignal, opts: { pathEnv?: string; env?: NodeJS.ProcessEnv } = {}): Promise<E2fsTools> {
  const dirs = searchDirs(opts.pathEnv ?? process.env.PATH);
  const probe = await probeKey(dirs, opts.env ?? process.env);
  const path = toolsRecordPath(cacheRoot);
  if (probe !== undefined) {
    const record = await readRecord(path);
    if (record?.key === probe.key && namesFound(record.tools, probe.found)) return record.tools;
  }
  const tools = await detectE2fsprogs(signal, { dirs });
  if (probe !== undefined) {
    await mkdir(dirname(path), { recursive: true })
      .then(() => writeFileAtomic(path, JSON.stringify({ key: probe.key, tools } satisfies ToolsRecord, null, 2) + '\n'))
      .catch(() => undefined);
  }
  return tools;
}

/** Drops the record, so the next build probes afresh (after mkfs or debugfs failed in a way the record did not foresee). */
export async function forgetE2fsprogs(cacheRoot: string): Promise<void> {
  await rm(toolsRecordPath(cacheRoot), { force: true });
}
