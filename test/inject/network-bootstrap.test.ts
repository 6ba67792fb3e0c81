import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runScript, sandboxBin } from './helpers.js';

const SCRIPT = 'rootforge-network-bootstrap';
let dir: string;
let root: string;
let sysNet: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootforge-net-'));
  root = join(dir, 'root');
  sysNet = join(dir, 'sys-class-net');
  await mkdir(join(root, 'etc'), { recursive: true });
  for (const name of ['lo', 'eth0']) await mkdir(join(sysNet, name), { recursive: true });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function plan(opts: { cmdline?: string; conf?: string; env?: Record<string, string> }) {
  const cmdlineFile = join(dir, 'cmdline');
  await writeFile(cmdlineFile, `${opts.cmdline ?? 'console=ttyS0 reboot=k panic=1'}\n`);
  const confFile = join(dir, 'network.conf');
  if (opts.conf !== undefined) await writeFile(confFile, opts.conf);
  return runScript(SCRIPT, {
    RUN_PLAN: '1',
    ROOTFORGE_ROOT: root,
    ROOTFORGE_CMDLINE_FILE: cmdlineFile,
    ROOTFORGE_NETWORK_CONF: confFile,
    ROOTFORGE_SYS_NET: sysNet,
    ROOTFORGE_NET_TOOL: 'ip',
    ...opts.env,
  });
}

const file = (path: string): Promise<string> => readFile(join(root, path), 'utf8');

describe('network bootstrap: rootforge.net=', () => {
  it('brings up lo, the interface, its address and route, DNS and hostname', async () => {
    const result = await plan({
      cmdline: 'console=ttyS0 rootforge.net=iface=eth0,addr=172.16.0.2/24,gw=172.16.0.1,dns=1.1.1.1+8.8.8.8,hostname=vm1 quiet',
    });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.lines).toEqual([
      'ip link set dev lo up',
      'ip link set dev eth0 up',
      'ip addr replace 172.16.0.2/24 dev eth0',
      'ip route replace default via 172.16.0.1 dev eth0',
      'write /etc/resolv.conf',
      'write /etc/hostname',
      'hostname vm1',
    ]);
    expect(await file('etc/resolv.conf')).toBe('# written by rootforge-network-bootstrap at boot\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n');
    expect(await file('etc/hostname')).toBe('vm1\n');
  });

  it('takes mtu and search domains, and IPv6 addresses', async () => {
    const result = await plan({ cmdline: 'rootforge.net=iface=eth1,addr=fd00::2/64,gw=fd00::1,mtu=1400,dns=fd00::53,search=lan+example.com' });
    expect(result.exitCode).toBe(0);
    expect(result.lines).toEqual([
      'ip link set dev lo up',
      'ip link set dev eth1 mtu 1400',
      'ip link set dev eth1 up',
      'ip addr replace fd00::2/64 dev eth1',
      'ip route replace default via fd00::1 dev eth1',
      'write /etc/resolv.conf',
    ]);
    expect(await file('etc/resolv.conf')).toContain('nameserver fd00::53\nsearch lan example.com\n');
  });

  it('picks the first interface other than lo when none is named', async () => {
    const result = await plan({ cmdline: 'rootforge.net=addr=10.0.0.2/30,gw=10.0.0.1' });
    expect(result.lines).toContain('ip addr replace 10.0.0.2/30 dev eth0');
  });

  it('accepts a quoted value and lets the last occurrence win', async () => {
    const result = await plan({ cmdline: 'rootforge.net=addr=10.9.9.9/8 rootforge.net="addr=10.0.0.2/24,iface=eth0"' });
    expect(result.lines).toContain('ip addr replace 10.0.0.2/24 dev eth0');
    expect(result.stdout).not.toContain('10.9.9.9');
  });

  it.each([
    ['an address without a prefix', 'rootforge.net=addr=10.0.0.2', 'needs a prefix length'],
    ['shell syntax in a hostname', 'rootforge.net=hostname=vm;reboot', "invalid hostname 'vm;reboot'"],
    ['a bad interface name', 'rootforge.net=iface=eth0/../x,addr=10.0.0.2/24', 'invalid iface'],
    ['a bad gateway', 'rootforge.net=gw=$(reboot)', 'invalid gw'],
  ])('refuses %s', async (_name, cmdline, message) => {
    const result = await plan({ cmdline });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain(message);
    expect(result.lines).toEqual([]);
  });

  it('warns about unknown keys and carries on', async () => {
    const result = await plan({ cmdline: 'rootforge.net=hostname=vm1,colour=blue' });
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain('ignoring unknown key colour');
  });
});

