import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DebugfsOp } from '../../src/ext4/debugfs-ops.js';
import { assetPath } from '../../src/inject/assets.js';
import { guestFiles } from '../../src/inject/guest-files.js';
import { detectInitSystem } from '../../src/inject/init-system.js';
import { loadInjectFile, overlayFiles } from '../../src/inject/overlay.js';
import { injectOps } from '../../src/inject/plan.js';
import type { RootfsEntry } from '../../src/layer/types.js';

// The e2fsprogs tools live in sbin, which a plain user's PATH often lacks.
function tool(name: string): string | undefined {
  return ['/usr/sbin', '/sbin', '/usr/bin', '/bin'].map((d) => join(d, name)).find((p) => existsSync(p));
}
const DEBUGFS = tool('debugfs');
const MKFS = tool('mkfs.ext4');

/** A minimal renderer for this test only; the real script builder lives in src/ext4. */
function render(ops: DebugfsOp[]): string {
  return ops
    .map((op) => {
      switch (op.op) {
        case 'mkdir':
          return `mkdir ${op.path}`;
        case 'write':
          return `write ${op.hostPath} ${op.path}`;
        case 'set_inode_field':
          return `set_inode_field ${op.path} ${op.field} ${op.field === 'mode' ? `0${Number(op.value).toString(8)}` : op.value}`;
        case 'symlink':
          return `symlink ${op.path} ${op.target}`;
        case 'rm':
          return `rm ${op.path}`;
        default:
          throw new Error(`unexpected op ${op.op}`);
      }
    })
    .join('\n')
    .concat('\n');
}

interface Stat {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  link?: string;
}

