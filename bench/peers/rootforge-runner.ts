// rootforge as users run it: the CLI, one process for the whole batch, --json for per-stage seconds.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageResult } from '../../src/batch/image-result.js';
import { measure, type Mode, type Sample, type ToolRun } from './measure.js';
import { run } from './spawn.js';

const CLI = fileURLToPath(new URL('../../src/cli/launch.js', import.meta.url));

/**
 * Cold starts from an empty cache. Warm, run next, reuses the cache cold filled, as a user's next
 * build would: cold's output is deleted first, so the kept image is handed out itself. Rebuild, run
 * last, also reuses it, but --force builds the image again.
 */
export async function runRootforge(tool: ToolRun, mode: Mode): Promise<Sample> {
  const cacheDir = join(tool.dir, 'cache');
  const outDir = join(tool.dir, 'out');
  if (mode === 'cold') await rm(cacheDir, { recursive: true, force: true });
  await rm(outDir, { recursive: true, force: true });
  const args = [
    CLI, 'build', ...tool.images.map((i) => i.ref),
    '--out', outDir, '--cache-dir', cacheDir, '--work-dir', tool.dir,
    '--jobs', String(tool.jobs), '--json',
    ...(mode === 'rebuild' ? ['--force'] : []),
  ];
  return measure(async (sampler) => {
    const { stdout } = await run(process.execPath, args, { sampler });
    const { images } = JSON.parse(stdout) as { images: ImageResult[] };
    return images.map((image) => {
      if (image.status !== 'ok' || !image.output) throw new Error(`rootforge failed on ${image.ref}: ${JSON.stringify(image.error)}`);
      if (Boolean(image.fromCache) !== (mode === 'warm')) throw new Error(`rootforge ${mode}: ${image.ref} was ${image.fromCache ? '' : 'not '}copied from the cache`);
      return { stages: image.seconds ?? {}, output: image.output };
    });
  });
}
