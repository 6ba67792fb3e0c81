// What each workload holds: which of this machine's directories go into which layer, and which images share layers.
import type { CorpusLimits } from '../corpus.js';
import type { WorkloadName } from './options.js';

export type LayerSpec =
  | { kind: 'host'; roots: string[]; limits: CorpusLimits; keepOwners?: boolean }
  /** Whiteouts over earlier layers, an opaque directory, a user.* xattr, non-root owners and a hardlink: what peers get wrong. */
  | { kind: 'quirks'; whiteoutIn: string; opaqueIn: string };

export interface WorkloadSpec {
  name: WorkloadName;
  layers: Record<string, LayerSpec>;
  /** Each image lists its layer keys, oldest first. */
  images: { repo: string; layers: string[] }[];
}

const MB = 1024 * 1024;

/** Python, Perl and binaries compress like a Debian base: about 120 MB, 7,000 entries, 45-50 MB gzip. */
const DEBIAN_ROOTS = ['/etc', '/usr/share/perl', '/usr/share/zoneinfo', '/usr/lib/python3.11', '/usr/share/i18n', '/usr/bin', '/usr/lib/x86_64-linux-gnu'];

// man1 alone holds about 18,000 entries: the huge directory a large image should have. The byte caps bind first,
// so they are set for ~54,000 entries in ~570 MB of tar (counted on the bench machine).
const LARGE_LAYERS: [string, string[], number, number][] = [
  ['base', ['/etc', '/usr/bin', '/usr/lib/x86_64-linux-gnu'], 120, 6000],
  ['docs', ['/usr/share/man', '/usr/share/doc'], 150, 34000],
  ['go', ['/usr/share/go-1.19', '/usr/lib/go-1.19'], 130, 14000],
  ['scripts', ['/usr/share/zoneinfo', '/usr/share/perl', '/usr/lib/python3', '/usr/lib/google-cloud-sdk'], 110, 16000],
];

/** One top layer per batch image, each from a different directory so every image differs. */
const BATCH_TOPS = ['/usr/share/vim', '/usr/share/locale', '/usr/share/doc', '/usr/share/go-1.19/src', '/usr/lib/python3/dist-packages', '/usr/share/man/man3', '/usr/lib/gcc', '/usr/share/cmake-3.25'];

export function workloadSpec(name: WorkloadName, quick: boolean): WorkloadSpec {
  const scale = quick ? 0.1 : 1;
  const limits = (mb: number, entries: number): CorpusLimits => ({ maxBytes: Math.round(mb * scale * MB), maxEntries: Math.round(entries * scale) });
  const debianBase: LayerSpec = { kind: 'host', roots: DEBIAN_ROOTS, limits: limits(120, 7000), keepOwners: true };
  switch (name) {
    case 'debian':
      return { name, layers: { base: debianBase }, images: [{ repo: 'bench/debian', layers: ['base'] }] };
    case 'large': {
      const layers: Record<string, LayerSpec> = {};
      for (const [key, roots, mb, entries] of LARGE_LAYERS) layers[key] = { kind: 'host', roots, limits: limits(mb, entries), keepOwners: true };
      layers.quirks = { kind: 'quirks', whiteoutIn: 'base', opaqueIn: 'go' };
      return { name, layers, images: [{ repo: 'bench/large', layers: Object.keys(layers) }] };
    }
    case 'batch': {
      const layers: Record<string, LayerSpec> = { base: debianBase };
      BATCH_TOPS.forEach((root, i) => (layers[`top${i}`] = { kind: 'host', roots: [root], limits: limits(8, 800), keepOwners: true }));
      return { name, layers, images: BATCH_TOPS.map((_, i) => ({ repo: `bench/batch-${i}`, layers: ['base', `top${i}`] })) };
    }
  }
}