describe('network bootstrap: ip=', () => {
  it('reads the kernel form, converting the netmask', async () => {
    const result = await plan({ cmdline: 'ip=172.16.0.2::172.16.0.1:255.255.255.252:vm2:eth0:off:9.9.9.9:1.0.0.1 root=/dev/vda' });
    expect(result.exitCode).toBe(0);
    expect(result.lines).toEqual([
      'ip link set dev lo up',
      'ip link set dev eth0 up',
      'ip addr replace 172.16.0.2/30 dev eth0',
      'ip route replace default via 172.16.0.1 dev eth0',
      'write /etc/resolv.conf',
      'write /etc/hostname',
      'hostname vm2',
    ]);
    expect(await file('etc/resolv.conf')).toContain('nameserver 9.9.9.9\nnameserver 1.0.0.1\n');
  });

  it('uses the classful prefix for an empty netmask', async () => {
    const result = await plan({ cmdline: 'ip=10.2.3.4::10.0.0.1::::off' });
    expect(result.lines).toContain('ip addr replace 10.2.3.4/8 dev eth0');
  });

  it('treats ip=dhcp as carrying no static settings', async () => {
    const result = await plan({ cmdline: 'ip=dhcp' });
    expect(result.exitCode).toBe(0);
    expect(result.lines).toEqual(['ip link set dev lo up']);
    expect(result.stderr).toContain('no static settings');
  });

  it('rejects a non-contiguous netmask', async () => {
    const result = await plan({ cmdline: 'ip=10.0.0.2::10.0.0.1:255.0.255.0::eth0:off' });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('bad netmask');
  });

  it('lets rootforge.net= override ip= field by field', async () => {
    const result = await plan({ cmdline: 'ip=172.16.0.2::172.16.0.1:255.255.255.0:vm2:eth0:off rootforge.net=hostname=vm9,dns=1.1.1.1' });
    expect(result.lines).toEqual([
      'ip link set dev lo up',
      'ip link set dev eth0 up',
      'ip addr replace 172.16.0.2/24 dev eth0',
      'ip route replace default via 172.16.0.1 dev eth0',
      'write /etc/resolv.conf',
      'write /etc/hostname',
      'hostname vm9',
    ]);
  });
});

describe('network bootstrap: network.conf fallback', () => {
  const conf = [
    '# rootforge guest network',
    '  IFACE="ens3"',
    "ADDR='10.0.0.5/8'",
    'GW=10.0.0.1   ',
    'DNS="1.1.1.1, 8.8.4.4"',
    'export HOSTNAME=box',
    'MTU=9000',
    '',
  ].join('\n');

  it('parses KEY=value lines when the command line has nothing', async () => {
    const result = await plan({ conf });
    expect(result.exitCode).toBe(0);
    expect(result.lines).toEqual([
      'ip link set dev lo up',
      'ip link set dev ens3 mtu 9000',
      'ip link set dev ens3 up',
      'ip addr replace 10.0.0.5/8 dev ens3',
      'ip route replace default via 10.0.0.1 dev ens3',
      'write /etc/resolv.conf',
      'write /etc/hostname',
      'hostname box',
    ]);
    expect(await file('etc/resolv.conf')).toContain('nameserver 1.1.1.1\nnameserver 8.8.4.4\n');
  });

  it('is parsed, never sourced', async () => {
    const canary = join(dir, 'canary');
    const result = await plan({ conf: `HOSTNAME=$(touch ${canary})\ntouch ${canary}\nIFACE=eth0; touch ${canary}\n` });
    expect(result.exitCode).not.toBe(0);
    await expect(lstat(canary)).rejects.toThrow();
  });

  it('is overridden by the command line', async () => {
    const result = await plan({ conf, cmdline: 'rootforge.net=addr=192.168.1.2/24' });
    expect(result.lines).toContain('ip addr replace 192.168.1.2/24 dev ens3');
    expect(result.lines).toContain('hostname box');
  });

  it('brings up only lo when there is no configuration at all', async () => {
    const result = await plan({});
    expect(result.exitCode).toBe(0);
    expect(result.lines).toEqual(['ip link set dev lo up']);
    expect(await readdir(join(root, 'etc'))).toEqual([]);
  });
});

