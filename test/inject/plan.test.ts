import { describe, expect, it } from 'vitest';
import type { DebugfsOp } from '../../src/ext4/debugfs-ops.js';
import type { GuestFile } from '../../src/inject/guest-files.js';
import { existingFromEntries, injectOps, type ExistingLookup } from '../../src/inject/plan.js';
import type { EntryType, RootfsEntry } from '../../src/layer/types.js';

const TEMP = '/tmp/rf-inject';

function image(spec: Record<string, EntryType>): ExistingLookup {
  const entries: RootfsEntry[] = Object.entries(spec).map(([path, type]) => ({ path, type, mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 }));
  return existingFromEntries([{ path: '', type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: 0, size: 0 }, ...entries]);
}

/** Ops as debugfs-like lines, so expectations read like the script. */
function lines(ops: DebugfsOp[]): string[] {
  return ops.map((op) => {
    switch (op.op) {
      case 'mkdir':
        return `mkdir ${op.path}`;
      case 'write':
        return `write ${op.hostPath} ${op.path}`;
      case 'set_inode_field':
        return `sif ${op.path} ${op.field} ${op.field === 'mode' ? `0${Number(op.value).toString(8)}` : op.value}`;
      case 'symlink':
        return `symlink ${op.path} ${op.target}`;
      case 'rm':
        return `rm ${op.path}`;
      default:
        return JSON.stringify(op);
    }
  });
}

const file = (path: string, extra: Partial<Extract<GuestFile, { kind: 'file' }>> = {}): GuestFile => ({
  kind: 'file',
  path,
  hostPath: `/host${path}`,
  mode: 0o644,
  uid: 0,
  gid: 0,
  ...extra,
});
const link = (path: string, target: string): GuestFile => ({ kind: 'symlink', path, target });
const dir = (path: string, mode = 0o755, uid = 0, gid = 0): GuestFile => ({ kind: 'dir', path, mode, uid, gid });

const debianLike = image({ etc: 'dir', usr: 'dir', 'usr/local': 'dir', 'usr/local/bin': 'dir', var: 'dir', 'var/lib': 'dir', 'etc/systemd': 'dir', 'etc/systemd/system': 'dir' });

