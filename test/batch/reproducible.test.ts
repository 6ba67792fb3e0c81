import { execa } from 'execa';
import { chmod, mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sidecar } from '../../src/batch/sidecar.js';
import { buildLayer, pushImage, type TarEntrySpec } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';

import { CLI_MAIN as MAIN } from '../helpers/cli.js';
const CAP = Buffer.from('0100000200040000000000000000000000000000', 'hex');
const isRoot = process.getuid?.() === 0;

const DEBIAN_LIKE: TarEntrySpec[] = [
  { name: 'etc/os-release', content: 'ID=debian\nVERSION_ID="12"\n' },
  { name: 'usr/lib/systemd/systemd', content: 'systemd', mode: 0o755 },
  { name: 'sbin/init', type: 'symlink', linkname: '/usr/lib/systemd/systemd' },
  { name: 'usr/bin/su', content: 'su', mode: 0o4755 },
  { name: 'usr/bin/ping', content: 'ping', mode: 0o755, pax: { 'SCHILY.xattr.security.capability': CAP.toString('latin1') } },
  { name: 'etc/shadow', content: 'root:*:', mode: 0o640, gid: 42 },
  ...Array.from({ length: 300 }, (_, i) => ({ name: `usr/share/zoneinfo/zone${i}`, content: `zone ${i}\n`.repeat(i % 7) })),
];
const LAYERED: TarEntrySpec[][] = [
  DEBIAN_LIKE,
  [
    { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
    { name: 'run/ctl', type: 'fifo' },
    { name: 'usr/share/zoneinfo/', type: 'directory' },
    { name: 'usr/share/zoneinfo/.wh..wh..opq', content: '' },
    { name: 'usr/share/zoneinfo/UTC', content: 'utc' },
    { name: 'etc/.wh.shadow', content: '' },
    { name: 'srv/note', content: 'x', pax: { 'SCHILY.xattr.user.note': 'kept by debugfs' } },
    { name: 'srv/link', type: 'link', linkname: 'usr/bin/su' },
  ],
];

let reg: TestRegistry;
let dir: string;
let agent: string;
const refs: Record<string, string> = {};

beforeAll(async () => {
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'rootforge-repro-'));
  await chmod(dir, 0o777);
  agent = join(dir, 'agent');
  await writeFile(agent, '#!/bin/sh\nexec sleep infinity\n', { mode: 0o755 });
  await pushImage(reg, 'repro/debian-like', 'v1', { layers: [await buildLayer(DEBIAN_LIKE)], config: { created: '2024-05-01T10:00:00Z' } });
  const layers = [];
  for (const entries of LAYERED) layers.push(await buildLayer(entries, { compression: 'zstd' }));
  await pushImage(reg, 'repro/layered', 'v1', { layers, config: { created: '2023-01-01T00:00:00Z' } });
  refs.debian = `${reg.host}/repro/debian-like:v1`;
  refs.layered = `${reg.host}/repro/layered:v1`;
});
afterAll(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

interface Variant {
  label: string;
  umask: string;
  /** Run as `nobody` through setpriv (root only). */
  unprivileged?: boolean;
}

async function buildOnce(variant: Variant, n: number): Promise<Sidecar[]> {
  const base = join(dir, `run-${n}`);
  for (const sub of ['tmp', 'cache', 'out']) await mkdir(join(base, sub), { recursive: true });
  await chmod(base, 0o777);
  for (const sub of ['tmp', 'cache', 'out']) await chmod(join(base, sub), 0o777);
  const args = [MAIN, 'build', refs.debian as string, refs.layered as string, '--out', join(base, 'out'), '--cache-dir', join(base, 'cache'), '--agent', agent, '-q'];
  const script = `umask ${variant.umask}; exec node "$@"`;
  const command = variant.unprivileged ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', script, 'sh', ...args] : ['sh', '-c', script, 'sh', ...args];
  const run = await execa(command[0] as string, command.slice(1), { reject: false, env: { TMPDIR: join(base, 'tmp'), HOME: base, LANG: n % 2 ? 'C' : 'C.UTF-8', TZ: n % 2 ? 'UTC' : 'Pacific/Auckland' } });
  expect(run.exitCode, `${variant.label}: ${run.stderr}`).toBe(0);
  return Promise.all(['debian-like-v1', 'layered-v1'].map(async (name) => JSON.parse(await readFile(join(base, 'out', `${name}.json`), 'utf8')) as Sidecar));
}

describe('reproducible builds (tar path)', () => {
  it('give one sha256 per image across users, TMPDIR, umask, cache dirs, locale, time zone and clock', async () => {
    const variants: Variant[] = [
      { label: 'first', umask: '022' },
      { label: 'strict umask', umask: '077' },
      { label: 'open umask', umask: '000' },
      ...(isRoot ? [{ label: 'unprivileged (nobody)', umask: '027', unprivileged: true }] : []),
    ];
    const hashes: Record<string, Set<string>> = { debian: new Set(), layered: new Set() };
    for (const [n, variant] of variants.entries()) {
      if (n > 0) await new Promise((resolve) => setTimeout(resolve, 1500));
      const [debian, layered] = await buildOnce(variant, n);
      expect(debian?.reproducible).toBe(true);
      expect(debian?.sourceDateEpoch).toBe(Date.parse('2024-05-01T10:00:00Z') / 1000);
      hashes.debian?.add(debian?.sha256 as string);
      hashes.layered?.add(layered?.sha256 as string);
    }
    expect(hashes.debian?.size).toBe(1);
    expect(hashes.layered?.size).toBe(1);
    const image = join(dir, 'run-0', 'out', 'layered-v1.ext4');
    const { stdout } = await execa('sha256sum', [image]);
    expect(`sha256:${stdout.split(' ')[0]}`).toBe([...(hashes.layered as Set<string>)][0]);
  });

  it('build --check passes on a fresh output and names the first difference after one byte changes', async () => {
    const out = join(dir, 'run-0', 'out');
    const common = ['--out', out, '--cache-dir', join(dir, 'run-0', 'cache'), '--agent', agent];
    const ok = await execa('node', [MAIN, 'build', refs.layered as string, '--check', ...common], { reject: false });
    expect(ok.exitCode, ok.stderr).toBe(0);

    const image = join(out, 'layered-v1.ext4');
    const original = await readFile(image);
    const flip = async (offset: number): Promise<void> => {
      const handle = await open(image, 'r+');
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, offset);
      byte[0] = (byte[0] as number) ^ 0xff;
      await handle.write(byte, 0, 1, offset);
      await handle.close();
    };
    await flip(1024 + 0x78); // s_volume_name
    const superblock = await execa('node', [MAIN, 'build', refs.layered as string, '--check', ...common], { reject: false });
    expect(superblock.exitCode).toBe(1);
    expect(superblock.stderr).toContain('ERR_CHECK_FAILED');
    expect(superblock.stderr).toContain('superblock field s_volume_name');
    await writeFile(image, original);

    const blocks = await execa('debugfs', ['-R', 'blocks /usr/share/zoneinfo/UTC', image]);
    await flip(Number(blocks.stdout.trim().split(/\s+/)[0]) * 4096);
    const data = await execa('node', [MAIN, 'build', refs.layered as string, '--check', ...common], { reject: false });
    expect(data.exitCode).toBe(1);
    expect(data.stderr).toMatch(/data of inode \d+ \(\/usr\/share\/zoneinfo\/UTC\)/);
    // --check never touches the output it checks
    expect((await readFile(image)).equals(original)).toBe(false);
  });

  it('marks dir-path builds as not reproducible', async () => {
    const out = join(dir, 'dir-out');
    const run = await execa('node', [MAIN, 'build', refs.debian as string, '--populate', 'dir', '--out', out, '--cache-dir', join(dir, 'dir-cache'), '--json', '--no-inject'], { reject: false });
    expect(run.exitCode, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout) as { images: { reproducible: boolean; sha256: string }[] };
    expect(summary.images[0]?.reproducible).toBe(false);
    expect(summary.images[0]?.sha256).toMatch(/^sha256:[0-9a-f]{64}$/);
    const sidecar = JSON.parse(await readFile(join(out, 'debian-like-v1.json'), 'utf8')) as Sidecar;
    expect(sidecar.reproducible).toBe(false);
  });
});