describe.skipIf(!DEBUGFS || !MKFS)('inject into a real ext4 with debugfs', () => {
  let dir: string;
  let image: string;
  let agent: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rootforge-inject-rt-'));
    const staging = join(dir, 'staging');
    for (const d of ['etc/systemd/system', 'usr/local/bin', 'var/lib', 'lib/systemd', 'run/systemd/resolve']) await mkdir(join(staging, d), { recursive: true });
    await writeFile(join(staging, 'lib/systemd/systemd'), '');
    await writeFile(join(staging, 'etc/motd'), 'from the image\n');
    await symlink('../run/systemd/resolve/stub-resolv.conf', join(staging, 'etc/resolv.conf'));
    image = join(dir, 'rootfs.ext4');
    await execa('truncate', ['-s', '16M', image]);
    await execa(MKFS as string, ['-q', '-F', '-d', staging, image]);
    agent = join(dir, 'agent');
    await writeFile(agent, 'pretend agent\n');
    await chmod(agent, 0o600);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function stat(path: string): Promise<Stat | undefined> {
    const { stdout, stderr } = await execa(DEBUGFS as string, ['-R', `stat ${path}`, image], { reject: false });
    if (/File not found|not found by ext2_lookup/.test(stderr)) return undefined;
    const type = /Type: (\w+)/.exec(stdout)?.[1] ?? '?';
    const mode = Number.parseInt(/Mode:\s+(\d+)/.exec(stdout)?.[1] ?? 'NaN', 8);
    const uid = Number(/User:\s+(\d+)/.exec(stdout)?.[1]);
    const gid = Number(/Group:\s+(\d+)/.exec(stdout)?.[1]);
    const size = Number(/Size: (\d+)/.exec(stdout)?.[1]);
    const link = /Fast link dest: "(.*)"/.exec(stdout)?.[1];
    return { type, mode, uid, gid, size, ...(link === undefined ? {} : { link }) };
  }

  it('writes the guest files, an overlay and an --inject file in one debugfs batch', async () => {
    const entries: RootfsEntry[] = [];
    // The image's tree as the layer replay would report it.
    const known: Array<[string, RootfsEntry['type']]> = [
      ['', 'dir'], ['etc', 'dir'], ['etc/systemd', 'dir'], ['etc/systemd/system', 'dir'], ['usr', 'dir'], ['usr/local', 'dir'],
      ['usr/local/bin', 'dir'], ['var', 'dir'], ['var/lib', 'dir'], ['lib', 'dir'], ['lib/systemd', 'dir'], ['lib/systemd/systemd', 'file'],
      ['run', 'dir'], ['run/systemd', 'dir'], ['run/systemd/resolve', 'dir'], ['etc/motd', 'file'], ['etc/resolv.conf', 'symlink'],
    ];
    for (const [path, type] of known) entries.push({ path, type, mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 });
    const init = detectInitSystem(entries);
    expect(init).toBe('systemd');

    const overlay = join(dir, 'overlay');
    await mkdir(join(overlay, 'etc'), { recursive: true });
    await writeFile(join(overlay, 'etc/motd'), 'from the overlay\n');
    await chmod(join(overlay, 'etc'), 0o755);
    await chmod(join(overlay, 'etc/motd'), 0o640);
    const injectJson = join(dir, 'inject.json');
    await writeFile(
      injectJson,
      JSON.stringify({
        dirs: [{ path: '/srv/app', mode: '0750', uid: 1000, gid: 1000 }],
        files: [{ path: '/srv/app/config', content: 'x=1\n', mode: '0600', uid: 1000, gid: 1000 }],
        symlinks: [{ path: '/etc/resolv.conf', target: '/run/resolv.conf' }],
      }),
    );

    const files = [...guestFiles({ agentPath: agent, init }), ...(await overlayFiles(overlay)), ...(await loadInjectFile(injectJson))];
    const temp = join(dir, 'temp');
    await mkdir(temp);
    const plan = injectOps(files, (p) => entries.find((e) => e.path === p.slice(1))?.type, { tempDir: temp });
    for (const t of plan.tempFiles) await writeFile(t.path, t.content);
    const script = join(dir, 'script');
    await writeFile(script, render(plan.ops));
    const result = await execa(DEBUGFS as string, ['-w', '-f', script, image], { reject: false });
    const errors = String(result.stderr).split('\n').filter((l) => l.trim() !== '' && !l.startsWith('debugfs '));
    expect(errors).toEqual([]);

    expect(await stat('/usr/local/bin/rootforge-vsock-agent')).toMatchObject({ type: 'regular', mode: 0o755, uid: 0, gid: 0, size: 14 });
    expect(await stat('/usr/local/libexec/rootforge-network-bootstrap')).toMatchObject({ type: 'regular', mode: 0o755, uid: 0, gid: 0 });
    expect(await stat('/usr/local/libexec')).toMatchObject({ type: 'directory', mode: 0o755, uid: 0, gid: 0 });
    for (const unit of ['rootforge-network.service', 'rootforge-vsock-agent.service', 'rootforge-first-boot.service']) {
      expect(await stat(`/etc/systemd/system/${unit}`)).toMatchObject({ type: 'regular', mode: 0o644, uid: 0, gid: 0 });
      expect(await stat(`/etc/systemd/system/multi-user.target.wants/${unit}`)).toMatchObject({ type: 'symlink', link: `/etc/systemd/system/${unit}` });
    }
    expect(await stat('/etc/modules-load.d/rootforge-vsock.conf')).toMatchObject({ type: 'regular', mode: 0o644 });
    expect(await stat('/var/lib/rootforge/first-boot-pending')).toMatchObject({ type: 'regular', mode: 0o644, size: 0 });
    expect(await stat('/etc/motd')).toMatchObject({ type: 'regular', mode: 0o640, size: 17 });
    expect(await stat('/etc/resolv.conf')).toMatchObject({ type: 'symlink', link: '/run/resolv.conf' });
    expect(await stat('/srv/app')).toMatchObject({ type: 'directory', mode: 0o750, uid: 1000, gid: 1000 });
    expect(await stat('/srv/app/config')).toMatchObject({ type: 'regular', mode: 0o600, uid: 1000, gid: 1000, size: 4 });

    const { stdout: injected } = await execa(DEBUGFS as string, ['-R', 'cat /usr/local/libexec/rootforge-first-boot', image]);
    expect(injected).toBe((await readFile(assetPath('firstBoot'), 'utf8')).trimEnd());
    const fsck = await execa(tool('e2fsck') ?? 'e2fsck', ['-fn', image], { reject: false });
    expect(fsck.exitCode, String(fsck.stdout)).toBe(0);
  });
});
