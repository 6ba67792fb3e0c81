import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runScript, sandboxBin } from './helpers.js';

const SCRIPT = 'rootforge-first-boot';
let dir: string;
let marker: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootforge-first-boot-'));
  marker = join(dir, 'first-boot-pending');
  await writeFile(marker, '');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function plan(osRelease: string, env: Record<string, string> = {}) {
  const file = join(dir, 'os-release');
  await writeFile(file, osRelease);
  return runScript(SCRIPT, { RUN_PLAN: '1', OS_RELEASE_FILE: file, ROOTFORGE_FIRST_BOOT_MARKER: marker, ROOTFORGE_INIT: 'systemd', ...env });
}

const APT = [
  'env DEBIAN_FRONTEND=noninteractive apt-get update',
  'env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server',
  'ssh-keygen -A',
  'systemctl enable ssh',
  'systemctl start ssh',
];
const DNF = ['dnf install -y openssh-server', 'ssh-keygen -A', 'systemctl enable sshd', 'systemctl start sshd'];
const PACMAN = ['pacman -Sy --noconfirm --needed openssh', 'ssh-keygen -A', 'systemctl enable sshd', 'systemctl start sshd'];
const ZYPPER = ['zypper --non-interactive install openssh-server', 'ssh-keygen -A', 'systemctl enable sshd', 'systemctl start sshd'];

