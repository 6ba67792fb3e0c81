import { describe, expect, it } from 'vitest';
import type { DebugfsOp } from '../../src/ext4/debugfs-ops.js';
import { fixupOps, type StagedTree } from '../../src/ext4/fixup.js';
import type { RootfsEntry } from '../../src/layer/types.js';

function e(path: string, type: RootfsEntry['type'], extra: Partial<RootfsEntry> = {}): RootfsEntry {
  return { path, type, mode: type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, size: 0, ...extra };
}

const asRunner = (uid: number, modes: Array<[string, number]> = []): StagedTree => ({ modes: new Map(modes), runnerUid: uid, runnerGid: uid, tempDir: '/tmp/values' });

/** Ops as short strings so expectations read like the script. */
function lines(ops: DebugfsOp[]): string[] {
  return ops.map((op) => {
    switch (op.op) {
      case 'set_inode_field':
        return `sif ${op.path} ${op.field} ${op.field === 'mode' ? Number(op.value).toString(8) : op.value}`;
      case 'ea_set':
        return `ea_set ${op.path} ${op.name}`;
      case 'mknod':
        return `mknod ${op.path} ${op.kind}${op.kind === 'fifo' ? '' : ` ${op.major} ${op.minor}`}`;
      case 'link':
        return `link ${op.target} ${op.path}`;
      default:
        return `${op.op} ${op.path}`;
    }
  });
}

const root = e('', 'dir', { mtime: 1_600_000_000 });

describe('fixupOps for the tar path', () => {
  it('restores only what mke2fs 1.47.2 drops from a tar: xattrs other than security.capability, and far mtimes', () => {
    const entries = [
      root,
      e('bin', 'dir'),
      e('bin/ping', 'file', { xattrs: { 'security.capability': Buffer.from('cap'), 'user.a': Buffer.from('1'), 'trusted.b': Buffer.from('2') } }),
      e('bin/su', 'file', { mode: 0o4755, uid: 100000, gid: 100000 }),
      e('dev/null', 'char', { devMajor: 1, devMinor: 3 }),
      e('fifo', 'fifo'),
      e('late', 'file', { mtime: 4_102_444_800 }),
      e('early', 'file', { mtime: -1 }),
      e('hard', 'file', { hardlinkTo: 'bin/su', xattrs: { 'user.x': Buffer.from('ignored: same inode') } }),
    ];
    const plan = fixupOps(entries, 'tar', asRunner(1000));
    expect(lines(plan.ops)).toEqual(['sif / mtime 1600000000', 'ea_set /bin/ping user.a', 'ea_set /bin/ping trusted.b', 'sif /late mtime 4102444800', 'sif /early mtime -1']);
    expect(plan.valueFiles.map((f) => f.content.toString())).toEqual(['1', '2']);
  });

  it('re-sets a capability with a byte >= 0x80, which tar-stream\'s PAX strings mangle', () => {
    const cap = Buffer.from('0100000280000000000000000000000000000000', 'hex');
    expect(lines(fixupOps([e('bin/newuidmap', 'file', { xattrs: { 'security.capability': cap } })], 'tar', asRunner(0)).ops)).toEqual([
      'ea_set /bin/newuidmap security.capability',
    ]);
  });

  it('sets mode 0000, which tar-stream cannot write', () => {
    expect(lines(fixupOps([e('secret', 'file', { mode: 0 })], 'tar', asRunner(0)).ops)).toEqual(['sif /secret mode 100000']);
  });

  it('sets a root that differs from what mkfs makes', () => {
    expect(lines(fixupOps([e('', 'dir', { mode: 0o700, uid: 1, gid: 2, mtime: 5 })], 'tar', asRunner(0)).ops)).toEqual([
      'sif / mode 40700',
      'sif / uid 1',
      'sif / gid 2',
      'sif / mtime 5',
    ]);
  });

  it('shares one value file between identical values', () => {
    const entries = [e('a', 'file', { xattrs: { 'user.x': Buffer.from('same') } }), e('b', 'file', { xattrs: { 'user.y': Buffer.from('same') } })];
    const plan = fixupOps(entries, 'tar', asRunner(0));
    expect(plan.valueFiles).toHaveLength(1);
    expect(plan.ops.map((op) => (op.op === 'ea_set' ? op.valueFile : ''))).toEqual([plan.valueFiles[0]?.path, plan.valueFiles[0]?.path]);
    expect(plan.valueFiles[0]?.path.startsWith('/tmp/values/xattr-')).toBe(true);
  });

  it('refuses xattr names debugfs cannot express', () => {
    expect(() => fixupOps([e('a', 'file', { xattrs: { 'user.\n': Buffer.from('x') } })], 'tar', asRunner(0))).toThrow(expect.objectContaining({ code: 'ERR_DEBUGFS_NAME' }));
  });
});

