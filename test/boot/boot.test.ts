/**
 * Boots a rootforge-built Debian image under qemu-system-x86_64 with software emulation (TCG: KVM
 * inside this CI's VMs fails with "emulation failure") and Debian's cloud kernel and initramfs, and shows that
 * rootforge-network.service and rootforge-first-boot.service ran. A unit injected with --inject
 * records their state and powers the guest off; the test reads the record back with debugfs.
 * The guest gets a NIC on QEMU's user network with restrict=on: no packet leaves the machine.
 */
import { execa } from 'execa';
import { chmod, copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from '../../src/batch/build.js';
import { sha256Digest } from '../../src/oci/digest.js';
import { MediaType } from '../../src/oci/media-types.js';
import { pushImage } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { readExt4Tree } from '../helpers/ext4-read.js';

const FIXTURES = process.env.ROOTFORGE_FIXTURE_DIR ?? '/var/tmp/rootforge-fixtures';
const ROOTFS = join(FIXTURES, 'debian', 'rootfs');
const BOOT = join(FIXTURES, 'boot');
const isRoot = process.getuid?.() === 0;
const HOSTNAME = 'rootforge-boot-test';

const RECORDER_UNIT = `[Unit]
Description=boot test: record what rootforge's units did, then power off
After=rootforge-network.service rootforge-first-boot.service
[Service]
Type=oneshot
ExecStart=/bin/sh -c 'mkdir -p /var/lib/boot-test; for u in rootforge-network.service rootforge-first-boot.service; do systemctl show -p Id -p ActiveState -p Result -p ExecMainStartTimestampMonotonic -p ExecMainStatus "$u"; echo; done > /var/lib/boot-test/units; hostname > /var/lib/boot-test/hostname; ip -o addr show dev eth0 > /var/lib/boot-test/addr 2>&1 || true; sync'
ExecStartPost=/bin/systemctl --no-block poweroff
[Install]
WantedBy=multi-user.target
`;

/** Root only, once: Debian's cloud kernel and initramfs copied where an unprivileged run can read them, and the rootfs as a layer. */
async function prepare(): Promise<void> {
  await mkdir(BOOT, { recursive: true });
  const vmlinuz = (await readdir('/boot')).filter((n) => n.startsWith('vmlinuz-') && n.includes('cloud')).sort().at(-1);
  if (!vmlinuz) throw new Error('no Debian cloud kernel in /boot: run .ci/system-packages.sh (linux-image-cloud-amd64)');
  const version = vmlinuz.slice('vmlinuz-'.length);
  await copyFile(join('/boot', vmlinuz), join(BOOT, 'vmlinuz'));
  await copyFile(join('/boot', `initrd.img-${version}`), join(BOOT, 'initrd.img'));
  if (!(await stat(join(FIXTURES, 'debian', 'rootfs.done')).then(() => true, () => false))) {
    await execa('bash', [join(import.meta.dirname, '../fixtures/debian-rootfs.sh'), join(FIXTURES, 'debian')]);
  }
  await execa('sh', ['-c', `tar --numeric-owner --xattrs --xattrs-include='*' --sort=name -C "$1" -c . | gzip -1 -n > "$2"`, 'sh', ROOTFS, join(BOOT, 'rootfs.tar.gz')]);
  const { stdout } = await execa('sh', ['-c', 'gzip -dc "$1" | sha256sum', 'sh', join(BOOT, 'rootfs.tar.gz')]);
  await writeFile(join(BOOT, 'rootfs.diffid'), `sha256:${stdout.split(' ')[0]}`);
  for (const f of ['vmlinuz', 'initrd.img', 'rootfs.tar.gz', 'rootfs.diffid']) await chmod(join(BOOT, f), 0o644);
  await chmod(BOOT, 0o755);
}

let reg: TestRegistry;
let dir: string;

beforeAll(async () => {
  if (!(await stat(join(BOOT, 'rootfs.diffid')).then(() => true, () => false))) {
    if (!isRoot) throw new Error(`the boot fixture is missing: run the suite as root first (it prepares ${BOOT})`);
    await prepare();
  }
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'rootforge-boot-'));
  await chmod(dir, 0o755);
  const blob = await readFile(join(BOOT, 'rootfs.tar.gz'));
  const diffId = (await readFile(join(BOOT, 'rootfs.diffid'), 'utf8')).trim() as `sha256:${string}`;
  await pushImage(reg, 'boot/debian', 'v1', { layers: [{ blob, digest: sha256Digest(blob), diffId, mediaType: MediaType.OciLayerGzip, size: blob.length }] });
}, 600_000);
afterAll(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('a built image boots', () => {
  it('runs rootforge-network.service and rootforge-first-boot.service', async () => {
    await writeFile(join(dir, 'recorder.service'), RECORDER_UNIT);
    await writeFile(
      join(dir, 'inject.json'),
      JSON.stringify({
        files: [{ path: '/etc/systemd/system/boot-test-recorder.service', source: './recorder.service', mode: '0644' }],
        symlinks: [{ path: '/etc/systemd/system/multi-user.target.wants/boot-test-recorder.service', target: '/etc/systemd/system/boot-test-recorder.service' }],
      }),
    );
    const agent = join(dir, 'agent');
    await writeFile(agent, '#!/bin/sh\nexec sleep infinity\n', { mode: 0o755 });
    const result = await build({ refs: [`${reg.host}/boot/debian:v1`], outDir: join(dir, 'out'), cacheDir: join(dir, 'cache'), injectFile: join(dir, 'inject.json'), agentPath: agent, headroomPercent: 30 });
    expect(result.images[0]?.error).toBeUndefined();
    const image = result.images[0]?.output as string;

    // Read back from the built Debian image: every guest path root-owned with its mode, links to the units, the agent byte for byte.
    const tree = await readExt4Tree(image);
    const modes: [string, number][] = [
      ['usr/local/bin/rootforge-vsock-agent', 0o755],
      ['usr/local/libexec/rootforge-network-bootstrap', 0o755],
      ['usr/local/libexec/rootforge-first-boot', 0o755],
      ['etc/systemd/system/rootforge-network.service', 0o644],
      ['etc/systemd/system/rootforge-vsock-agent.service', 0o644],
      ['etc/systemd/system/rootforge-first-boot.service', 0o644],
      ['etc/modules-load.d/rootforge-vsock.conf', 0o644],
      ['var/lib/rootforge/first-boot-pending', 0o644],
    ];
    for (const [path, mode] of modes) expect(tree.get(path), path).toMatchObject({ type: 'file', mode, uid: 0, gid: 0 });
    for (const unit of ['rootforge-network.service', 'rootforge-vsock-agent.service', 'rootforge-first-boot.service']) {
      expect(tree.get(`etc/systemd/system/multi-user.target.wants/${unit}`)).toMatchObject({ type: 'symlink', linkTarget: `/etc/systemd/system/${unit}`, uid: 0, gid: 0 });
    }
    expect(tree.get('usr/local/bin/rootforge-vsock-agent')?.sha256).toBe(createHash('sha256').update(await readFile(agent)).digest('hex'));

    const console = join(dir, 'console.log');
    const qemu = await execa(
      'qemu-system-x86_64',
      [
        '-accel', 'tcg', '-cpu', 'max',
        '-m', '1024', '-smp', '2', '-nographic', '-no-reboot',
        '-kernel', join(BOOT, 'vmlinuz'), '-initrd', join(BOOT, 'initrd.img'),
        '-drive', `file=${image},format=raw,if=virtio`,
        '-nic', 'user,restrict=on,model=virtio-net-pci',
        '-append', `root=/dev/vda rw console=ttyS0 panic=-1 net.ifnames=0 systemd.show_status=1 rootforge.net=iface=eth0,addr=10.0.2.15/24,gw=10.0.2.2,dns=10.0.2.3,hostname=${HOSTNAME}`,
        '-serial', `file:${console}`, '-monitor', 'none', '-display', 'none',
      ],
      { reject: false, timeout: 300_000, stdin: 'ignore' },
    );
    const log = await readFile(console, 'utf8').catch(() => '');
    expect(qemu.timedOut, `qemu did not power off in time; console:\n${log.slice(-3000)}`).toBe(false);

    const cat = async (path: string): Promise<string> => (await execa('debugfs', ['-R', `cat ${path}`, image], { reject: false })).stdout;
    const units = await cat('/var/lib/boot-test/units');
    expect(units, `console:\n${log.slice(-3000)}`).toContain('Id=rootforge-network.service');
    const blocks = units.split('\n\n').map((block) => Object.fromEntries(block.trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2) as [string, string])));
    const network = blocks.find((b) => b.Id === 'rootforge-network.service');
    const firstBoot = blocks.find((b) => b.Id === 'rootforge-first-boot.service');
    // Both ran: systemd recorded a start of their main process.
    expect(Number(network?.ExecMainStartTimestampMonotonic)).toBeGreaterThan(0);
    expect(Number(firstBoot?.ExecMainStartTimestampMonotonic)).toBeGreaterThan(0);
    // The network bootstrap succeeded and did its job.
    expect(network).toMatchObject({ ActiveState: 'active', Result: 'success', ExecMainStatus: '0' });
    expect((await cat('/var/lib/boot-test/hostname')).trim()).toBe(HOSTNAME);
    expect(await cat('/var/lib/boot-test/addr')).toContain('10.0.2.15/24');
    expect(await cat('/etc/hostname')).toContain(HOSTNAME);
    // No network to install sshd from: first boot fails clearly and keeps its marker for the next boot.
    expect(firstBoot?.Result).not.toBe('');
    expect((await execa('debugfs', ['-R', 'stat /var/lib/rootforge/first-boot-pending', image], { reject: false })).stdout).toContain('Type: regular');
  }, 420_000);
});
