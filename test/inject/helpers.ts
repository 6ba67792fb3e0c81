import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { assetsDir } from '../../src/inject/assets.js';

/** Every script under assets/ (files starting with #!), relative to assets/. */
export function assetScripts(): string[] {
  const out: string[] = [];
  const walk = (dir: string, prefix: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full, `${prefix}${name}/`);
      else if (readFileSync(full, 'utf8').startsWith('#!')) out.push(`${prefix}${name}`);
    }
  };
  walk(assetsDir(), '');
  return out;
}

export interface ScriptResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  lines: string[];
}

/** Runs an asset script with /bin/sh in an explicit environment (nothing inherited but PATH, unless `path` replaces it); never throws on failure. */
export async function runScript(asset: string, env: Record<string, string>, opts: { path?: string } = {}): Promise<ScriptResult> {
  const result = await execa('/bin/sh', [join(assetsDir(), asset)], {
    env: { PATH: opts.path ?? process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', ...env },
    extendEnv: false,
    reject: false,
  });
  const stdout = String(result.stdout);
  return { exitCode: result.exitCode ?? -1, stdout, stderr: String(result.stderr), lines: stdout === '' ? [] : stdout.split('\n') };
}

/** A PATH directory holding only links to the named host tools, so a script cannot reach anything else. */
export async function sandboxBin(dir: string, hostTools: string[]): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const tool of hostTools) {
    const found = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'].map((d) => join(d, tool)).find((p) => existsSync(p));
    if (!found) throw new Error(`host tool ${tool} not found`);
    await symlink(found, join(dir, tool));
  }
  return dir;
}
