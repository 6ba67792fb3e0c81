import { join } from 'node:path';
import { findPackageRoot, packageRoot } from '../package-root.js';

/** Every file under assets/ that rootforge injects, by role. */
export const ASSET_FILES = {
  networkBootstrap: 'rootforge-network-bootstrap',
  firstBoot: 'rootforge-first-boot',
  modulesLoad: 'rootforge-vsock.conf',
  systemdNetwork: 'systemd/rootforge-network.service',
  systemdAgent: 'systemd/rootforge-vsock-agent.service',
  systemdFirstBoot: 'systemd/rootforge-first-boot.service',
  openrcNetwork: 'openrc/rootforge-network',
  openrcAgent: 'openrc/rootforge-vsock-agent',
  openrcFirstBoot: 'openrc/rootforge-first-boot',
} as const;

export type AssetName = keyof typeof ASSET_FILES;

/** rootforge's assets/ directory above `from`. */
export function findAssetsDir(from: string): string {
  return join(findPackageRoot(from), 'assets');
}

/** rootforge's assets/ directory, found from this module under src/inject/ (vitest) or dist/src/inject/ (built). */
export function assetsDir(): string {
  return join(packageRoot(), 'assets');
}

/** Absolute host path of one asset. */
export function assetPath(name: AssetName): string {
  return join(assetsDir(), ASSET_FILES[name]);
}
