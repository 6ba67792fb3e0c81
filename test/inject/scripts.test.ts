import { join } from 'node:path';
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { assetsDir } from '../../src/inject/assets.js';
import { assetScripts } from './helpers.js';

const scripts = assetScripts();

describe('asset scripts', () => {
  it('finds every script the guest gets', () => {
    expect(scripts).toEqual([
      'openrc/rootforge-first-boot',
      'openrc/rootforge-network',
      'openrc/rootforge-vsock-agent',
      'rootforge-first-boot',
      'rootforge-network-bootstrap',
    ]);
  });

  it('has shellcheck installed (the lint below must not be skipped)', async () => {
    const result = await execa('shellcheck', ['--version'], { reject: false });
    expect(result.exitCode, 'shellcheck is required: apt-get install shellcheck').toBe(0);
  });

  it.each(scripts)('%s parses with sh -n', async (script) => {
    const result = await execa('sh', ['-n', join(assetsDir(), script)], { reject: false });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
  });

  it.each(scripts)('%s is shellcheck clean as POSIX sh', async (script) => {
    const result = await execa('shellcheck', ['--shell=sh', '--severity=style', join(assetsDir(), script)], { reject: false });
    expect(result.stdout).toBe('');
    expect(result.exitCode).toBe(0);
  });
});
