import { Command, InvalidArgumentError, Option } from 'commander';
import { build } from '../../batch/build.js';
import { addImageOptions, collectImages, sessionOptions, sizeArg, type CommonFlags } from '../options.js';
import { createRenderer, exitCodeFor, printSummary } from '../output.js';
import type { CommandContext } from '../context.js';

interface BuildFlags extends CommonFlags {
  out: string;
  size?: number;
  headroom?: number;
  populate?: 'tar' | 'dir';
  /** A JSON file of extra files, or false for --no-inject. */
  inject?: string | false;
  agent?: string;
  workDir?: string;
  force?: boolean;
  overlay?: string;
  uuid?: string;
  sourceDateEpoch?: number;
  check?: boolean;
  /** false for --no-image-cache. */
  imageCache?: boolean;
  overlayOwner?: { uid: number; gid: number };
}

function epochArg(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) throw new InvalidArgumentError('expected seconds since 1970 (a whole number)');
  return n;
}

function uuidArg(value: string): string {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) throw new InvalidArgumentError('expected a UUID like 3f2b8c1e-…');
  return value.toLowerCase();
}

function ownerArg(value: string): { uid: number; gid: number } {
  const match = /^(\d+):(\d+)$/.exec(value);
  if (!match) throw new InvalidArgumentError('expected UID:GID, e.g. 1000:1000');
  return { uid: Number(match[1]), gid: Number(match[2]) };
}

function percentArg(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1000) throw new InvalidArgumentError('expected a percentage from 0 to 1000');
  return n;
}

export function buildCommand(context: CommandContext): Command {
  return addImageOptions(
    new Command('build')
      .description('build an ext4 root filesystem per image: OUT/<name>.ext4 and OUT/<name>.json')
      .argument('[refs...]', 'image references, e.g. debian:bookworm'),
  )
    .option('-o, --out <dir>', 'output directory', '.')
    .option('--size <size>', 'exact image size, e.g. 2G, 512M (default: sized from the content)', sizeArg)
    .option('--headroom <percent>', 'free space added to a content-sized image', percentArg)
    .addOption(new Option('--populate <how>', 'how mkfs.ext4 is filled (default: tar when e2fsprogs >= 1.47.1)').choices(['tar', 'dir']))
    .option('--inject <file.json>', 'add the files, directories and symlinks this JSON lists (see README)')
    .option('--no-inject', 'do not add the rootforge guest files (--overlay and --inject still apply)')
    .option('--agent <path>', 'vsock agent binary to install as /usr/local/bin/rootforge-vsock-agent')
    .option('--overlay <dir>', 'copy this directory tree into every image (owned by root)')
    .option('--overlay-owner <uid:gid>', 'owner of the --overlay files instead of root', ownerArg)
    .option('--work-dir <dir>', 'where staging directories and the merged tar mkfs reads go (default: $TMPDIR)')
    .option('--force', 'rebuild even when an output from the same manifest and options exists')
    .option('--check', 'rebuild into a temp file and compare with the existing output and its sidecar (exit 0 if identical)')
    .option('--no-image-cache', 'neither keep the built images in the cache (a hard link each) nor copy one an earlier build kept')
    .option('--uuid <uuid>', 'filesystem UUID (default: derived from the manifest digest and the options)', uuidArg)
    .option('--source-date-epoch <seconds>', 'timestamp of everything mkfs and debugfs create (default: the image config\'s created time, or the newest file time if later)', epochArg)
    .action(async (args: string[], flags: BuildFlags) => {
      const images = await collectImages(args, flags.file);
      const renderer = createRenderer(flags);
      const result = await build({
        ...sessionOptions(flags, context.signal),
        images,
      ...(flags.shard ? { shard: flags.shard } : {}),
        outDir: flags.out,
        ...(flags.jobs ? { jobs: flags.jobs } : {}),
        ...(flags.size !== undefined ? { sizeBytes: flags.size } : {}),
        ...(flags.headroom !== undefined ? { headroomPercent: flags.headroom } : {}),
        ...(flags.populate ? { populate: flags.populate } : {}),
        inject: flags.inject !== false,
        ...(flags.agent ? { agentPath: flags.agent } : {}),
        ...(flags.workDir ? { workDir: flags.workDir } : {}),
        ...(flags.overlay ? { overlayDir: flags.overlay } : {}),
        ...(flags.overlayOwner ? { overlayOwner: flags.overlayOwner } : {}),
        ...(typeof flags.inject === 'string' ? { injectFile: flags.inject } : {}),
        force: Boolean(flags.force),
        check: Boolean(flags.check),
        imageCache: flags.imageCache !== false,
        ...(flags.uuid ? { uuid: flags.uuid } : {}),
        ...(flags.sourceDateEpoch !== undefined ? { sourceDateEpoch: flags.sourceDateEpoch } : {}),
        onEvent: renderer.onEvent,
      });
      context.signal.throwIfAborted();
      renderer.finish(result.images);
      printSummary(context.printer, result.images, Boolean(flags.json), Boolean(flags.events));
      context.exitCode = exitCodeFor(result.images);
    });
}
