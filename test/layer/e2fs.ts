/** Runs the real e2fsprogs tools for the layer tests (they live in sbin, which a user's PATH may lack). */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

export function tool(name: string): string {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/sbin', '/usr/local/sbin'];
  for (const dir of dirs) if (dir && existsSync(join(dir, name))) return join(dir, name);
  throw new Error(`${name} not found`);
}

/** mkfs.ext4 -d - fed from a stream, in the C locale (the strictest for non-ASCII names). */
export async function mkfsFromTar(image: string, tar: Readable): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(tool('mkfs.ext4'), ['-F', '-q', '-d', '-', image, '65536'], { env: { ...process.env, LC_ALL: 'C' }, stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  await pipeline(tar, child.stdin);
  return { code: await exited, stderr };
}

export function mkfsFromDir(image: string, dir: string): { code: number | null; stderr: string } {
  const r = spawnSync(tool('mkfs.ext4'), ['-F', '-q', '-d', dir, image, '65536'], { env: { ...process.env, LC_ALL: 'C' }, encoding: 'utf8' });
  return { code: r.status, stderr: r.stderr };
}

export function debugfs(image: string, request: string): string {
  const r = spawnSync(tool('debugfs'), ['-R', request, image], { encoding: 'latin1' });
  return r.stdout;
}

export function e2fsck(image: string): { code: number | null; output: string } {
  const r = spawnSync(tool('e2fsck'), ['-fn', image], { encoding: 'utf8' });
  return { code: r.status, output: r.stdout + r.stderr };
}

/** The fields of `debugfs stat` the tests look at. */
export function inodeStat(image: string, path: string): { type: string; mode: number; uid: number; gid: number; links: number; size: number; mtime: number; text: string } {
  const text = debugfs(image, `stat "${path}"`);
  const m = /Type: (\S+(?: special)?)\s+Mode:\s+(\d+)/.exec(text);
  const owner = /User:\s+(\d+)\s+Group:\s+(\d+)/.exec(text);
  const links = /Links: (\d+)/.exec(text);
  const size = /Size: (\d+)/.exec(text.slice(text.indexOf('User:')));
  const mtime = / mtime: 0x([0-9a-f]+)/.exec(text);
  if (!m || !owner || !links || !size || !mtime) throw new Error(`cannot parse debugfs stat of ${path}:\n${text}`);
  return { type: m[1]!, mode: parseInt(m[2]!, 8), uid: Number(owner[1]), gid: Number(owner[2]), links: Number(links[1]), size: Number(size[1]), mtime: parseInt(mtime[1]!, 16), text };
}
