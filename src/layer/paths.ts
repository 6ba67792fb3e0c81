/** Lexical path safety for tar entry names and hardlink targets: nothing here touches the host filesystem. */
import { RootforgeError } from '../errors.js';

/** A tar name's components, resolved lexically as Docker does ('/' and '.' dropped, '..' popped); [] is the root. */
export function pathComponents(name: string): string[] {
  if (name.includes('\0')) throw new RootforgeError('ERR_UNSAFE_PATH', `path ${JSON.stringify(name)} contains a NUL byte`);
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) throw new RootforgeError('ERR_UNSAFE_PATH', `path ${JSON.stringify(name)} climbs above the root`);
      out.pop();
      continue;
    }
    out.push(part);
  }
  return out;
}

/** The normalised path as a string: no leading '/', no '.', no '..'; '' is the root. */
export function normalizeEntryPath(name: string): string {
  return pathComponents(name).join('/');
}

/** Symlink targets are kept verbatim (only the guest resolves them), but must be storable. */
export function checkSymlinkTarget(target: string): string {
  if (target.includes('\0')) throw new RootforgeError('ERR_UNSAFE_PATH', `symlink target ${JSON.stringify(target)} contains a NUL byte`);
  if (target === '') throw new RootforgeError('ERR_BAD_LAYER', 'symlink has an empty target');
  return target;
}