describe('fixupOps for the dir path', () => {
  it('sets owners that differ from the runner, modes that were staged differently, and every xattr', () => {
    const entries = [
      e('', 'dir', { mtime: 10 }),
      e('mine', 'file', { uid: 1000, gid: 1000 }),
      e('rooted', 'file', { uid: 0, gid: 1000 }),
      e('high', 'file', { uid: 100000, gid: 100001 }),
      e('secret', 'file', { mode: 0, uid: 1000, gid: 1000 }),
      e('ro', 'dir', { mode: 0o555, uid: 1000, gid: 1000 }),
      e('cap', 'file', { uid: 1000, gid: 1000, xattrs: { 'security.capability': Buffer.from('c') } }),
      e('link', 'symlink', { mode: 0o777, uid: 1000, gid: 1000, linkTarget: 'x' }),
    ];
    const plan = fixupOps(entries, 'dir', asRunner(1000, [['secret', 0o600], ['ro', 0o755]]));
    expect(lines(plan.ops)).toEqual([
      'sif / mtime 10',
      'sif /rooted uid 0',
      'sif /high uid 100000',
      'sif /high gid 100001',
      'sif /secret mode 100000',
      'sif /ro mode 40555',
      'ea_set /cap security.capability',
    ]);
  });

  it('needs no owner fixups when the runner is root and the image is all root', () => {
    expect(lines(fixupOps([root, e('a', 'file'), e('b', 'dir')], 'dir', asRunner(0)).ops)).toEqual(['sif / mtime 1600000000']);
  });

  it('makes device and fifo nodes with mknod, then their mode, owner and mtime (their directory\'s mtime stays)', () => {
    const entries = [
      root,
      e('dev', 'dir', { mtime: 123 }),
      e('dev/null', 'char', { mode: 0o666, devMajor: 1, devMinor: 3 }),
      e('dev/sda', 'block', { mode: 0o660, gid: 6, devMajor: 8, devMinor: 0 }),
      e('dev/ctl', 'fifo', { mode: 0o600, uid: 7, mtime: 5 }),
      e('dev/ctl2', 'fifo', { mode: 0o600, uid: 7, hardlinkTo: 'dev/ctl' }),
    ];
    expect(lines(fixupOps(entries, 'dir', asRunner(0)).ops)).toEqual([
      'sif / mtime 1600000000',
      'mknod /dev/null char 1 3',
      'sif /dev/null mode 20666',
      'sif /dev/null mtime 1700000000',
      'mknod /dev/sda block 8 0',
      'sif /dev/sda mode 60660',
      'sif /dev/sda gid 6',
      'sif /dev/sda mtime 1700000000',
      'mknod /dev/ctl fifo',
      'sif /dev/ctl mode 10600',
      'sif /dev/ctl uid 7',
      'sif /dev/ctl mtime 5',
      'link /dev/ctl /dev/ctl2',
      'sif /dev/ctl links_count 2',
    ]);
  });

  it('sets mtimes mkfs -d clamps to 2038', () => {
    expect(lines(fixupOps([e('late', 'file', { mtime: 2 ** 31 })], 'dir', asRunner(0)).ops)).toEqual(['sif /late mtime 2147483648']);
  });
});