describe('injectOps', () => {
  it('orders mkdir shallow-first, then writes, ownership, created dirs, symlinks', () => {
    const plan = injectOps(
      [
        file('/usr/local/libexec/rootforge-network-bootstrap', { mode: 0o755 }),
        file('/etc/modules-load.d/rootforge-vsock.conf'),
        file('/var/lib/rootforge/first-boot-pending', { hostPath: undefined, content: Buffer.alloc(0) }),
        link('/etc/systemd/system/multi-user.target.wants/rootforge-network.service', '/etc/systemd/system/rootforge-network.service'),
      ],
      debianLike,
      { tempDir: TEMP },
    );
    expect(lines(plan.ops)).toEqual([
      'mkdir /etc/modules-load.d',
      'mkdir /usr/local/libexec',
      'mkdir /var/lib/rootforge',
      'mkdir /etc/systemd/system/multi-user.target.wants',
      'write /host/usr/local/libexec/rootforge-network-bootstrap /usr/local/libexec/rootforge-network-bootstrap',
      'write /host/etc/modules-load.d/rootforge-vsock.conf /etc/modules-load.d/rootforge-vsock.conf',
      `write ${TEMP}/inline-0000 /var/lib/rootforge/first-boot-pending`,
      'sif /usr/local/libexec/rootforge-network-bootstrap uid 0',
      'sif /usr/local/libexec/rootforge-network-bootstrap gid 0',
      'sif /usr/local/libexec/rootforge-network-bootstrap mode 0100755',
      'sif /etc/modules-load.d/rootforge-vsock.conf uid 0',
      'sif /etc/modules-load.d/rootforge-vsock.conf gid 0',
      'sif /etc/modules-load.d/rootforge-vsock.conf mode 0100644',
      'sif /var/lib/rootforge/first-boot-pending uid 0',
      'sif /var/lib/rootforge/first-boot-pending gid 0',
      'sif /var/lib/rootforge/first-boot-pending mode 0100644',
      'sif /etc/modules-load.d uid 0',
      'sif /etc/modules-load.d gid 0',
      'sif /etc/modules-load.d mode 040755',
      'sif /usr/local/libexec uid 0',
      'sif /usr/local/libexec gid 0',
      'sif /usr/local/libexec mode 040755',
      'sif /var/lib/rootforge uid 0',
      'sif /var/lib/rootforge gid 0',
      'sif /var/lib/rootforge mode 040755',
      'sif /etc/systemd/system/multi-user.target.wants uid 0',
      'sif /etc/systemd/system/multi-user.target.wants gid 0',
      'sif /etc/systemd/system/multi-user.target.wants mode 040755',
      'symlink /etc/systemd/system/multi-user.target.wants/rootforge-network.service /etc/systemd/system/rootforge-network.service',
    ]);
    expect(plan.tempFiles).toEqual([{ path: `${TEMP}/inline-0000`, content: Buffer.alloc(0) }]);
  });

  it('uses the full mode with type bits as a number', () => {
    const plan = injectOps([file('/etc/x', { mode: 0o4755 })], debianLike, { tempDir: TEMP });
    expect(plan.ops).toContainEqual({ op: 'set_inode_field', path: '/etc/x', field: 'mode', value: 0o104755 });
  });

  it('creates every missing ancestor once, and none that exist', () => {
    const plan = injectOps([file('/opt/a/b/c/one'), file('/opt/a/b/two'), file('/opt/a/three'), file('/etc/four')], debianLike, { tempDir: TEMP });
    expect(plan.ops.filter((o) => o.op === 'mkdir').map((o) => o.path)).toEqual(['/opt', '/opt/a', '/opt/a/b', '/opt/a/b/c']);
  });

  it('mkdirs nothing when every directory exists', () => {
    const plan = injectOps([file('/etc/systemd/system/x.service')], debianLike, { tempDir: TEMP });
    expect(lines(plan.ops)).toEqual([
      'write /host/etc/systemd/system/x.service /etc/systemd/system/x.service',
      'sif /etc/systemd/system/x.service uid 0',
      'sif /etc/systemd/system/x.service gid 0',
      'sif /etc/systemd/system/x.service mode 0100644',
    ]);
  });

  it('removes an existing file, symlink or device before writing over it', () => {
    const existing = image({ etc: 'dir', 'etc/a': 'file', 'etc/b': 'symlink', 'etc/c': 'fifo' });
    const plan = injectOps([file('/etc/a'), file('/etc/b'), link('/etc/c', '/x')], existing, { tempDir: TEMP });
    expect(lines(plan.ops).filter((l) => !l.startsWith('sif'))).toEqual([
      'rm /etc/a',
      'write /host/etc/a /etc/a',
      'rm /etc/b',
      'write /host/etc/b /etc/b',
      'rm /etc/c',
      'symlink /etc/c /x',
    ]);
  });

  it('tolerates a directory that is both in the image and in the injected set, leaving its metadata alone', () => {
    const plan = injectOps([dir('/etc', 0o700), file('/etc/motd')], debianLike, { tempDir: TEMP });
    expect(lines(plan.ops).filter((l) => l.includes(' /etc ') || l.endsWith(' /etc'))).toEqual([]);
  });

  it('creates injected directories with their own mode and owner, even when an ancestor of others', () => {
    const plan = injectOps([file('/srv/app/bin/run', { mode: 0o755 }), dir('/srv/app', 0o750, 1000, 1000)], debianLike, { tempDir: TEMP });
    expect(lines(plan.ops)).toEqual(
      expect.arrayContaining(['mkdir /srv', 'mkdir /srv/app', 'mkdir /srv/app/bin', 'sif /srv/app uid 1000', 'sif /srv/app gid 1000', 'sif /srv/app mode 040750', 'sif /srv mode 040755']),
    );
  });

  it('lets a later entry for the same path win, in the first position', () => {
    const plan = injectOps([file('/etc/a', { hostPath: '/first' }), file('/etc/b'), file('/etc/a', { hostPath: '/second', mode: 0o600 })], debianLike, { tempDir: TEMP });
    expect(lines(plan.ops).filter((l) => l.startsWith('write'))).toEqual(['write /second /etc/a', 'write /host/etc/b /etc/b']);
    expect(lines(plan.ops)).toContain('sif /etc/a mode 0100600');
  });

  it('numbers inline contents in order and reports sizes', () => {
    const plan = injectOps(
      [file('/etc/a', { hostPath: undefined, content: Buffer.from('abc') }), file('/etc/b', { size: 42 }), file('/etc/c', { hostPath: undefined, content: Buffer.from('x') })],
      debianLike,
      { tempDir: TEMP },
    );
    expect(plan.tempFiles.map((t) => [t.path, t.content.toString()])).toEqual([
      [`${TEMP}/inline-0000`, 'abc'],
      [`${TEMP}/inline-0001`, 'x'],
    ]);
    expect(plan.sizes).toEqual([3, 42, 1]);
  });

  it('replaces an existing symlink with a symlink', () => {
    const plan = injectOps([link('/etc/a', '/b')], image({ etc: 'dir', 'etc/a': 'symlink' }), { tempDir: TEMP });
    expect(lines(plan.ops)).toEqual(['rm /etc/a', 'symlink /etc/a /b']);
  });

  it('is deterministic', () => {
    const files = [file('/z/y/x'), file('/a/b'), link('/m/n', '/o'), dir('/q')];
    expect(injectOps(files, debianLike, { tempDir: TEMP })).toEqual(injectOps(files, debianLike, { tempDir: TEMP }));
  });

  describe('conflicts', () => {
    it.each([
      ['a file where a directory must go', image({ etc: 'dir', 'etc/systemd': 'file' }), file('/etc/systemd/system/x.service'), '/etc/systemd is a regular file in the image'],
      ['a symlink where a directory must go (merged /usr)', image({ lib: 'symlink' }), file('/lib/modules-load.d/x.conf'), '/lib is a symlink in the image'],
      ['a directory where a file must go', image({ etc: 'dir', 'etc/motd': 'dir' }), file('/etc/motd'), 'the image has a directory there'],
      ['a directory where a symlink must go', image({ etc: 'dir', 'etc/alt': 'dir' }), link('/etc/alt', '/x'), 'the image has a directory there'],
      ['a file where an injected directory must go', image({ opt: 'file' }), dir('/opt'), 'the image has a regular file there'],
    ])('%s', (_name, existing, entry, message) => {
      expect(() => injectOps([entry], existing, { tempDir: TEMP })).toThrow(expect.objectContaining({ code: 'ERR_INJECT', message: expect.stringContaining(message) }));
    });

    it('names the path in the message', () => {
      expect(() => injectOps([file('/etc/systemd/system/x.service')], image({ etc: 'dir', 'etc/systemd': 'symlink' }), { tempDir: TEMP })).toThrow(
        /cannot inject \/etc\/systemd\/system\/x\.service: \/etc\/systemd is a symlink/,
      );
    });

    it('within the injected set: a file under an injected file or symlink', () => {
      expect(() => injectOps([file('/opt/a'), file('/opt/a/b')], debianLike, { tempDir: TEMP })).toThrow(/\/opt\/a is injected as a file/);
      expect(() => injectOps([link('/opt/a', '/srv'), file('/opt/a/b')], debianLike, { tempDir: TEMP })).toThrow(/\/opt\/a is injected as a symlink/);
    });

    it('within the injected set: the same path as a directory and a file', () => {
      expect(() => injectOps([dir('/opt/a'), file('/opt/a')], debianLike, { tempDir: TEMP })).toThrow(/both as a directory and as a file/);
    });
  });

  describe('validation', () => {
    it.each(['etc/x', '/etc/../x', '/etc//x', '/etc/x/', '/', '/etc/./x'])('rejects the path %j', (path) => {
      expect(() => injectOps([file(path)], debianLike, { tempDir: TEMP })).toThrow(expect.objectContaining({ code: 'ERR_INJECT' }));
    });

    it('rejects names debugfs cannot express', () => {
      expect(() => injectOps([file('/etc/a\nb')], debianLike, { tempDir: TEMP })).toThrow(expect.objectContaining({ code: 'ERR_DEBUGFS_NAME' }));
    });

    it('rejects bad modes, ids and file sources', () => {
      expect(() => injectOps([file('/etc/a', { mode: 0o10000 })], debianLike, { tempDir: TEMP })).toThrow(/mode/);
      expect(() => injectOps([file('/etc/a', { uid: -1 })], debianLike, { tempDir: TEMP })).toThrow(/uid/);
      expect(() => injectOps([file('/etc/a', { content: Buffer.from('x') })], debianLike, { tempDir: TEMP })).toThrow(/exactly one/);
      expect(() => injectOps([link('/etc/a', '')], debianLike, { tempDir: TEMP })).toThrow(/target/);
    });
  });
});

describe('existingFromEntries', () => {
  it('maps absolute guest paths onto the relative entry paths', () => {
    const lookup = image({ etc: 'dir', 'etc/hostname': 'file' });
    expect(lookup('/')).toBe('dir');
    expect(lookup('/etc')).toBe('dir');
    expect(lookup('/etc/hostname')).toBe('file');
    expect(lookup('/etc/nothing')).toBeUndefined();
  });
});
