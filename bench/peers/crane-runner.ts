// The crane pipeline: `crane export` streams the flattened tar straight into `mkfs.ext4 -d -`.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { mkfsArgs } from '../../src/ext4/mkfs-args.js';
import { createSparse } from '../../src/ext4/mkfs.js';
import { eachImage, measure, type Sample, type ToolRun } from './measure.js';
import { start } from './spawn.js';

/** crane keeps no cache, so this is both its cold and its warm figure. */
export async function runCrane(tool: ToolRun, binaries: { crane: string; mkfs: string }): Promise<Sample> {
  await rm(join(tool.dir, 'out'), { recursive: true, force: true });
  await mkdir(join(tool.dir, 'out'), { recursive: true });
  return measure((sampler) =>
    eachImage(tool, async (image, i) => {
      const output = join(tool.dir, 'out', `${i}.ext4`);
      const started = performance.now();
      await createSparse(output, image.size.bytes);
      const crane = start(binaries.crane, ['export', '--insecure', image.ref, '-'], { stdout: 'pipe', sampler });
      const mkfs = start(binaries.mkfs, mkfsArgs(output, image.size, '-'), { stdin: crane.stdout, env: tool.mkfsEnv, sampler });
      // mkfs holds its own copy of the pipe; ours would only keep it open.
      crane.stdout.destroy();
      const [exported, built] = await Promise.all([crane.done, mkfs.done]);
      // crane exits once mkfs has read nearly all of the tar; what follows is mkfs finishing alone.
      return { stages: { 'export|mkfs': (exported.exitedAt - started) / 1000, 'mkfs tail': Math.max(0, built.exitedAt - exported.exitedAt) / 1000 }, output };
    }),
  );
}
