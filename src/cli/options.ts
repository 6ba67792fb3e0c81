import { resolve } from 'node:path';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { RootforgeError } from '../errors.js';
import { parseSize } from '../ext4/size.js';
import type { SessionOptions } from '../batch/session.js';
import { readBatchFile } from '../batch/batch-file.js';
import { planBatch } from '../batch/plan-batch.js';
import type { ImageSpec } from '../batch/image-spec.js';
import { parseShard, type Shard } from '../batch/shard.js';

export interface CommonFlags {
  cacheDir?: string;
  platform?: string;
  insecureRegistry: string[];
  caFile?: string;
  retries?: number;
  timeout?: number;
  workers?: number;
  jobs?: number;
  file?: string;
  mirror: Record<string, string>;
  shard?: Shard;
  maxLayerSize?: number;
  maxExpansion?: number;
  json?: boolean;
  events?: boolean;
  quiet?: boolean;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
}

export function sizeArg(value: string): number {
  try {
    return parseSize(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/** Repeatable options also take a comma-separated list, which is how an environment variable holds several. */
function listItems(value: string): string[] {
  return value.split(',').map((item) => item.trim()).filter(Boolean);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, ...listItems(value)];
}

/** How to reach registries and where the cache is: every command that resolves references takes these. */
export function addRegistryOptions(command: Command): Command {
  return command
    .option('--platform <os/arch[/variant]>', 'platform to pick from a multi-platform index (default: linux/amd64)')
    .option('--cache-dir <dir>', 'OCI layout cache (default: $ROOTFORGE_CACHE_DIR or $XDG_CACHE_HOME/rootforge/oci)')
    .option('--insecure-registry <host>', 'allow plain HTTP to this registry host when it does not speak TLS (repeatable); loopback hosts always may', collect, [])
    .option('--ca-file <file>', 'PEM CA certificates to trust besides the built-in roots (default: $SSL_CERT_FILE)')
    .option('--retries <n>', 'retries per request on network errors, 5xx and 429', positiveInt, 4)
    .addOption(new Option('--timeout <seconds>', 'give up on a request that sends nothing for this long').argParser(positiveInt).default(60))
    .option('--mirror <registry=host>', 'pull REGISTRY through a mirror (e.g. a Distribution pull-through cache); falls back to REGISTRY if the mirror fails (repeatable)', mirrorArg, {});
}

/** Options every image command takes; they follow the subcommand. */
export function addImageOptions(command: Command): Command {
  return addRegistryOptions(command.option('-f, --file <list>', 'read references from a file, one per line (# starts a comment)'))
    .option('--workers <n>', 'worker threads for download, hashing and decompression (default: core count)', positiveInt)
    .option('--jobs <n>', 'images worked on at once', positiveInt)
    .option('--shard <K/N>', 'work only on the K-th (0-based) of N round-robin slices of the batch, e.g. "$JOB_COMPLETION_INDEX/4"', shardArg)
    .option('--max-layer-size <size>', 'refuse a layer that expands past this, e.g. 64G (default 64G)', sizeArg)
    .option('--max-expansion <ratio>', 'refuse a layer over 256M that expands more than RATIO times its compressed size (default 100; 0: no ratio check)', positiveInt)
    .option('--json', 'print one JSON document with the results on stdout')
    .option('--events', 'print newline-delimited JSON events on stdout while the run goes, then a {"type":"summary"} line')
    .option('-q, --quiet', 'print nothing but errors');
}

/** Images from the arguments, then --file (a plain list, or YAML/JSON whose defaults fill each of its images). */
export async function collectImages(args: string[], file: string | undefined): Promise<ImageSpec[]> {
  const images: ImageSpec[] = args.map((ref) => ({ ref }));
  if (file) {
    const batch = await readBatchFile(file);
    images.push(...batch.images.map((spec) => ({ ...batch.defaults, ...spec })));
    // Report the file's problems together with those of its references and names, before any work.
    if (batch.problems.length > 0) planBatch(images, { problems: batch.problems });
  }
  if (images.length === 0) throw new RootforgeError('ERR_USAGE', 'no image references given');
  return images;
}

function mirrorArg(value: string, previous: Record<string, string>): Record<string, string> {
  const mirrors = { ...previous };
  for (const item of listItems(value)) {
    const match = /^([^=\s]+)=([^=\s]+)$/.exec(item);
    if (!match) throw new InvalidArgumentError('expected REGISTRY=MIRROR, e.g. docker.io=mirror.local:5000');
    mirrors[match[1] as string] = match[2] as string;
  }
  return mirrors;
}

function shardArg(value: string): Shard {
  try {
    return parseShard(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

export function sessionOptions(flags: CommonFlags, signal: AbortSignal): SessionOptions {
  if (flags.events && flags.json) throw new RootforgeError('ERR_USAGE', '--events and --json both write to stdout; --events already ends with a summary line');
  return {
    ...(flags.cacheDir ? { cacheDir: flags.cacheDir } : {}),
    ...(flags.platform ? { platform: flags.platform } : {}),
    insecureRegistries: flags.insecureRegistry,
    ...(flags.caFile ? { caFile: resolve(flags.caFile) } : {}),
    ...(flags.retries !== undefined ? { retries: flags.retries } : {}),
    ...(flags.timeout !== undefined ? { timeoutMs: flags.timeout * 1000 } : {}),
    ...(flags.workers ? { workers: flags.workers } : {}),
    ...(Object.keys(flags.mirror).length ? { mirrors: flags.mirror } : {}),
    ...(flags.maxLayerSize !== undefined ? { maxLayerBytes: flags.maxLayerSize } : {}),
    ...(flags.maxExpansion !== undefined ? { maxExpansion: flags.maxExpansion } : {}),
    signal,
  };
}
