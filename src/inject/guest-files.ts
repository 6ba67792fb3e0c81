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

type Service = 'network' | 'agent' | 'firstBoot';

/** How each supported init system starts rootforge's services: where they go, their assets, and where enabling links go. */
interface ServiceGlue {
  dir: string;
  enableDir: string;
  mode: number;
  names: Record<Service, string>;
  assets: Record<Service, AssetName>;
}

const SERVICE_GLUE: Record<'systemd' | 'openrc', ServiceGlue> = {
  systemd: {
    dir: GUEST_PATHS.systemdUnitDir,
    enableDir: GUEST_PATHS.systemdWantsDir,
    mode: 0o644,
    names: { network: 'rootforge-network.service', agent: 'rootforge-vsock-agent.service', firstBoot: 'rootforge-first-boot.service' },
    assets: { network: 'systemdNetwork', agent: 'systemdAgent', firstBoot: 'systemdFirstBoot' },
  },
  openrc: {
    dir: GUEST_PATHS.openrcInitDir,
    enableDir: GUEST_PATHS.openrcRunlevelDir,
    mode: 0o755,
    names: { network: 'rootforge-network', agent: 'rootforge-vsock-agent', firstBoot: 'rootforge-first-boot' },
    assets: { network: 'openrcNetwork', agent: 'openrcAgent', firstBoot: 'openrcFirstBoot' },
  },
};

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

  const service = SERVICE_GLUE[opts.init as 'systemd' | 'openrc'] as ServiceGlue | undefined;
  const at = (name: string): string => `${service?.dir}/${name}`;
  if (service) files.push(rootFile(at(service.names.network), service.assets.network, service.mode));
  if (service && agent) files.push(rootFile(at(service.names.agent), service.assets.agent, service.mode));
  files.push(rootFile(GUEST_PATHS.modulesLoad, 'modulesLoad', 0o644));
  files.push(rootFile(GUEST_PATHS.firstBoot, 'firstBoot', 0o755));
  if (service) files.push(rootFile(at(service.names.firstBoot), service.assets.firstBoot, service.mode));
  files.push(rootFile(GUEST_PATHS.firstBootMarker, { content: Buffer.alloc(0) }, 0o644));
  // Without systemd or OpenRC there is no glue we can install safely: the programs go in so a user can start them (see assets/README.md).
  if (service) {
    enable(service.enableDir, service.names.network, at(service.names.network));
    if (agent) enable(service.enableDir, service.names.agent, at(service.names.agent));
    enable(service.enableDir, service.names.firstBoot, at(service.names.firstBoot));
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
