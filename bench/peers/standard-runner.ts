// The standard pipeline: skopeo copy into an OCI layout, umoci unpack, mkfs.ext4 from the unpacked tree.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { mkfsArgs } from '../../src/ext4/mkfs-args.js';
import { createSparse } from '../../src/ext4/mkfs.js';
import { eachImage, measure, timed, type Mode, type Sample, type ToolRun } from './measure.js';
import { run } from './spawn.js';

/** One OCI layout per image, as a per-image script keeps; warm reuses the layouts and skopeo skips the blobs it has. */
export async function runStandard(tool: ToolRun, mode: Mode, binaries: { skopeo: string; umoci: string; mkfs: string }): Promise<Sample> {
  if (mode === 'cold') await rm(join(tool.dir, 'oci'), { recursive: true, force: true });
  await rm(join(tool.dir, 'bundle'), { recursive: true, force: true });
  await rm(join(tool.dir, 'out'), { recursive: true, force: true });
  for (const dir of ['oci', 'bundle']) await mkdir(join(tool.dir, dir), { recursive: true });
  await mkdir(join(tool.dir, 'out'), { recursive: true });
  return measure((sampler) =>
    eachImage(tool, async (image, i) => {
      const layout = join(tool.dir, 'oci', String(i));
      const bundle = join(tool.dir, 'bundle', String(i));
      const output = join(tool.dir, 'out', `${i}.ext4`);
      const stages: Record<string, number> = {};
      await timed(stages, 'download', () => run(binaries.skopeo, ['copy', '--quiet', '--src-tls-verify=false', `docker://${image.ref}`, `oci:${layout}:v1`], { sampler }));
      await timed(stages, 'unpack', () => run(binaries.umoci, ['unpack', '--rootless', '--image', `${layout}:v1`, bundle], { sampler }));
      await timed(stages, 'mkfs', async () => {
        await createSparse(output, image.size.bytes);
        await run(binaries.mkfs, mkfsArgs(output, image.size, join(bundle, 'rootfs')), { sampler, env: tool.mkfsEnv });
      });
      // The unpacked tree is scratch space, as rootforge's staging is.
      await rm(bundle, { recursive: true, force: true });
      return { stages, output };
    }),
  );
}
