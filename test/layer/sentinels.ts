/** A staging root with things around it that an escaping write would hit, and a snapshot that shows any such write. */
import { lstat, mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { SentinelTargets } from './replay-arbitrary.js';

export interface SentinelArea {
  /** The directory holding the staging root and the sentinels; layer tars go elsewhere. */
  box: string;
  stage: string;
  targets: SentinelTargets;
}

/** box/{outside, sibling/{secret, sub/x, up -> ../outside}, stage/} inside `top`. */
export async function makeSentinelArea(top: string): Promise<SentinelArea> {
  const box = join(top, 'box');
  const sibling = join(box, 'sibling');
  await mkdir(join(sibling, 'sub'), { recursive: true });
  await writeFile(join(box, 'outside'), 'outside the staging root\n');
  await writeFile(join(sibling, 'secret'), 'secret\n');
  await writeFile(join(sibling, 'sub', 'x'), 'x\n');
  await symlink('../outside', join(sibling, 'up'));
  const stage = join(box, 'stage');
  await mkdir(stage);
  return { box, stage, targets: { outside: join(box, 'outside'), sibling } };
}

/** Every path under dir with type, mode, size, mtime and content or target, `skip` only as a directory; never follows a symlink. */
export async function snapshot(dir: string, skip: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const host = rel === '' ? dir : join(dir, rel);
    const st = await lstat(host);
    if (rel === skip) {
      out.push(`${rel} ${st.isDirectory() ? 'dir' : 'NOT A DIRECTORY'}`);
      return;
    }
    const what = st.isFile() ? await readFile(host, 'utf8') : st.isSymbolicLink() ? `-> ${await readlink(host)}` : '';
    out.push(`${rel || '.'} ${st.mode.toString(8)} ${st.size} ${st.mtimeMs} ${JSON.stringify(what)}`);
    if (st.isDirectory()) for (const name of (await readdir(host)).sort()) await walk(rel === '' ? name : `${rel}/${name}`);
  };
  await walk('');
  return out;
}

/** Removes what a run left in the staging root, keeping the root itself so its parent's mtime holds still. */
export async function emptyDir(dir: string): Promise<void> {
  for (const name of await readdir(dir)) await rm(join(dir, name), { recursive: true, force: true });
}
