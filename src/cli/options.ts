import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { RootforgeError } from '../errors.js';
import type { SessionOptions } from '../batch/session.js';

export interface CommonFlags {
  cacheDir?: string;
  platform?: string;
  insecureRegistry: string[];
  retries?: number;
  timeout?: number;
  workers?: number;
  jobs?: number;
  file?: string;
  json?: boolean;
  quiet?: boolean;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Options every image command takes; they follow the subcommand. */
export function addImageOptions(command: Command): Command {
  return command
    .option('-f, --file <list>', 'read references from a file, one per line (# starts a comment)')
    .option('--platform <os/arch[/variant]>', 'platform to pick from a multi-platform index', 'linux/amd64')
    .option('--cache-dir <dir>', 'OCI layout cache (default: $ROOTFORGE_CACHE_DIR or $XDG_CACHE_HOME/rootforge/oci)')
    .option('--insecure-registry <host>', 'allow plain HTTP to this registry host (repeatable); loopback hosts always may', collect, [])
    .option('--retries <n>', 'retries per request on network errors, 5xx and 429', positiveInt, 4)
    .addOption(new Option('--timeout <seconds>', 'give up on a request that sends nothing for this long').argParser(positiveInt).default(60))
    .option('--workers <n>', 'worker threads for download, hashing and decompression (default: core count)', positiveInt)
    .option('--jobs <n>', 'images worked on at once', positiveInt)
    .option('--json', 'print one JSON document with the results on stdout')
    .option('-q, --quiet', 'print nothing but errors');
}

/** References from the arguments and --file, in order, without blanks or comments. */
export async function collectRefs(args: string[], file: string | undefined): Promise<string[]> {
  const refs = [...args];
  if (file) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new RootforgeError('ERR_USAGE', `cannot read ${file}: ${(error as Error).message}`);
    }
    for (const line of text.split('\n')) {
      const ref = line.replace(/#.*/, '').trim();
      if (ref) refs.push(ref);
    }
  }
  if (refs.length === 0) throw new RootforgeError('ERR_USAGE', 'no image references given');
  return refs;
}

export function sessionOptions(flags: CommonFlags, signal: AbortSignal): SessionOptions {
  return {
    ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}),
    ...(flags.platform ? { platform: flags.platform } : {}),
    insecureRegistries: flags.insecureRegistry,
    ...(flags.retries !== undefined ? { retries: flags.retries } : {}),
    ...(flags.timeout !== undefined ? { timeoutMs: flags.timeout * 1000 } : {}),
    ...(flags.workers ? { workers: flags.workers } : {}),
    signal,
  };
}
