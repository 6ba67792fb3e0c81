import { Command } from 'commander';
import { defaultCacheDir } from '../../cache/dirs.js';
import { OciLayout } from '../../cache/layout.js';
import { pruneCache } from '../../cache/prune.js';
import { listCachedImages } from '../../cache/refs.js';
import { verifyCache } from '../../cache/verify.js';
import type { CommandContext } from '../context.js';

interface CacheFlags {
  cacheDir?: string;
  json?: boolean;
  fix?: boolean;
  uncompressed?: boolean;
  images?: boolean;
}

function withCacheOptions(command: Command): Command {
  return command.option('--cache-dir <dir>', 'OCI layout cache (default: $ROOTFORGE_CACHE_DIR or $XDG_CACHE_HOME/rootforge/oci)').option('--json', 'print a JSON document on stdout');
}

function openLayout(flags: CacheFlags): Promise<OciLayout> {
  return OciLayout.open(flags.cacheDir ?? defaultCacheDir());
}

export function cacheCommand(context: CommandContext): Command {
  const { printer } = context;
  const cache = new Command('cache').description('inspect and maintain the OCI layout cache');

  cache.addCommand(
    withCacheOptions(new Command('ls').description('list cached images')).action(async (flags: CacheFlags) => {
      const layout = await openLayout(flags);
      const images = await listCachedImages(layout);
      if (flags.json) {
        printer.data(JSON.stringify({ cacheDir: layout.root, images }, null, 2) + '\n');
        return;
      }
      printer.data(`cache: ${layout.root}\n`);
      for (const image of images) {
        printer.data(`${image.name}\t${image.platform ?? ''}\t${image.manifestDigest}\t${(image.size / 1e6).toFixed(1)} MB\t${image.complete ? 'complete' : 'incomplete'}\n`);
      }
    }),
  );

  cache.addCommand(
    withCacheOptions(new Command('verify').description('re-hash every blob and kept image; exit 1 if any is bad'))
      .option('--fix', 'remove the bad blobs and kept images')
      .action(async (flags: CacheFlags) => {
        const layout = await openLayout(flags);
        const report = await verifyCache(layout, { fix: Boolean(flags.fix), signal: context.signal });
        if (flags.json) printer.data(JSON.stringify(report, null, 2) + '\n');
        else {
          for (const bad of [...report.bad, ...report.badKeptImages]) printer.data(`${bad}\n`);
          printer.log(`${report.checked} blobs checked, ${report.bad.length} bad${flags.fix ? `, ${report.removed.length} removed` : ''}; ${report.keptImagesChecked} kept images checked, ${report.badKeptImages.length} bad${flags.fix ? ' and removed' : ''}`);
        }
        context.exitCode = report.bad.length + report.badKeptImages.length > 0 ? 1 : 0;
      }),
  );

  cache.addCommand(
    withCacheOptions(new Command('prune').description('remove blobs no cached image uses, and temp files of dead processes'))
      .option('--uncompressed', 'also remove the uncompressed layer tars kept for fast builds')
      .option('--images', 'also remove every built image kept for rebuilds (by default only those of images no longer cached)')
      .action(async (flags: CacheFlags) => {
        const layout = await openLayout(flags);
        const report = await pruneCache(layout, { uncompressed: Boolean(flags.uncompressed), images: Boolean(flags.images) });
        if (flags.json) printer.data(JSON.stringify(report, null, 2) + '\n');
        else printer.log(`removed ${report.removed.length} blobs, ${report.flattened} merged tars left by older versions and ${report.keptImages} kept images (${(report.freedBytes / 1e6).toFixed(1)} MB), and ${report.staleTemps} stale temp files`);
      }),
  );
  return cache;
}
