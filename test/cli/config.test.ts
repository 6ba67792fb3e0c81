import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyConfig, knownOptionNames, locateConfig } from '../../src/cli/config-file.js';
import { createProgram } from '../../src/cli/run.js';
import { consolePrinter } from '../../src/cli/output.js';
import { buildLayer, pushImage, pushIndex } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { CLI_MAIN } from '../helpers/cli.js';

let reg: TestRegistry;
let dir: string;
let ref: string;

beforeAll(async () => {
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'rootforge-config-'));
  const layer = await buildLayer([{ name: 'etc/hostname', content: 'cfg\n' }]);
  const amd = await pushImage(reg, 'cfg/multi', 'amd64', { layers: [layer], platform: { os: 'linux', architecture: 'amd64' } });
  const arm = await pushImage(reg, 'cfg/multi', 'arm64', { layers: [layer], platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
  await pushIndex(reg, 'cfg/multi', 'v1', [
    { image: amd, platform: { os: 'linux', architecture: 'amd64' } },
    { image: arm, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
  ]);
  ref = `${reg.host}/cfg/multi:v1`;
});
afterAll(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

function rootforge(args: string[], env: Record<string, string> = {}) {
  // A clean environment: the developer's own ROOTFORGE_* and XDG settings must not leak into the test.
  return execa('node', [CLI_MAIN, ...args], { reject: false, extendEnv: false, env: { PATH: process.env.PATH ?? '', HOME: dir, NO_COLOR: '1', ...env } });
}

const platformOf = (stdout: string): string => (JSON.parse(stdout) as { platform: string }).platform;

describe('config file', () => {
  it('applies with precedence flags > env > config > defaults, from --config or $XDG_CONFIG_HOME', async () => {
    const xdg = join(dir, 'xdg');
    await mkdir(join(xdg, 'rootforge'), { recursive: true });
    await writeFile(join(xdg, 'rootforge', 'config.json'), JSON.stringify({ platform: 'linux/arm64', cacheDir: 'cache-from-config', retries: 1 }));
    const env = { XDG_CONFIG_HOME: xdg };

    const fromConfig = await rootforge(['inspect', ref, '--json'], env);
    expect(fromConfig.exitCode, fromConfig.stderr).toBe(0);
    expect(platformOf(fromConfig.stdout)).toBe('linux/arm64/v8');
    // A relative path in the config is read from the config file's directory.
    expect(JSON.parse(await readFile(join(xdg, 'rootforge', 'cache-from-config', 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });

    const fromEnv = await rootforge(['inspect', ref, '--json'], { ...env, ROOTFORGE_PLATFORM: 'linux/amd64' });
    expect(platformOf(fromEnv.stdout)).toBe('linux/amd64');
    const fromFlag = await rootforge(['inspect', ref, '--json', '--platform', 'linux/arm64'], { ...env, ROOTFORGE_PLATFORM: 'linux/amd64' });
    expect(platformOf(fromFlag.stdout)).toBe('linux/arm64/v8');

    const other = join(dir, 'other.json');
    await writeFile(other, JSON.stringify({ platform: 'linux/amd64' }));
    expect(platformOf((await rootforge(['inspect', ref, '--json', '--config', other], env)).stdout)).toBe('linux/amd64');
    expect(platformOf((await rootforge(['inspect', ref, '--json'], { ...env, ROOTFORGE_CONFIG: other })).stdout)).toBe('linux/amd64');
    // Without any config: the built-in default.
    expect(platformOf((await rootforge(['inspect', ref, '--json', '--cache-dir', join(dir, 'c')])).stdout)).toBe('linux/amd64');
  });

  it('refuses unknown keys, bad values and a missing --config file with exit 2', async () => {
    const bad = async (values: unknown): Promise<string> => {
      const path = join(dir, `bad-${Math.random().toString(16).slice(2)}.json`);
      await writeFile(path, typeof values === 'string' ? values : JSON.stringify(values));
      const run = await rootforge(['warm', ref, '--config', path]);
      expect(run.exitCode).toBe(2);
      return run.stderr;
    };
    expect(await bad({ cachedir: '/x' })).toContain('unknown keys: cachedir');
    expect(await bad({ retries: 'many' })).toContain('retries');
    expect(await bad({ platform: ['a'] })).toContain('platform');
    expect(await bad('{not json')).toContain('not valid JSON');
    const missing = await rootforge(['warm', ref, '--config', join(dir, 'nope.json')]);
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toContain('nope.json');
  });

  it('converts lists, objects, sizes and booleans like the flags do', () => {
    const context = { printer: consolePrinter, signal: new AbortController().signal, exitCode: 0 };
    const program = createProgram(context);
    const build = program.commands.find((c) => c.name() === 'build') as Command;
    applyConfig(build, { path: '/etc/rf/config.json', values: { mirror: { 'docker.io': 'mirror:5000' }, insecureRegistry: ['a:5000', 'b:5000'], size: '2G', workDir: 'work', inject: false, maxExpansion: 0 } }, knownOptionNames(program), {});
    expect(build.opts()).toMatchObject({ mirror: { 'docker.io': 'mirror:5000' }, insecureRegistry: ['a:5000', 'b:5000'], size: 2 * 1024 ** 3, workDir: '/etc/rf/work', inject: false, maxExpansion: 0 });
    expect(build.getOptionValueSource('size')).toBe('config');
  });

  it('finds --config anywhere before --, else $ROOTFORGE_CONFIG, else the XDG location', () => {
    expect(locateConfig(['build', 'x', '--config', '/a.json'], {})).toEqual({ path: '/a.json', explicit: true });
    expect(locateConfig(['build', '--config=/b.json'], {})).toEqual({ path: '/b.json', explicit: true });
    expect(locateConfig(['build', '--', '--config', '/c.json'], { ROOTFORGE_CONFIG: '/d.json' })).toEqual({ path: '/d.json', explicit: true });
    expect(locateConfig([], { XDG_CONFIG_HOME: '/xdg' })).toEqual({ path: '/xdg/rootforge/config.json', explicit: false });
    expect(locateConfig([], {}, '/home/u')).toEqual({ path: '/home/u/.config/rootforge/config.json', explicit: false });
  });
});
