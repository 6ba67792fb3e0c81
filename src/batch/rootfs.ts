import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LayerSource, RootfsEntry } from '../layer/types.js';
import { planRootfs } from '../layer/plan.js';
import { mergedTarStream } from '../layer/merged-tar.js';
import { materializeTree } from '../layer/stage-dir.js';
import { computeImageSize } from '../ext4/size.js';
import { mkfsFromDir, mkfsFromTar } from '../ext4/mkfs.js';
import { fixupOps } from '../ext4/fixup.js';
import { buildDebugfsScript } from '../ext4/debugfs-script.js';
import { runDebugfs } from '../ext4/debugfs.js';
import type { E2fsTools } from '../ext4/tools.js';
import type { DebugfsOp } from '../ext4/debugfs-ops.js';
import { detectInitSystem } from '../inject/init-system.js';
import { guestFiles } from '../inject/guest-files.js';
import { injectOps } from '../inject/plan.js';

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
}

export interface RootfsJob {
  layers: LayerSource[];
  imagePath: string;
  workDir: string;
  populate: 'tar' | 'dir';
  tools: E2fsTools;
  options: RootfsBuildOptions;
  signal?: AbortSignal;
  timed: <T>(stage: string, fn: () => Promise<T>) => Promise<T>;
  warn: (message: string) => void;
}

export interface RootfsBuilt {
  sizeBytes: number;
  entries: number;
  init: string;
  injected: string[];
}

/** Replays the layers and builds the ext4 at imagePath: plan, mkfs (tar or dir), then one debugfs batch. */
export async function buildRootfs(job: RootfsJob): Promise<RootfsBuilt> {
  const { signal, timed, options } = job;
  const plan = await timed('replay', () => planRootfs(job.layers, { signal }));
  const entries = plan.entries();
  const byPath = new Map<string, RootfsEntry>(entries.map((e) => [e.path, e]));

  const tempDir = join(job.workDir, 'debugfs');
  await mkdir(tempDir, { recursive: true });
  let guestOps: DebugfsOp[] = [];
  let injected: string[] = [];
  let init = detectInitSystem(entries);
  const extraFiles: number[] = [];
  if (options.inject !== false) {
    if (!options.agentPath) job.warn('no --agent given: the vsock agent and its unit are left out');
    const files = guestFiles({ ...(options.agentPath ? { agentPath: options.agentPath } : {}), init });
    const planned = injectOps(files, (guestPath) => byPath.get(guestPath.replace(/^\/+/, ''))?.type, { tempDir });
    for (const temp of planned.tempFiles) await writeFile(temp.path, temp.content);
    guestOps = planned.ops;
    injected = files.map((f) => f.path);
    extraFiles.push(...planned.sizes);
  }
  const size = computeImageSize(entries, {
    ...(options.headroomPercent !== undefined ? { headroomPercent: options.headroomPercent } : {}),
    ...(options.sizeBytes !== undefined ? { sizeBytes: options.sizeBytes } : {}),
    extraFiles,
  });

  let fixup: DebugfsOp[];
  if (job.populate === 'tar') {
    await timed('mkfs', () => mkfsFromTar(job.imagePath, size, mergedTarStream(plan, { signal }), { signal }));
    fixup = writeValueFiles(fixupOps(entries, 'tar', { modes: new Map(), runnerUid: uid(), runnerGid: gid(), tempDir }));
  } else {
    const staging = join(job.workDir, 'rootfs');
    await mkdir(staging);
    const staged = await timed('replay', () => materializeTree(plan, staging, { signal }));
    await timed('mkfs', () => mkfsFromDir(job.imagePath, size, staging, { signal }));
    fixup = writeValueFiles(fixupOps(entries, 'dir', { modes: staged.stagedModes, runnerUid: uid(), runnerGid: gid(), tempDir }));
  }
  const ops = [...fixup, ...guestOps];
  if (ops.length > 0) {
    await timed('debugfs', () => runDebugfs(job.imagePath, buildDebugfsScript(ops), { signal }));
  }
  void init;
  return { sizeBytes: size.bytes, entries: entries.length, init: String(init), injected };
}

function uid(): number {
  return process.getuid?.() ?? 0;
}
function gid(): number {
  return process.getgid?.() ?? 0;
}
function writeValueFiles<T>(x: T): T {
  return x;
}
