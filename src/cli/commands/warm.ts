import { Command } from 'commander';
import { warm } from '../../batch/warm.js';
import { addImageOptions, collectImages, sessionOptions, type CommonFlags } from '../options.js';
import { eventLogger, exitCodeFor, printSummary } from '../output.js';
import type { CommandContext } from '../context.js';

export function warmCommand(context: CommandContext): Command {
  return addImageOptions(
    new Command('warm')
      .description('pull images into the OCI layout cache, verified, without building anything')
      .argument('[refs...]', 'image references, e.g. debian:bookworm'),
  ).action(async (args: string[], flags: CommonFlags) => {
    const images = await collectImages(args, flags.file);
    const result = await warm({
      ...sessionOptions(flags, context.signal),
      images,
      ...(flags.shard ? { shard: flags.shard } : {}),
      ...(flags.jobs ? { jobs: flags.jobs } : {}),
      onEvent: eventLogger(context.printer, Boolean(flags.quiet || flags.json)),
    });
    context.signal.throwIfAborted();
    printSummary(context.printer, result.images, Boolean(flags.json));
    context.exitCode = exitCodeFor(result.images);
  });
}
