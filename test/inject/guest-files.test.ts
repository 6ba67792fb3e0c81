import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RootforgeError } from '../../src/errors.js';
import { assetPath } from '../../src/inject/assets.js';
import { checkAgentPath, guestFiles, guestInjection, type GuestFile } from '../../src/inject/guest-files.js';

let dir: string;
let agent: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootforge-guest-files-'));
  agent = join(dir, 'agent');
  await writeFile(agent, 'ELF pretend');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function summary(files: GuestFile[]): string[] {
  return files.map((f) => {
    if (f.kind === 'symlink') return `${f.path} -> ${f.target}`;
    if (f.kind === 'dir') return `${f.path}/ ${f.mode.toString(8)}`;
    return `${f.path} ${f.mode.toString(8).padStart(4, '0')} ${f.uid}:${f.gid}`;
  });
}

describe('guestFiles', () => {
  it('systemd with an agent: the full set, files then enable links, in order', () => {
    const files = guestFiles({ agentPath: agent, init: 'systemd' });
    expect(summary(files)).toEqual([
      '/usr/local/bin/rootforge-vsock-agent 0755 0:0',
      '/usr/local/libexec/rootforge-network-bootstrap 0755 0:0',
      '/etc/systemd/system/rootforge-network.service 0644 0:0',
      '/etc/systemd/system/rootforge-vsock-agent.service 0644 0:0',
      '/etc/modules-load.d/rootforge-vsock.conf 0644 0:0',
      '/usr/local/libexec/rootforge-first-boot 0755 0:0',
      '/etc/systemd/system/rootforge-first-boot.service 0644 0:0',
      '/var/lib/rootforge/first-boot-pending 0644 0:0',
      '/etc/systemd/system/multi-user.target.wants/rootforge-network.service -> /etc/systemd/system/rootforge-network.service',
      '/etc/systemd/system/multi-user.target.wants/rootforge-vsock-agent.service -> /etc/systemd/system/rootforge-vsock-agent.service',
      '/etc/systemd/system/multi-user.target.wants/rootforge-first-boot.service -> /etc/systemd/system/rootforge-first-boot.service',
    ]);
  });

  it('takes content from assets/ and the agent from --agent, the marker inline and empty', () => {
    const files = guestFiles({ agentPath: agent, init: 'systemd' });
    const byPath = new Map(files.map((f) => [f.path, f]));
    expect(byPath.get('/usr/local/bin/rootforge-vsock-agent')).toMatchObject({ hostPath: agent, size: 11 });
    expect(byPath.get('/usr/local/libexec/rootforge-network-bootstrap')).toMatchObject({ hostPath: assetPath('networkBootstrap') });
    expect(byPath.get('/etc/systemd/system/rootforge-first-boot.service')).toMatchObject({ hostPath: assetPath('systemdFirstBoot') });
    const marker = byPath.get('/var/lib/rootforge/first-boot-pending');
    expect(marker).toMatchObject({ kind: 'file', size: 0 });
    expect(marker?.kind === 'file' && marker.content?.length).toBe(0);
    expect(marker?.kind === 'file' && marker.hostPath).toBeUndefined();
  });

  it('leaves the agent, its unit and its link out without --agent', () => {
    const paths = guestFiles({ init: 'systemd' }).map((f) => f.path);
    expect(paths).toHaveLength(8);
    expect(paths.filter((p) => p.includes('vsock-agent'))).toEqual([]);
    expect(paths).toContain('/etc/modules-load.d/rootforge-vsock.conf');
  });

  it('openrc: init.d scripts enabled in the default runlevel', () => {
    expect(summary(guestFiles({ agentPath: agent, init: 'openrc' }))).toEqual([
      '/usr/local/bin/rootforge-vsock-agent 0755 0:0',
      '/usr/local/libexec/rootforge-network-bootstrap 0755 0:0',
      '/etc/init.d/rootforge-network 0755 0:0',
      '/etc/init.d/rootforge-vsock-agent 0755 0:0',
      '/etc/modules-load.d/rootforge-vsock.conf 0644 0:0',
      '/usr/local/libexec/rootforge-first-boot 0755 0:0',
      '/etc/init.d/rootforge-first-boot 0755 0:0',
      '/var/lib/rootforge/first-boot-pending 0644 0:0',
      '/etc/runlevels/default/rootforge-network -> /etc/init.d/rootforge-network',
      '/etc/runlevels/default/rootforge-vsock-agent -> /etc/init.d/rootforge-vsock-agent',
      '/etc/runlevels/default/rootforge-first-boot -> /etc/init.d/rootforge-first-boot',
    ]);
  });

  it.each(['busybox', 'none'] as const)('%s: the programs without init glue', (init) => {
    expect(summary(guestFiles({ agentPath: agent, init }))).toEqual([
      '/usr/local/bin/rootforge-vsock-agent 0755 0:0',
      '/usr/local/libexec/rootforge-network-bootstrap 0755 0:0',
      '/etc/modules-load.d/rootforge-vsock.conf 0644 0:0',
      '/usr/local/libexec/rootforge-first-boot 0755 0:0',
      '/var/lib/rootforge/first-boot-pending 0644 0:0',
    ]);
  });

  it('fails with ERR_INJECT on a missing agent', () => {
    expect(() => guestFiles({ agentPath: join(dir, 'nope'), init: 'systemd' })).toThrow(expect.objectContaining({ code: 'ERR_INJECT' }));
  });
});

describe('guestInjection', () => {
  it('warns once about a missing agent', () => {
    const result = guestInjection({ init: 'systemd' });
    expect(result.agentIncluded).toBe(false);
    expect(result.warnings.map((w) => w.code)).toEqual(['INJECT_NO_AGENT']);
  });

  it('has no warnings for systemd with an agent', () => {
    const result = guestInjection({ agentPath: agent, init: 'systemd' });
    expect(result).toMatchObject({ init: 'systemd', agentIncluded: true, warnings: [] });
    expect(result.files).toEqual(guestFiles({ agentPath: agent, init: 'systemd' }));
  });

  it('warns that nothing starts the scripts on busybox init, saying how to wire them', () => {
    const result = guestInjection({ agentPath: agent, init: 'busybox' });
    expect(result.warnings.map((w) => w.code)).toEqual(['INJECT_NO_INIT']);
    expect(result.warnings[0]?.message).toContain('::sysinit:/usr/local/libexec/rootforge-network-bootstrap');
    expect(result.warnings[0]?.message).toContain('::respawn:/usr/local/bin/rootforge-vsock-agent');
  });
});

describe('checkAgentPath', () => {
  it('returns the absolute path of a regular file', async () => {
    expect(await checkAgentPath(agent)).toBe(agent);
  });

  it.each([
    ['missing', 'nope', /not found/],
    ['a directory', '.', /not a regular file/],
  ])('rejects a %s path', async (_what, name, message) => {
    const error = await checkAgentPath(join(dir, name)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RootforgeError);
    expect(error).toMatchObject({ code: 'ERR_INJECT', message: expect.stringMatching(message) });
  });
});
