import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadInjectFile, overlayFiles, parseInjectSpec } from '../../src/inject/overlay.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'rootforge-overlay-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('overlayFiles', () => {
  async function makeTree(): Promise<string> {
    const root = join(dir, 'overlay');
    await mkdir(join(root, 'etc/ssh'), { recursive: true });
    await mkdir(join(root, 'usr/local/bin'), { recursive: true });
    await writeFile(join(root, 'etc/motd'), 'hello\n');
    await writeFile(join(root, 'etc/ssh/sshd_config'), 'PermitRootLogin no\n');
    await writeFile(join(root, 'usr/local/bin/tool'), '#!/bin/sh\n');
    // Explicit modes so the expectations do not depend on the umask.
    for (const d of ['etc', 'usr', 'usr/local', 'usr/local/bin']) await chmod(join(root, d), 0o755);
    for (const f of ['etc/motd', 'etc/ssh/sshd_config']) await chmod(join(root, f), 0o644);
    await chmod(join(root, 'usr/local/bin/tool'), 0o4750);
    await chmod(join(root, 'etc/ssh'), 0o700);
    await symlink('/usr/local/bin/tool', join(root, 'usr/local/bin/tool-link'));
    await symlink('../does/not/exist', join(root, 'etc/dangling'));
    return root;
  }

  it('walks the tree in path order, keeping modes and symlinks, owned by root', async () => {
    const root = await makeTree();
    const files = await overlayFiles(root);
    expect(files).toEqual([
      { kind: 'dir', path: '/etc', mode: 0o755, uid: 0, gid: 0 },
      { kind: 'symlink', path: '/etc/dangling', target: '../does/not/exist', uid: 0, gid: 0 },
      { kind: 'file', path: '/etc/motd', hostPath: join(root, 'etc/motd'), size: 6, mode: 0o644, uid: 0, gid: 0 },
      { kind: 'dir', path: '/etc/ssh', mode: 0o700, uid: 0, gid: 0 },
      { kind: 'file', path: '/etc/ssh/sshd_config', hostPath: join(root, 'etc/ssh/sshd_config'), size: 19, mode: 0o644, uid: 0, gid: 0 },
      { kind: 'dir', path: '/usr', mode: 0o755, uid: 0, gid: 0 },
      { kind: 'dir', path: '/usr/local', mode: 0o755, uid: 0, gid: 0 },
      { kind: 'dir', path: '/usr/local/bin', mode: 0o755, uid: 0, gid: 0 },
      { kind: 'file', path: '/usr/local/bin/tool', hostPath: join(root, 'usr/local/bin/tool'), size: 10, mode: 0o4750, uid: 0, gid: 0 },
      { kind: 'symlink', path: '/usr/local/bin/tool-link', target: '/usr/local/bin/tool', uid: 0, gid: 0 },
    ]);
  });

  it('uses overlayOwner for everything when given', async () => {
    const root = await makeTree();
    const files = await overlayFiles(root, { overlayOwner: { uid: 1000, gid: 100 } });
    for (const f of files) expect([f.uid, f.gid]).toEqual([1000, 100]);
  });

  it('gives nothing for an empty directory', async () => {
    await mkdir(join(dir, 'empty'));
    expect(await overlayFiles(join(dir, 'empty'))).toEqual([]);
  });

  it('rejects a missing overlay, a file, and special files', async () => {
    await expect(overlayFiles(join(dir, 'missing'))).rejects.toMatchObject({ code: 'ERR_INJECT', message: expect.stringContaining('not found') });
    await writeFile(join(dir, 'plain'), '');
    await expect(overlayFiles(join(dir, 'plain'))).rejects.toMatchObject({ code: 'ERR_INJECT', message: expect.stringContaining('not a directory') });
    const root = join(dir, 'withfifo');
    await mkdir(root);
    await execa('mkfifo', [join(root, 'pipe')]);
    await expect(overlayFiles(root)).rejects.toMatchObject({ code: 'ERR_INJECT', message: expect.stringContaining('socket, fifo or device') });
  });

  it('rejects a bad owner', async () => {
    await mkdir(join(dir, 'o'));
    await expect(overlayFiles(join(dir, 'o'), { overlayOwner: { uid: -1, gid: 0 } })).rejects.toMatchObject({ code: 'ERR_INJECT' });
  });

  it('stops when aborted', async () => {
    const root = await makeTree();
    await expect(overlayFiles(root, { signal: AbortSignal.abort() })).rejects.toThrow();
  });
});

