import type { ImageReference } from '../registry/reference.js';

function sanitize(text: string): string {
  return text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '') || 'image';
}

function candidates(ref: ImageReference): string[] {
  const version = ref.tag ?? ref.digest?.slice(7, 19) ?? 'latest';
  const parts = ref.repository.split('/');
  const last = parts[parts.length - 1] ?? ref.repository;
  const withDigest = ref.tag && ref.digest ? `-${ref.digest.slice(7, 19)}` : '';
  return [
    sanitize(`${last}-${version}${withDigest}`),
    sanitize(`${ref.repository.replace(/^library\//, '')}-${version}${withDigest}`),
    sanitize(`${ref.registry}-${ref.repository}-${version}${withDigest}`),
  ];
}

/**
 * Output names from references: short (`debian-bookworm`) unless that would collide within
 * the run, then longer, then numbered, so two images never share an output.
 */
export function outputNames(refs: ImageReference[], explicit: (string | undefined)[] = []): string[] {
  const all = refs.map(candidates);
  const taken = new Set(explicit.filter((n): n is string => Boolean(n)));
  return refs.map((_, i) => {
    const given = explicit[i];
    if (given) return given;
    const options = all[i] as string[];
    for (const level of [0, 1, 2]) {
      const name = options[level] as string;
      const clash = all.some((other, j) => j !== i && other[level] === name) || taken.has(name);
      if (!clash) {
        taken.add(name);
        return name;
      }
    }
    let n = 2;
    const base = options[0] as string;
    while (taken.has(`${base}-${n}`)) n++;
    taken.add(`${base}-${n}`);
    return `${base}-${n}`;
  });
}