describe('network bootstrap: idempotence and files', () => {
  const cmdline = 'rootforge.net=iface=eth0,addr=172.16.0.2/24,gw=172.16.0.1,dns=1.1.1.1,hostname=vm1';

  it('gives the same commands and the same files when run again', async () => {
    const first = await plan({ cmdline });
    const files1 = { resolv: await file('etc/resolv.conf'), hostname: await file('etc/hostname') };
    const second = await plan({ cmdline });
    expect(second.exitCode).toBe(0);
    expect(second.lines).toEqual(first.lines);
    expect({ resolv: await file('etc/resolv.conf'), hostname: await file('etc/hostname') }).toEqual(files1);
    expect(first.lines.filter((l) => / (add|del) /.test(l))).toEqual([]);
    expect((await readdir(join(root, 'etc'))).sort()).toEqual(['hostname', 'resolv.conf']);
  });

  it('replaces a resolv.conf symlink (systemd-resolved) with a plain file', async () => {
    await mkdir(join(root, 'run/systemd/resolve'), { recursive: true });
    await writeFile(join(root, 'run/systemd/resolve/stub-resolv.conf'), 'nameserver 127.0.0.53\n');
    await symlink('../run/systemd/resolve/stub-resolv.conf', join(root, 'etc/resolv.conf'));
    const result = await plan({ cmdline });
    expect(result.exitCode).toBe(0);
    expect((await lstat(join(root, 'etc/resolv.conf'))).isSymbolicLink()).toBe(false);
    expect(await file('etc/resolv.conf')).toContain('nameserver 1.1.1.1');
    expect(await file('run/systemd/resolve/stub-resolv.conf')).toBe('nameserver 127.0.0.53\n');
  });

  it('replaces a dangling resolv.conf symlink too', async () => {
    await symlink('/run/systemd/resolve/stub-resolv.conf', join(root, 'etc/resolv.conf'));
    await plan({ cmdline });
    expect((await lstat(join(root, 'etc/resolv.conf'))).isFile()).toBe(true);
    await expect(readlink(join(root, 'etc/resolv.conf'))).rejects.toThrow();
  });

  it('leaves resolv.conf alone when no DNS servers are given', async () => {
    await writeFile(join(root, 'etc/resolv.conf'), 'nameserver 10.0.0.53\n');
    const result = await plan({ cmdline: 'rootforge.net=addr=10.0.0.2/24' });
    expect(result.lines).not.toContain('write /etc/resolv.conf');
    expect(await file('etc/resolv.conf')).toBe('nameserver 10.0.0.53\n');
  });
});

describe('network bootstrap: fallback tools', () => {
  const cmdline = 'rootforge.net=iface=eth0,addr=172.16.0.2/24,gw=172.16.0.1';

  it('uses busybox ip when iproute2 is missing', async () => {
    const result = await plan({ cmdline, env: { ROOTFORGE_NET_TOOL: 'busybox' } });
    expect(result.lines).toEqual([
      'busybox ip link set dev lo up',
      'busybox ip link set dev eth0 up',
      'busybox ip addr replace 172.16.0.2/24 dev eth0',
      'busybox ip route replace default via 172.16.0.1 dev eth0',
    ]);
  });

  it('uses ifconfig and route for IPv4 as a last resort', async () => {
    const result = await plan({ cmdline, env: { ROOTFORGE_NET_TOOL: 'ifconfig' } });
    expect(result.lines).toEqual([
      'ifconfig lo up',
      'ifconfig eth0 up',
      'ifconfig eth0 172.16.0.2 netmask 255.255.255.0 up',
      'route del default dev eth0',
      'route add default gw 172.16.0.1 dev eth0',
    ]);
  });

  it('finds busybox\'s ip applet when iproute2 is missing', async () => {
    const bin = await sandboxBin(join(dir, 'bin'), ['tr', 'sed', 'cat']);
    await writeFile(join(bin, 'busybox'), '#!/bin/sh\n[ "$1" = --list ] && printf "sh\\nip\\nifconfig\\n"\n');
    await chmod(join(bin, 'busybox'), 0o755);
    const result = await plan({ cmdline, env: { ROOTFORGE_NET_TOOL: '', PATH: bin } });
    expect(result.lines[0]).toBe('busybox ip link set dev lo up');
  });

  it('finds ifconfig and route when there is no ip at all', async () => {
    const bin = await sandboxBin(join(dir, 'bin'), ['tr', 'sed', 'cat']);
    for (const name of ['ifconfig', 'route']) {
      await writeFile(join(bin, name), '#!/bin/sh\nexit 0\n');
      await chmod(join(bin, name), 0o755);
    }
    const result = await plan({ cmdline, env: { ROOTFORGE_NET_TOOL: '', PATH: bin } });
    expect(result.lines[0]).toBe('ifconfig lo up');
  });

  it('relies on the kernel for ip= when the image has no tool', async () => {
    const result = await plan({ cmdline: 'ip=172.16.0.2::172.16.0.1:255.255.255.0::eth0:off', env: { ROOTFORGE_NET_TOOL: 'none' } });
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toContain("relying on the kernel's ip=");
  });

  it('fails for rootforge.net= when the image has no tool, saying what to install', async () => {
    const result = await plan({ cmdline, env: { ROOTFORGE_NET_TOOL: 'none' } });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain('install iproute2');
  });
});
