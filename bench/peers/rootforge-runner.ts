// rootforge as users run it: the CLI, one process for the whole batch, --json for per-stage seconds.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageResult } from '../../src/batch/image-result.js';
import { measure, type Mode, type Sample, type ToolRun } from './measure.js';
import { run } from './spawn.js';

const CLI = fileURLToPath(new URL('../../src/cli/launch.js', import.meta.url));

/** Cold starts from an empty cache; warm reuses the cache the cold run filled and rebuilds with --force. */
export async function runRootforge(tool: ToolRun, mode: Mode): Promise<Sample> {
  const cacheDir = join(tool.dir, 'cache');
  const outDir = join(tool.dir, 'out');
  if (mode === 'cold') await rm(cacheDir, { recursive: true, force: true });
  await rm(outDir, { recursive: true, force: true });
  const args = [
    CLI, 'build', ...tool.images.map((i) => i.ref),
    '--out', outDir, '--cache-dir', cacheDir, '--work-dir', tool.dir,
    '--jobs', String(tool.jobs), '--force', '--json',
  ];
  return measure(async (sampler) => {
    const { stdout } = await run(process.execPath, args, { sampler });
    const { images } = JSON.parse(stdout) as { images: ImageResult[] };
    return images.map((image) => {
      if (image.status !== 'ok' || !image.output) throw new Error(`rootforge failed on ${image.ref}: ${JSON.stringify(image.error)}`);
      return { stages: image.seconds ?? {}, output: image.output };
    });
  });
}