describe('parseInjectSpec', () => {
  const LABEL = '/cfg/inject.json';
  const bad = (json: unknown, message: string | RegExp): void => {
    let error: unknown;
    try {
      parseInjectSpec(json, LABEL);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'ERR_INJECT' });
    expect((error as Error).message.startsWith(`${LABEL}: `)).toBe(true);
    expect((error as Error).message).toMatch(message);
  };

  it('accepts the documented format with defaults', () => {
    const spec = parseInjectSpec(
      {
        files: [
          { path: '/etc/motd', source: './motd', mode: '0644', uid: 0, gid: 0 },
          { path: '/etc/x', content: 'inline text' },
        ],
        symlinks: [{ path: '/a', target: '/b' }],
        dirs: [{ path: '/opt/x', mode: '0750', uid: 1000 }],
      },
      LABEL,
    );
    expect(spec).toEqual({
      files: [
        { path: '/etc/motd', source: './motd', mode: 0o644, uid: 0, gid: 0 },
        { path: '/etc/x', content: 'inline text', uid: 0, gid: 0 },
      ],
      symlinks: [{ path: '/a', target: '/b' }],
      dirs: [{ path: '/opt/x', mode: 0o750, uid: 1000, gid: 0 }],
    });
  });

  it('accepts empty and partial documents', () => {
    expect(parseInjectSpec({}, LABEL)).toEqual({ files: [], symlinks: [], dirs: [] });
    expect(parseInjectSpec({ dirs: [{ path: '/d' }] }, LABEL).dirs).toEqual([{ path: '/d', mode: 0o755, uid: 0, gid: 0 }]);
  });

  it('accepts mode spellings 644, 0644 and 0o4755', () => {
    const modes = parseInjectSpec({ dirs: [{ path: '/a', mode: '644' }, { path: '/b', mode: '0644' }, { path: '/c', mode: '0o4755' }] }, LABEL).dirs.map((d) => d.mode);
    expect(modes).toEqual([0o644, 0o644, 0o4755]);
  });

  it.each([
    ['a non-object', [], /top level/],
    ['an unknown top-level key', { file: [] }, /file: unknown key/],
    ['files that is not an array', { files: {} }, /files: expected an array/],
    ['a file entry that is not an object', { files: ['x'] }, /files\[0\]: expected an object/],
    ['a relative path', { files: [{ path: 'etc/x', content: '' }] }, /files\[0\]\.path/],
    ['a path with ..', { files: [{ path: '/etc/../x', content: '' }] }, /files\[0\]\.path/],
    ['a path with a newline', { files: [{ path: '/etc/a\nb', content: '' }] }, /newline/],
    ['both source and content', { files: [{ path: '/x', source: 'a', content: 'b' }] }, /exactly one/],
    ['neither source nor content', { files: [{ path: '/x' }] }, /exactly one/],
    ['content that is not a string', { files: [{ path: '/x', content: 42 }] }, /content: expected a string/],
    ['a numeric mode', { files: [{ path: '/x', content: '', mode: 644 }] }, /mode: expected an octal string/],
    ['a non-octal mode', { files: [{ path: '/x', content: '', mode: '0999' }] }, /mode/],
    ['a negative uid', { files: [{ path: '/x', content: '', uid: -1 }] }, /uid/],
    ['a fractional gid', { dirs: [{ path: '/x', gid: 1.5 }] }, /gid/],
    ['an unknown file key', { files: [{ path: '/x', content: '', owner: 'root' }] }, /unknown key "owner"/],
    ['a symlink without target', { symlinks: [{ path: '/x' }] }, /symlinks\[0\]\.target/],
    ['a path listed twice', { files: [{ path: '/x', content: '' }], symlinks: [{ path: '/x', target: '/y' }] }, /listed twice/],
  ])('rejects %s', (_name, json, message) => {
    bad(json, message);
  });
});

describe('loadInjectFile', () => {
  it('resolves sources against the JSON file, keeping host modes unless given', async () => {
    await mkdir(join(dir, 'cfg/files'), { recursive: true });
    await writeFile(join(dir, 'cfg/files/run.sh'), '#!/bin/sh\n');
    await chmod(join(dir, 'cfg/files/run.sh'), 0o750);
    await writeFile(join(dir, 'cfg/files/motd'), 'hi\n');
    const json = join(dir, 'cfg/inject.json');
    await writeFile(
      json,
      JSON.stringify({
        dirs: [{ path: '/opt/app', mode: '0750', uid: 10, gid: 10 }],
        files: [
          { path: '/opt/app/run.sh', source: 'files/run.sh' },
          { path: '/etc/motd', source: './files/motd', mode: '0600' },
          { path: '/etc/app.conf', content: 'key=value\n', uid: 10 },
        ],
        symlinks: [{ path: '/usr/local/bin/app', target: '/opt/app/run.sh' }],
      }),
    );
    expect(await loadInjectFile(json)).toEqual([
      { kind: 'dir', path: '/opt/app', mode: 0o750, uid: 10, gid: 10 },
      { kind: 'file', path: '/opt/app/run.sh', hostPath: join(dir, 'cfg/files/run.sh'), size: 10, mode: 0o750, uid: 0, gid: 0 },
      { kind: 'file', path: '/etc/motd', hostPath: join(dir, 'cfg/files/motd'), size: 3, mode: 0o600, uid: 0, gid: 0 },
      { kind: 'file', path: '/etc/app.conf', content: Buffer.from('key=value\n'), size: 10, mode: 0o644, uid: 10, gid: 0 },
      { kind: 'symlink', path: '/usr/local/bin/app', target: '/opt/app/run.sh' },
    ]);
  });

  it('names the JSON file in every error', async () => {
    const json = join(dir, 'inject.json');
    await expect(loadInjectFile(json)).rejects.toMatchObject({ code: 'ERR_INJECT', message: `${json}: not found` });
    await writeFile(json, '{"files": [');
    await expect(loadInjectFile(json)).rejects.toMatchObject({ code: 'ERR_INJECT', message: expect.stringContaining(`${json}: not valid JSON`) });
    await writeFile(json, JSON.stringify({ files: [{ path: '/x', source: 'missing' }] }));
    await expect(loadInjectFile(json)).rejects.toMatchObject({ code: 'ERR_INJECT', message: `${json}: files[0].source: ${join(dir, 'missing')}: not found` });
    await writeFile(json, JSON.stringify({ files: [{ path: '/x', source: '.' }] }));
    await expect(loadInjectFile(json)).rejects.toMatchObject({ message: expect.stringContaining('is not a regular file') });
  });
});
