import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RootforgeError } from '../errors.js';

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

/** The nearest directory at or above `from` holding both package.json and assets/. */
export function findAssetsDir(from: string): string {
  let dir = from;
  for (;;) {
    const candidate = join(dir, 'assets');
    if (existsSync(join(dir, 'package.json')) && existsSync(candidate) && statSync(candidate).isDirectory()) return candidate;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new RootforgeError('ERR_INTERNAL', `rootforge's assets/ directory was not found above ${from}`, {
        hint: 'The installation is incomplete: reinstall rootforge (its package ships assets/).',
      });
    }
    dir = parent;
  }
}

let cached: string | undefined;

/** rootforge's assets/ directory, found from this module under src/inject/ (vitest) or dist/src/inject/ (built). */
export function assetsDir(): string {
  cached ??= findAssetsDir(dirname(fileURLToPath(import.meta.url)));
  return cached;
}

/** Absolute host path of one asset. */
export function assetPath(name: AssetName): string {
  return join(assetsDir(), ASSET_FILES[name]);
}
