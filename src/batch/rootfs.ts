import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayerSource } from '../layer/types.js';
import { planRootfs } from '../layer/plan.js';
import { materializeTree } from '../layer/stage-dir.js';
import { computeImageSize } from '../ext4/size.js';
import { mkfsFromDir } from '../ext4/mkfs.js';
import { fixupOps, type FixupPlan } from '../ext4/fixup.js';
import { buildDebugfsScript } from '../ext4/debugfs-script.js';
import { runDebugfs } from '../ext4/debugfs.js';
import { finishImage } from '../ext4/finish.js';
import { mkfsFromPlan } from './populate-tar.js';
import { writeValueFiles } from '../ext4/value-files.js';
import type { E2fsTools } from '../ext4/tools.js';
import type { DebugfsOp } from '../ext4/debugfs-ops.js';
import { detectInitSystem } from '../inject/init-system.js';
import { guestInjection, type GuestFile } from '../inject/guest-files.js';
import { existingFromEntries, injectOps } from '../inject/plan.js';

export interface RootfsBuildOptions {
  /** Exact image size in bytes; default: sized from the content. */
  sizeBytes?: number;
  /** Free space to add on top of the content, in percent. */
  headroomPercent?: number;
  populate?: 'tar' | 'dir';
  /** Inject the guest files (default true). */
  inject?: boolean;
  /** Host path of the vsock agent binary to inject. */
  agentPath?: string;
  /** sha256 of the agent binary, so a changed agent triggers a rebuild. */
  agentDigest?: string;
  /** Filesystem UUID (default: derived from the manifest digest and the options). */
  uuid?: string;
  /** Timestamp for everything mkfs and debugfs create (default: the image config's `created`, or the newest mtime if later). */
  sourceDateEpoch?: number;
}

export type { UserFileOptions } from '../inject/user-files.js';

export interface RootfsJob {
  layers: LayerSource[];
  imagePath: string;
  workDir: string;
  populate: 'tar' | 'dir';
  tools: E2fsTools;
  options: RootfsBuildOptions;
  /** The user's --overlay and --inject files, added after the guest files. */
  userFiles: GuestFile[];
  /** UUID and hash seed for mkfs, and SOURCE_DATE_EPOCH for mkfs and debugfs: what makes the output reproducible. */
  identity: { uuid: string; hashSeed: string; sourceDateEpoch: number; epochGiven: boolean };
  signal?: AbortSignal;
  timed: <T>(stage: string, fn: () => Promise<T>) => Promise<T>;
  warn: (message: string) => void;
}

export interface RootfsBuilt {
  sizeBytes: number;
  entries: number;
  init: string;
  injected: string[];
  /** The SOURCE_DATE_EPOCH mkfs and debugfs ran with. */
  sourceDateEpoch: number;
}

/** Replays the layers and builds the ext4 at imagePath: plan, mkfs (tar or dir), then one debugfs batch. */
export async function buildRootfs(job: RootfsJob): Promise<RootfsBuilt> {
  const { signal, timed, options, tools } = job;
  const plan = await timed('replay', () => planRootfs(job.layers, { signal }));
  const entries = plan.entries();
  const tempDir = join(job.workDir, 'debugfs');
  await mkdir(tempDir, { recursive: true });

  const init = detectInitSystem(entries);
  const files: GuestFile[] = [];
  if (options.inject !== false) {
    const guest = guestInjection({ ...(options.agentPath ? { agentPath: options.agentPath } : {}), init });
    for (const warning of guest.warnings) job.warn(warning.message);
    files.push(...guest.files);
  }
  files.push(...job.userFiles);
  const planned = injectOps(files, existingFromEntries(entries), { tempDir });
  for (const temp of planned.tempFiles) await writeFile(temp.path, temp.content);
  const guestOps: DebugfsOp[] = planned.ops;
  const injected = files.map((f) => f.path);
  const extraFiles = planned.sizes;
  const size = computeImageSize(entries, {
    ...(options.headroomPercent !== undefined ? { headroomPercent: options.headroomPercent } : {}),
    ...(options.sizeBytes !== undefined ? { sizeBytes: options.sizeBytes } : {}),
    extraFiles,
  });
  const { uuid, hashSeed } = job.identity;
  // mke2fs clamps every later timestamp to SOURCE_DATE_EPOCH; unless the user chose it, never below the image's newest mtime.
  const newest = entries.reduce((max, e) => Math.max(max, e.mtime), 0);
  const sourceDateEpoch = job.identity.epochGiven ? job.identity.sourceDateEpoch : Math.max(job.identity.sourceDateEpoch, newest);
  const env = { SOURCE_DATE_EPOCH: String(sourceDateEpoch) };
  // Checksums and directory indexes are added after mkfs when tune2fs and e2fsck are there: mkfs -d fills a checksummed fs slowly.
  const finish = tools.tune2fs && tools.e2fsck ? { tune2fs: tools.tune2fs, e2fsck: tools.e2fsck } : undefined;
  const mkfsOptions = { signal, mkfs: tools.mkfs, uuid, hashSeed, env, deferChecksums: finish !== undefined };
  const staged = { modes: new Map<string, number>(), runnerUid: process.getuid?.() ?? 0, runnerGid: process.getgid?.() ?? 0, tempDir };
  let fixup: FixupPlan;
  if (job.populate === 'tar') {
    await timed('mkfs', () => mkfsFromPlan(job.imagePath, size, plan, job.workDir, mkfsOptions));
    fixup = fixupOps(entries, 'tar', staged);
  } else {
    const staging = join(job.workDir, 'rootfs');
    await mkdir(staging);
    const info = await timed('stage', () => materializeTree(plan, staging, { signal }));
    await timed('mkfs', () => mkfsFromDir(job.imagePath, size, staging, mkfsOptions));
    fixup = fixupOps(entries, 'dir', { ...staged, modes: info.stagedModes });
  }
  await writeValueFiles(fixup.valueFiles, signal);
  const ops = [...fixup.ops, ...guestOps];
  if (ops.length > 0) {
    await timed('debugfs', () => runDebugfs(job.imagePath, buildDebugfsScript(ops), { signal, debugfs: tools.debugfs, env }));
  }
  if (finish) await timed('finish', () => finishImage(job.imagePath, { ...finish, sourceDateEpoch, ...(signal ? { signal } : {}) }));
  return { sizeBytes: size.bytes, entries: entries.length, init, injected, sourceDateEpoch };
}
