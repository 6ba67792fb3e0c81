/** OCI whiteout names: `.wh.<name>` deletes a lower entry, `.wh..wh..opq` hides a lower directory's children. */
import { RootforgeError } from '../errors.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
/** AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs) that carries nothing for the final tree. */
const AUFS_META_PREFIX = '.wh..wh.';

export type NameRole =
  | { role: 'entry' }
  | { role: 'whiteout'; dir: string[]; victim: string }
  | { role: 'opaque'; dir: string[] }
  | { role: 'ignored' };

/** Says what a normalised path means in a layer: an ordinary entry or a whiteout marker. */
export function classifyPath(components: readonly string[]): NameRole {
  for (let i = 0; i < components.length - 1; i++) {
    if (components[i]!.startsWith(WHITEOUT_PREFIX)) {
      throw new RootforgeError('ERR_BAD_LAYER', `whiteout marker ${components[i]} is used as a directory`);
    }
  }
  const base = components[components.length - 1];
  if (base === undefined || !base.startsWith(WHITEOUT_PREFIX)) return { role: 'entry' };
  const dir = components.slice(0, -1);
  if (base === OPAQUE_MARKER) return { role: 'opaque', dir };
  if (base.startsWith(AUFS_META_PREFIX)) return { role: 'ignored' };
  const victim = base.slice(WHITEOUT_PREFIX.length);
  if (victim === '..') throw new RootforgeError('ERR_UNSAFE_PATH', 'whiteout names the parent directory (.wh...)');
  if (victim === '' || victim === '.') throw new RootforgeError('ERR_BAD_LAYER', `whiteout ${base} names no entry`);
  return { role: 'whiteout', dir, victim };
}
