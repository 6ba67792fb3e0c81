import { homedir as osHomedir } from 'node:os';
import { join } from 'node:path';

/** Where the OCI layout cache lives: ROOTFORGE_CACHE_DIR, else $XDG_CACHE_HOME/rootforge/oci, else ~/.cache/rootforge/oci. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env, home: string = osHomedir()): string {
  if (env.ROOTFORGE_CACHE_DIR) return env.ROOTFORGE_CACHE_DIR;
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME.startsWith('/') ? env.XDG_CACHE_HOME : join(home, '.cache');
  return join(base, 'rootforge', 'oci');
}