describe('first-boot dispatch', () => {
  const cases: Array<[string, string, string[]]> = [
    ['debian', 'ID=debian\nVERSION_ID="12"\n', APT],
    ['ubuntu', 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n', APT],
    ['kali', 'ID=kali\nID_LIKE=debian\n', APT],
    ['raspbian', 'ID=raspbian\nID_LIKE=debian\n', APT],
    ['pop', 'ID=pop\nID_LIKE="ubuntu debian"\n', APT],
    ['fedora', 'ID=fedora\nVERSION_ID=40\n', DNF],
    ['rhel', 'ID="rhel"\nID_LIKE="fedora"\n', DNF],
    ['centos', 'ID="centos"\nID_LIKE="rhel fedora"\n', DNF],
    ['rocky', 'ID="rocky"\nID_LIKE="rhel centos fedora"\n', DNF],
    ['almalinux', 'ID="almalinux"\nID_LIKE="rhel centos fedora"\n', DNF],
    ['arch', 'ID=arch\n', PACMAN],
    ['manjaro', 'ID=manjaro\nID_LIKE=arch\n', PACMAN],
    ['opensuse-leap', 'ID="opensuse-leap"\nID_LIKE="suse opensuse"\n', ZYPPER],
    ['suse', 'ID=suse\n', ZYPPER],
    ['sles', 'ID="sles"\nID_LIKE="suse"\n', ZYPPER],
    // ID_LIKE fallbacks for derivatives the script does not name.
    ['linuxmint (ID_LIKE ubuntu debian)', 'ID=linuxmint\nID_LIKE="ubuntu debian"\n', APT],
    ['endeavouros (ID_LIKE arch)', 'ID=endeavouros\nID_LIKE=arch\n', PACMAN],
    ['opensuse-tumbleweed (ID_LIKE opensuse suse)', 'ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\n', ZYPPER],
    ['amzn (ID_LIKE centos rhel fedora)', "ID='amzn'\nID_LIKE='centos rhel fedora'\n", DNF],
    ['neon (ID_LIKE in single quotes)', "ID=neon\nID_LIKE='ubuntu debian'\n", APT],
  ];

  it.each(cases)('%s', async (_name, osRelease, expected) => {
    const result = await plan(osRelease);
    expect(result.stderr).not.toContain('unsupported');
    expect(result.lines).toEqual(expected);
    expect(result.exitCode).toBe(0);
  });

  it('alpine installs with apk and enables sshd with OpenRC', async () => {
    const result = await plan('NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.0\n', { ROOTFORGE_INIT: 'openrc' });
    expect(result.lines).toEqual(['apk add --no-cache openssh', 'ssh-keygen -A', 'rc-update add sshd default', 'rc-service sshd start']);
    expect(result.exitCode).toBe(0);
  });

  it('uses the service command without systemd or OpenRC', async () => {
    const result = await plan('ID=debian\n', { ROOTFORGE_INIT: 'sysv' });
    expect(result.lines.slice(-1)).toEqual(['service ssh start']);
  });

  it('prefers ID over ID_LIKE', async () => {
    const result = await plan('ID=fedora\nID_LIKE=debian\n');
    expect(result.lines[0]).toBe('dnf install -y openssh-server');
  });

  it('does not execute os-release content', async () => {
    const canary = join(dir, 'canary');
    const result = await plan(`ID=debian\nPRETTY_NAME="$(touch ${canary})"\n\`touch ${canary}\`\n`);
    expect(result.exitCode).toBe(0);
    expect(existsSync(canary)).toBe(false);
  });

  it('fails on an unknown distribution, naming the script to edit, and keeps the marker', async () => {
    const result = await plan('ID=gentoo\nID_LIKE=""\n');
    expect(result.exitCode).not.toBe(0);
    expect(result.lines).toEqual([]);
    expect(result.stderr).toContain('unsupported distribution ID=gentoo');
    expect(result.stderr).toMatch(/add a branch for it in \S*rootforge-first-boot/);
    expect(existsSync(marker)).toBe(true);
  });

  it('fails without an os-release file and keeps the marker', async () => {
    const result = await runScript(SCRIPT, { RUN_PLAN: '1', OS_RELEASE_FILE: join(dir, 'missing'), ROOTFORGE_FIRST_BOOT_MARKER: marker });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('cannot read');
    expect(existsSync(marker)).toBe(true);
  });

  it('removes the marker after a successful plan', async () => {
    const result = await plan('ID=debian\n');
    expect(result.exitCode).toBe(0);
    expect(existsSync(marker)).toBe(false);
  });
});

describe('first-boot for real, with stand-in tools', () => {
  let bin: string;
  let log: string;

  beforeEach(async () => {
    log = join(dir, 'calls');
    bin = await sandboxBin(join(dir, 'bin'), ['tr', 'rm', 'env']);
  });

  async function tool(name: string, exitCode = 0): Promise<void> {
    await writeFile(join(bin, name), `#!/bin/sh\necho "${name} $*" >> "${log}"\nexit ${exitCode}\n`);
    await chmod(join(bin, name), 0o755);
  }

  async function run(osRelease: string, root?: string) {
    const file = join(dir, 'os-release');
    await writeFile(file, osRelease);
    return runScript(
      SCRIPT,
      { OS_RELEASE_FILE: file, ROOTFORGE_FIRST_BOOT_MARKER: marker, ROOTFORGE_INIT: 'systemd', ROOTFORGE_ROOT: root ?? join(dir, 'guest') },
      { path: bin },
    );
  }

  async function calls(): Promise<string[]> {
    return existsSync(log) ? (await readFile(log, 'utf8')).trim().split('\n') : [];
  }

  it('keeps the marker when the package install fails', async () => {
    await tool('apt-get', 100);
    await tool('systemctl');
    await tool('ssh-keygen');
    const result = await run('ID=debian\n');
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('kept, the next boot retries');
    expect(await calls()).toEqual(['apt-get update']);
    expect(existsSync(marker)).toBe(true);
  });

  it('keeps the marker when the service does not start', async () => {
    await tool('apt-get');
    await tool('ssh-keygen');
    await writeFile(join(bin, 'systemctl'), `#!/bin/sh\necho "systemctl $*" >> "${log}"\n[ "$1" != start ]\n`);
    await chmod(join(bin, 'systemctl'), 0o755);
    const result = await run('ID=debian\n');
    expect(result.exitCode).not.toBe(0);
    expect((await calls()).slice(-1)).toEqual(['systemctl start ssh']);
    expect(existsSync(marker)).toBe(true);
  });

  it('installs, enables, starts and removes the marker on success', async () => {
    await tool('dnf');
    await tool('systemctl');
    await tool('ssh-keygen');
    const result = await run('ID=fedora\n');
    expect(result.stderr).not.toContain('failed');
    expect(result.exitCode).toBe(0);
    expect(await calls()).toEqual(['dnf install -y openssh-server', 'ssh-keygen -A', 'systemctl enable sshd', 'systemctl start sshd']);
    expect(existsSync(marker)).toBe(false);
  });

  it('skips the install when sshd is already there but still enables and starts it', async () => {
    const root = join(dir, 'guest');
    await mkdir(join(root, 'usr/sbin'), { recursive: true });
    await writeFile(join(root, 'usr/sbin/sshd'), '');
    await chmod(join(root, 'usr/sbin/sshd'), 0o755);
    await tool('apt-get', 1);
    await tool('systemctl');
    await tool('ssh-keygen');
    const result = await run('ID=ubuntu\nID_LIKE=debian\n', root);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain('already installed');
    expect(await calls()).toEqual(['ssh-keygen -A', 'systemctl enable ssh', 'systemctl start ssh']);
    expect(existsSync(marker)).toBe(false);
  });

  it('plans an install under RUN_PLAN even when sshd is there', async () => {
    const root = join(dir, 'guest');
    await mkdir(join(root, 'usr/sbin'), { recursive: true });
    await writeFile(join(root, 'usr/sbin/sshd'), '');
    await chmod(join(root, 'usr/sbin/sshd'), 0o755);
    const file = join(dir, 'os-release');
    await writeFile(file, 'ID=arch\n');
    const result = await runScript(SCRIPT, { RUN_PLAN: '1', OS_RELEASE_FILE: file, ROOTFORGE_FIRST_BOOT_MARKER: marker, ROOTFORGE_INIT: 'systemd', ROOTFORGE_ROOT: root });
    expect(result.lines[0]).toBe('pacman -Sy --noconfirm --needed openssh');
  });

  it('falls back to yum when dnf is missing', async () => {
    await tool('yum');
    await tool('systemctl');
    await tool('ssh-keygen');
    const result = await run('ID=centos\nID_LIKE="rhel fedora"\n');
    expect(result.exitCode).toBe(0);
    expect(await calls()).toEqual(['yum install -y openssh-server', 'ssh-keygen -A', 'systemctl enable sshd', 'systemctl start sshd']);
  });

  it('skips host key generation when ssh-keygen is missing', async () => {
    await tool('pacman');
    await tool('systemctl');
    const result = await run('ID=arch\n');
    expect(result.exitCode).toBe(0);
    expect(await calls()).toEqual(['pacman -Sy --noconfirm --needed openssh', 'systemctl enable sshd', 'systemctl start sshd']);
  });
});
