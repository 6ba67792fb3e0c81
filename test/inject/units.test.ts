import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { assetPath, type AssetName } from '../../src/inject/assets.js';

/** A systemd unit as section -> key -> values, comments dropped. */
function parseUnit(text: string): Record<string, Record<string, string[]>> {
  const out: Record<string, Record<string, string[]>> = {};
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] as string;
      out[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    expect(eq, `bad unit line: ${line}`).toBeGreaterThan(0);
    const key = line.slice(0, eq);
    const values = (out[section] as Record<string, string[]>);
    (values[key] ??= []).push(line.slice(eq + 1));
  }
  return out;
}

const unit = (name: AssetName) => parseUnit(readFileSync(assetPath(name), 'utf8'));
const words = (values: string[] | undefined): string[] => (values ?? []).flatMap((v) => v.split(/\s+/));

describe('systemd units (read from assets/)', () => {
  it('rootforge-network.service is a oneshot before the network targets', () => {
    const u = unit('systemdNetwork');
    expect(u.Service?.Type).toEqual(['oneshot']);
    expect(u.Service?.RemainAfterExit).toEqual(['yes']);
    expect(u.Service?.ExecStart).toEqual(['/usr/local/libexec/rootforge-network-bootstrap']);
    expect(words(u.Unit?.Before)).toEqual(expect.arrayContaining(['network-online.target', 'network.target']));
    expect(words(u.Unit?.After)).toContain('local-fs.target');
    expect(u.Install?.WantedBy).toEqual(['multi-user.target']);
  });

  it('rootforge-vsock-agent.service starts after the modules load and always restarts', () => {
    const u = unit('systemdAgent');
    expect(words(u.Unit?.After)).toContain('systemd-modules-load.service');
    expect(u.Service?.ExecStart).toEqual(['/usr/local/bin/rootforge-vsock-agent']);
    expect(u.Service?.Restart).toEqual(['always']);
    expect(u.Unit?.StartLimitIntervalSec).toEqual(['0']);
    expect(u.Install?.WantedBy).toEqual(['multi-user.target']);
  });

  it('rootforge-first-boot.service runs only while the marker exists, after the network', () => {
    const u = unit('systemdFirstBoot');
    expect(u.Unit?.ConditionPathExists).toEqual(['/var/lib/rootforge/first-boot-pending']);
    expect(u.Service?.Type).toEqual(['oneshot']);
    expect(u.Service?.ExecStart).toEqual(['/usr/local/libexec/rootforge-first-boot']);
    expect(u.Service?.Environment).toEqual(['ROOTFORGE_INIT=systemd']);
    expect(words(u.Unit?.After)).toEqual(expect.arrayContaining(['network-online.target', 'rootforge-network.service']));
    expect(words(u.Unit?.Wants)).toContain('network-online.target');
    expect(u.Install?.WantedBy).toEqual(['multi-user.target']);
  });

  it('the modules list names the virtio vsock guest modules', () => {
    const modules = readFileSync(assetPath('modulesLoad'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(modules).toEqual(['vsock', 'vmw_vsock_virtio_transport']);
  });
});

describe('OpenRC services (read from assets/)', () => {
  const text = (name: AssetName): string => readFileSync(assetPath(name), 'utf8');

  it('are openrc-run scripts', () => {
    for (const name of ['openrcNetwork', 'openrcAgent', 'openrcFirstBoot'] as const) {
      expect(text(name).startsWith('#!/sbin/openrc-run\n')).toBe(true);
      expect(text(name)).toMatch(/^depend\(\) \{/m);
    }
  });

  it('run the same programs as the systemd units', () => {
    expect(text('openrcNetwork')).toContain('/usr/local/libexec/rootforge-network-bootstrap');
    expect(text('openrcAgent')).toContain('command=/usr/local/bin/rootforge-vsock-agent');
    expect(text('openrcAgent')).toContain('supervisor=supervise-daemon');
    expect(text('openrcAgent')).toContain('respawn_max=0');
    expect(text('openrcFirstBoot')).toContain('/var/lib/rootforge/first-boot-pending');
    expect(text('openrcFirstBoot')).toContain('ROOTFORGE_INIT=openrc /usr/local/libexec/rootforge-first-boot');
  });
});
