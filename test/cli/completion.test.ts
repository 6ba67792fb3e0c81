import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_MAIN } from '../helpers/cli.js';

let dir: string;
const scripts: Record<string, string> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootforge-completion-'));
  await mkdir(join(dir, 'outputs'));
  for (const shell of ['bash', 'zsh', 'fish']) {
    const run = await execa('node', [CLI_MAIN, 'completion', shell]);
    scripts[shell] = join(dir, `rootforge.${shell}`);
    await writeFile(scripts[shell], run.stdout);
  }
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** What bash offers for the words typed so far (the last one is being completed). */
async function bashComplete(...words: string[]): Promise<string[]> {
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const script = `source '${scripts.bash}'; COMP_WORDS=(rootforge ${quoted}); COMP_CWORD=${words.length}; _rootforge; printf '%s\\n' "\${COMPREPLY[@]}"`;
  const { stdout } = await execa('bash', ['-c', script], { cwd: dir });
  return stdout.split('\n').filter(Boolean).sort();
}

async function fishComplete(line: string): Promise<string[]> {
  const { stdout } = await execa('fish', ['-c', `source '${scripts.fish}'; complete -C '${line}'`], { cwd: dir });
  return stdout.split('\n').map((l) => l.split('\t')[0] as string).filter(Boolean).sort();
}

describe('shell completion', () => {
  it('bash completes commands, subcommands, options and their values', async () => {
    expect(await bashComplete('bu')).toEqual(['build']);
    expect(await bashComplete('cache', 'v')).toEqual(['verify']);
    expect(await bashComplete('build', '--ou')).toEqual(['--out']);
    expect(await bashComplete('build', '--populate', '')).toEqual(['dir', 'tar']);
    expect(await bashComplete('build', '--out', 'out')).toEqual(['outputs']);
    expect(await bashComplete('completion', '')).toEqual(expect.arrayContaining(['bash', 'fish', 'zsh']));
    expect(await bashComplete('warm', '--populate')).toEqual([]);
  });

  it('fish completes the same', async () => {
    expect(await fishComplete('rootforge bu')).toEqual(['build']);
    expect(await fishComplete('rootforge cache ')).toEqual(['ls', 'prune', 'verify']);
    expect(await fishComplete('rootforge build --pop')).toEqual(['--populate']);
    expect(await fishComplete('rootforge build --populate ')).toEqual(['dir', 'tar']);
    expect(await fishComplete('rootforge inspect --image')).toEqual(['--image-config']);
  });

  it('zsh loads the script and registers _rootforge with a function per command', async () => {
    const script = `autoload -U compinit && compinit -u -d '${dir}/zcompdump'; source '${scripts.zsh}'; print -r -- $_comps[rootforge]; for f in _rootforge_build _rootforge_cache_verify _rootforge_completion; do (( $+functions[$f] )) && print -r -- $f; done`;
    const { stdout } = await execa('zsh', ['-f', '-c', script], { cwd: dir, env: { HOME: dir } });
    expect(stdout.split('\n')).toEqual(['_rootforge', '_rootforge_build', '_rootforge_cache_verify', '_rootforge_completion']);
  });
});
