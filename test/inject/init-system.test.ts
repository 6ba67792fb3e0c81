import { describe, expect, it } from 'vitest';
import { detectInitSystem } from '../../src/inject/init-system.js';
import type { RootfsEntry } from '../../src/layer/types.js';

function tree(spec: Record<string, string>): RootfsEntry[] {
  // 'dir', 'file', or '-> target' for a symlink.
  return Object.entries(spec).map(([path, what]) => ({
    path,
    type: what === 'dir' ? 'dir' : what.startsWith('->') ? 'symlink' : 'file',
    mode: what === 'dir' ? 0o755 : 0o644,
    uid: 0,
    gid: 0,
    mtime: 0,
    size: 0,
    ...(what.startsWith('->') ? { linkTarget: what.slice(2).trim() } : {}),
  }));
}

describe('detectInitSystem', () => {
  it('finds systemd in /lib/systemd (debian, split usr)', () => {
    expect(detectInitSystem(tree({ '': 'dir', lib: 'dir', 'lib/systemd': 'dir', 'lib/systemd/systemd': 'file' }))).toBe('systemd');
  });

  it('finds systemd in /usr/lib/systemd (merged usr)', () => {
    expect(detectInitSystem(tree({ lib: '-> usr/lib', 'usr/lib/systemd/systemd': 'file' }))).toBe('systemd');
  });

  it('finds systemd through /sbin/init', () => {
    expect(detectInitSystem(tree({ 'sbin/init': '-> ../lib/systemd/systemd' }))).toBe('systemd');
    expect(detectInitSystem(tree({ 'usr/sbin/init': '-> /usr/lib/systemd/systemd' }))).toBe('systemd');
  });

  it('does not take a systemd directory without the binary for systemd (debian container images)', () => {
    expect(detectInitSystem(tree({ 'lib/systemd/system': 'dir', 'lib/systemd/system/apt-daily.timer': 'file' }))).toBe('none');
  });

  it('finds OpenRC next to /etc/init.d', () => {
    expect(detectInitSystem(tree({ 'sbin/openrc': 'file', 'etc/init.d': 'dir', 'bin/busybox': 'file', 'etc/inittab': 'file' }))).toBe('openrc');
    expect(detectInitSystem(tree({ 'sbin/openrc-run': 'file', 'etc/init.d': 'dir' }))).toBe('openrc');
  });

  it('does not take OpenRC without /etc/init.d', () => {
    expect(detectInitSystem(tree({ 'sbin/openrc': 'file', 'bin/busybox': 'file' }))).toBe('busybox');
  });

  it('prefers systemd when both are there', () => {
    expect(detectInitSystem(tree({ 'sbin/openrc': 'file', 'etc/init.d': 'dir', 'usr/lib/systemd/systemd': 'file' }))).toBe('systemd');
  });

  it('falls back to busybox for an inittab or a busybox binary (alpine container images)', () => {
    expect(detectInitSystem(tree({ 'bin/busybox': 'file', 'sbin/init': '-> /bin/busybox', 'etc/inittab': 'file' }))).toBe('busybox');
    expect(detectInitSystem(tree({ 'bin/busybox': 'file' }))).toBe('busybox');
    expect(detectInitSystem(tree({ 'etc/inittab': 'file' }))).toBe('busybox');
  });

  it('says none for an image without any init', () => {
    expect(detectInitSystem(tree({ '': 'dir', bin: 'dir', 'bin/sh': 'file' }))).toBe('none');
    expect(detectInitSystem([])).toBe('none');
  });
});
