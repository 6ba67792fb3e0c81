import { access, constants, mkdir } from 'node:fs/promises';
import { Command } from 'commander';
import { defaultCacheDir } from '../../cache/dirs.js';
import { asRootforgeError } from '../../errors.js';
import { choosePopulate, detectE2fsprogs, findTool, TAR_STDIN_VERSION } from '../../ext4/tools.js';
import type { CommandContext } from '../context.js';

interface Check {
  name: string;
  ok: boolean;
  /** A missing required tool fails the run; an optional one only warns. */
  required: boolean;
  detail: string;
}

const E2FSPROGS = 'e2fsprogs (Debian/Ubuntu: apt-get install e2fsprogs; Fedora: dnf install e2fsprogs; Alpine: apk add e2fsprogs)';

/** What a build needs from this machine, each with what to install when it is missing. */
export async function runChecks(cacheDir: string, signal?: AbortSignal, toolDirs?: readonly string[]): Promise<Check[]> {
  const checks: Check[] = [];
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  checks.push({ name: 'node', ok: major > 20 || (major === 20 && minor >= 18), required: true, detail: `${process.versions.node} (needs 20.18 or newer)` });
  try {
    const tools = await detectE2fsprogs(signal, toolDirs ? { dirs: toolDirs } : {});
    checks.push({ name: 'mkfs.ext4', ok: true, required: true, detail: `${tools.mkfs} (e2fsprogs ${tools.version})` });
    checks.push({ name: 'debugfs', ok: true, required: true, detail: tools.debugfs });
    checks.push({ name: 'e2fsck', ok: Boolean(tools.e2fsck), required: false, detail: tools.e2fsck ?? `not found; without it and tune2fs, mkfs checksums as it fills (slower) and directories get no index: ${E2FSPROGS}` });
    checks.push({ name: 'tune2fs', ok: Boolean(tools.tune2fs), required: false, detail: tools.tune2fs ?? `not found; without it and e2fsck, mkfs checksums as it fills (slower) and directories get no index: ${E2FSPROGS}` });
    const populate = choosePopulate(undefined, tools);
    checks.push({
      name: 'tar populate (fast, reproducible)',
      ok: tools.tarStdin,
      required: false,
      detail: tools.tarStdin ? `yes: builds use --populate ${populate}` : `no (${tools.tarProblem ?? 'unknown'}): builds use --populate dir; install e2fsprogs ${TAR_STDIN_VERSION}+ (Debian 12: bookworm-backports)`,
    });
  } catch (error) {
    const e = asRootforgeError(error);
    checks.push({ name: 'e2fsprogs', ok: false, required: true, detail: `${e.message}; install ${E2FSPROGS}` });
  }
  const zstd = await findTool(['zstd'], ...(toolDirs ? [toolDirs] : []));
  checks.push({
    name: 'zstd',
    ok: zstd !== undefined,
    required: false,
    detail: zstd ? `${zstd}: decodes zstd layers about 4× faster than the built-in decoder` : 'not found; zstd layers decode in-process, about 4× slower: install zstd (apt-get, dnf or apk install zstd)',
  });
  try {
    await mkdir(cacheDir, { recursive: true });
    await access(cacheDir, constants.W_OK);
    checks.push({ name: 'cache', ok: true, required: true, detail: `${cacheDir} is writable` });
  } catch (error) {
    checks.push({ name: 'cache', ok: false, required: true, detail: `${cacheDir}: ${(error as Error).message}; set --cache-dir or ROOTFORGE_CACHE_DIR` });
  }
  return checks;
}

export function doctorCommand(context: CommandContext): Command {
  return new Command('doctor')
    .description('check that this machine has what rootforge needs, and say what to install')
    .option('--cache-dir <dir>', 'OCI layout cache to check (default: $ROOTFORGE_CACHE_DIR or $XDG_CACHE_HOME/rootforge/oci)')
    .option('--json', 'print the checks as JSON on stdout')
    .action(async (flags: { cacheDir?: string; json?: boolean }) => {
      const checks = await runChecks(flags.cacheDir ?? defaultCacheDir(), context.signal);
      if (flags.json) context.printer.data(JSON.stringify({ checks }, null, 2) + '\n');
      else for (const c of checks) context.printer.data(`${c.ok ? 'ok  ' : c.required ? 'FAIL' : 'warn'}  ${c.name}: ${c.detail}\n`);
      context.exitCode = checks.some((c) => c.required && !c.ok) ? 1 : 0;
    });
}
