import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RootforgeError } from './errors.js';

/** The nearest directory at or above `from` holding both package.json and assets/: rootforge's package root. */
export function findPackageRoot(from: string): string {
  let dir = from;
  for (;;) {
    const assets = join(dir, 'assets');
    if (existsSync(join(dir, 'package.json')) && existsSync(assets) && statSync(assets).isDirectory()) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new RootforgeError('ERR_INTERNAL', `rootforge's package root (package.json beside assets/) was not found above ${from}`, {
        hint: 'The installation is incomplete: reinstall rootforge (its package ships assets/).',
      });
    }
    dir = parent;
  }
}

let cached: string | undefined;

/** rootforge's package root, found from src/ under vitest or from dist/src/ when built. */
export function packageRoot(): string {
  cached ??= findPackageRoot(dirname(fileURLToPath(import.meta.url)));
  return cached;
}

let version: string | undefined;

export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return version;
}
