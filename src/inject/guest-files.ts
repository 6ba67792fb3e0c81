import { statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { RootforgeError } from '../errors.js';
import { assetPath, type AssetName } from './assets.js';
import type { InitSystem } from './init-system.js';

/** A regular file to place in the guest: copied from `hostPath`, or `content` written by the caller to a temp file. */
export interface GuestRegularFile {
  kind: 'file';
  /** Absolute path in the guest. */
  path: string;
  hostPath?: string;
  content?: Buffer;
  /** Size in bytes when known (for sizing the image); inline content has its own length. */
  size?: number;
  /** Permission bits (mode & 0o7777); the file type bits are added when planning. */
  mode: number;
  uid: number;
  gid: number;
}

/** A directory to create in the guest when the image does not already have it. */
export interface GuestDir {
  kind: 'dir';
  path: string;
  mode: number;
  uid: number;
  gid: number;
}

/** A symlink in the guest; without uid/gid it is owned by root. */
export interface GuestSymlink {
  kind: 'symlink';
  path: string;
  target: string;
  uid?: number;
  gid?: number;
}

export type GuestFile = GuestRegularFile | GuestDir | GuestSymlink;

/** A warning the build reports without failing; the CLI prints it, --json carries it. */
export interface InjectWarning {
  code: 'INJECT_NO_AGENT' | 'INJECT_NO_INIT';
  message: string;
}

export interface GuestInjection {
  init: InitSystem;
  files: GuestFile[];
  /** False when no agent binary was given: the agent, its service and its enable link are left out. */
  agentIncluded: boolean;
  warnings: InjectWarning[];
}

export const GUEST_PATHS = {
  agent: '/usr/local/bin/rootforge-vsock-agent',
  networkBootstrap: '/usr/local/libexec/rootforge-network-bootstrap',
  firstBoot: '/usr/local/libexec/rootforge-first-boot',
  firstBootMarker: '/var/lib/rootforge/first-boot-pending',
  modulesLoad: '/etc/modules-load.d/rootforge-vsock.conf',
  systemdUnitDir: '/etc/systemd/system',
  systemdWantsDir: '/etc/systemd/system/multi-user.target.wants',
  openrcInitDir: '/etc/init.d',
  openrcRunlevelDir: '/etc/runlevels/default',
} as const;

const SYSTEMD_UNITS = {
  network: 'rootforge-network.service',
  agent: 'rootforge-vsock-agent.service',
  firstBoot: 'rootforge-first-boot.service',
} as const;

const OPENRC_SERVICES = {
  network: 'rootforge-network',
  agent: 'rootforge-vsock-agent',
  firstBoot: 'rootforge-first-boot',
} as const;

/** Size of a host file we are about to inject; a missing one is an input error, not a crash later in debugfs. */
function hostFileSize(hostPath: string, what: string): number {
  try {
    const info = statSync(hostPath);
    if (!info.isFile()) throw new RootforgeError('ERR_INJECT', `${what} ${hostPath} is not a regular file`);
    return info.size;
  } catch (error) {
    if (error instanceof RootforgeError) throw error;
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (error as Error).message;
    throw new RootforgeError('ERR_INJECT', `${what} ${hostPath}: ${reason}`, { cause: error });
  }
}

function rootFile(path: string, asset: AssetName | { hostPath: string } | { content: Buffer }, mode: number): GuestRegularFile {
  if (typeof asset === 'string') {
    const hostPath = assetPath(asset);
    return { kind: 'file', path, hostPath, size: hostFileSize(hostPath, 'rootforge asset'), mode, uid: 0, gid: 0 };
  }
  if ('content' in asset) return { kind: 'file', path, content: asset.content, size: asset.content.length, mode, uid: 0, gid: 0 };
  return { kind: 'file', path, hostPath: asset.hostPath, size: hostFileSize(asset.hostPath, 'agent binary'), mode, uid: 0, gid: 0 };
}

/** The guest's rootforge files for one init system, in order: files first, then the links that enable services. Throws ERR_INJECT for a missing agent. */
export function guestFiles(opts: { agentPath?: string; init: InitSystem }): GuestFile[] {
  const agent = opts.agentPath !== undefined && opts.agentPath !== '';
  const files: GuestFile[] = [];
  const links: GuestSymlink[] = [];
  const enable = (dir: string, name: string, target: string): void => {
    links.push({ kind: 'symlink', path: `${dir}/${name}`, target });
  };

  if (agent) files.push(rootFile(GUEST_PATHS.agent, { hostPath: resolve(opts.agentPath as string) }, 0o755));
  files.push(rootFile(GUEST_PATHS.networkBootstrap, 'networkBootstrap', 0o755));

  if (opts.init === 'systemd') {
    const unit = (name: string): string => `${GUEST_PATHS.systemdUnitDir}/${name}`;
    files.push(rootFile(unit(SYSTEMD_UNITS.network), 'systemdNetwork', 0o644));
    if (agent) files.push(rootFile(unit(SYSTEMD_UNITS.agent), 'systemdAgent', 0o644));
    files.push(rootFile(GUEST_PATHS.modulesLoad, 'modulesLoad', 0o644));
    files.push(rootFile(GUEST_PATHS.firstBoot, 'firstBoot', 0o755));
    files.push(rootFile(unit(SYSTEMD_UNITS.firstBoot), 'systemdFirstBoot', 0o644));
    files.push(rootFile(GUEST_PATHS.firstBootMarker, { content: Buffer.alloc(0) }, 0o644));
    enable(GUEST_PATHS.systemdWantsDir, SYSTEMD_UNITS.network, unit(SYSTEMD_UNITS.network));
    if (agent) enable(GUEST_PATHS.systemdWantsDir, SYSTEMD_UNITS.agent, unit(SYSTEMD_UNITS.agent));
    enable(GUEST_PATHS.systemdWantsDir, SYSTEMD_UNITS.firstBoot, unit(SYSTEMD_UNITS.firstBoot));
  } else if (opts.init === 'openrc') {
    const script = (name: string): string => `${GUEST_PATHS.openrcInitDir}/${name}`;
    files.push(rootFile(script(OPENRC_SERVICES.network), 'openrcNetwork', 0o755));
    if (agent) files.push(rootFile(script(OPENRC_SERVICES.agent), 'openrcAgent', 0o755));
    files.push(rootFile(GUEST_PATHS.modulesLoad, 'modulesLoad', 0o644));
    files.push(rootFile(GUEST_PATHS.firstBoot, 'firstBoot', 0o755));
    files.push(rootFile(script(OPENRC_SERVICES.firstBoot), 'openrcFirstBoot', 0o755));
    files.push(rootFile(GUEST_PATHS.firstBootMarker, { content: Buffer.alloc(0) }, 0o644));
    enable(GUEST_PATHS.openrcRunlevelDir, OPENRC_SERVICES.network, script(OPENRC_SERVICES.network));
    if (agent) enable(GUEST_PATHS.openrcRunlevelDir, OPENRC_SERVICES.agent, script(OPENRC_SERVICES.agent));
    enable(GUEST_PATHS.openrcRunlevelDir, OPENRC_SERVICES.firstBoot, script(OPENRC_SERVICES.firstBoot));
  } else {
    // No init glue we can install safely: the programs go in so a user can start them (see assets/README.md).
    files.push(rootFile(GUEST_PATHS.modulesLoad, 'modulesLoad', 0o644));
    files.push(rootFile(GUEST_PATHS.firstBoot, 'firstBoot', 0o755));
    files.push(rootFile(GUEST_PATHS.firstBootMarker, { content: Buffer.alloc(0) }, 0o644));
  }
  return [...files, ...links];
}

/** The guest files plus what the build should tell the user about them. */
export function guestInjection(opts: { agentPath?: string; init: InitSystem }): GuestInjection {
  const agentIncluded = opts.agentPath !== undefined && opts.agentPath !== '';
  const warnings: InjectWarning[] = [];
  if (!agentIncluded) {
    warnings.push({
      code: 'INJECT_NO_AGENT',
      message: 'no --agent given: the image has no rootforge vsock agent (pass --agent PATH to include it)',
    });
  }
  if (opts.init === 'busybox' || opts.init === 'none') {
    const what = opts.init === 'busybox' ? 'busybox-style init (/etc/inittab)' : 'no init system rootforge recognises';
    const lines = [`::sysinit:${GUEST_PATHS.networkBootstrap}`, ...(agentIncluded ? [`::respawn:${GUEST_PATHS.agent}`] : [])];
    warnings.push({
      code: 'INJECT_NO_INIT',
      message:
        `the image has ${what}, not systemd or OpenRC: rootforge installed its scripts but nothing starts them; ` +
        `add ${lines.map((l) => `"${l}"`).join(' and ')} to /etc/inittab with --overlay or --inject`,
    });
  }
  return { init: opts.init, files: guestFiles(opts), agentIncluded, warnings };
}

/** Checks the --agent path names a regular file and returns it absolute. */
export async function checkAgentPath(path: string): Promise<string> {
  const absolute = resolve(path);
  let info;
  try {
    info = await stat(absolute);
  } catch (error) {
    throw new RootforgeError('ERR_INJECT', `agent binary ${absolute}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (error as Error).message}`, {
      cause: error,
      hint: 'Point --agent at the rootforge vsock agent binary built for the guest architecture.',
    });
  }
  if (!info.isFile()) {
    throw new RootforgeError('ERR_INJECT', `agent binary ${absolute} is not a regular file`, {
      hint: 'Point --agent at the rootforge vsock agent binary built for the guest architecture.',
    });
  }
  return absolute;
}
