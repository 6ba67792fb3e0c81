import { Command } from 'commander';
import { warm } from '../../batch/warm.js';
import { addImageOptions, collectImages, sessionOptions, type CommonFlags } from '../options.js';
import { createRenderer, exitCodeFor, printSummary } from '../output.js';
import type { CommandContext } from '../context.js';

export function warmCommand(context: CommandContext): Command {
  return addImageOptions(
    new Command('warm')
      .description('pull images into the OCI layout cache, verified, without building anything')
      .argument('[refs...]', 'image references, e.g. debian:bookworm'),
  ).action(async (args: string[], flags: CommonFlags) => {
    const images = await collectImages(args, flags.file);
      const renderer = createRenderer(flags);
    const result = await warm({
      ...sessionOptions(flags, context.signal),
      images,
      ...(flags.shard ? { shard: flags.shard } : {}),
      ...(flags.jobs ? { jobs: flags.jobs } : {}),
      onEvent: renderer.onEvent,
    });
    context.signal.throwIfAborted();
    renderer.finish(result.images);
      printSummary(context.printer, result.images, Boolean(flags.json), Boolean(flags.events));
    context.exitCode = exitCodeFor(result.images);
  });
}
