/** fast-check generators of hostile layer sequences: a tiny name alphabet so paths collide, plus every trick a layer can play. */
import fc from 'fast-check';
import type { ModelInput } from './replay-model.js';

/** Absolute paths of the sentinels around the staging root, so symlinks can point straight at them. */
export interface SentinelTargets {
  outside: string;
  sibling: string;
}

const weighted = <T>(...pairs: Array<[T, number]>): fc.Arbitrary<T> => fc.oneof(...pairs.map(([value, weight]) => ({ arbitrary: fc.constant(value), weight })));

/** Rarely a UTF-8 name or one too long for a ustar header, so PAX paths and byte-order sorting get their turn. */
const component = weighted(['a', 24], ['b', 20], ['c', 12], ['.', 1], ['..', 1], ['é', 1], ['L'.repeat(120), 1]);
const prefix = weighted(['', 6], ['/', 2], ['./', 2], ['//', 1], ['/./', 1]);
/** Half the time a non-directory ends in a name no directory uses, or most cases would stop at a child of a file. */
const leaf = fc.oneof(component, weighted(['x', 1], ['y', 1]));
const parents = fc.array(component, { maxLength: 2 });
const pathTo = (last: fc.Arbitrary<string>): fc.Arbitrary<string> => fc.tuple(prefix, parents, last).map(([p, dirs, base]) => p + [...dirs, base].join('/'));
const name = pathTo(component);
const leafName = pathTo(leaf);
/** A directory a marker sits in: often the root, never climbing on purpose ('..' still comes through the names). */
const markerDir = weighted(['', 3], ['a/', 3], ['b/', 2], ['a/b/', 2], ['./a/', 1], ['/b/', 1]);

const fileMode = weighted([0o644, 4], [0o755, 2], [0o600, 1], [0o000, 1], [0o444, 1], [0o4755, 1], [0o2711, 1]);
const dirMode = weighted([0o755, 4], [0o700, 1], [0o555, 1], [0o1777, 1], [0o000, 1], [0o2775, 1]);
/** 5000000 does not fit a ustar field: the tar carries it as a PAX record. */
/** Rarely a link, device or fifo header claiming a block of data, which swallows the next header for some readers. */
const headerSize = weighted<number | undefined>([undefined, 60], [512, 1]);
const owner = weighted([0, 8], [1, 2], [1000, 4], [65534, 2], [5_000_000, 1]);
const USTAR_MAX_ID = 0o7777777;

/** A hardlink target of `${EARLIER}n` means the name of the n-th earlier non-directory entry, modulo their count. */
const EARLIER = '\0earlier:';

/** Whiteout markers are empty root-owned files as docker writes them, but any type must act the same (a link's target is never looked up). */
const MARKER = {
  type: weighted<ModelInput['type']>(['file', 8], ['directory', 1], ['symlink', 1], ['link', 1]),
  linkname: fc.constant('nowhere'),
  content: fc.constant('empty'),
  mode: fc.constant(0o644),
  uid: fc.constant(0),
  gid: fc.constant(0),
};

function symlinkTarget(sentinels: SentinelTargets): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: name, weight: 6 },
    { arbitrary: fc.constantFrom('.', '..', '../..', '../../..', 'a/../..', '../outside', '../sibling', '../sibling/secret', '../../box/sibling/sub'), weight: 3 },
    { arbitrary: fc.constantFrom(sentinels.outside, sentinels.sibling, `${sentinels.sibling}/sub/x`), weight: 1 },
  );
}

/** One tar entry without its mtime (the layer numbers those, so every entry's mtime is its own); a file's content is a size class until then. */
type Draft = Omit<ModelInput, 'mtime'>;

function entry(sentinels: SentinelTargets): fc.Arbitrary<Draft> {
  const file = fc.record({
    // Rarely a trailing slash, which old tars use to mean a directory.
    name: fc.tuple(leafName, weighted(['', 40], ['/', 1])).map(([n, slash]) => n + slash),
    type: fc.constant('file' as const),
    content: weighted(['empty', 1], ['small', 4], ['blocks', 1]),
    mode: fileMode,
    uid: owner,
    gid: owner,
  });
  const dir = fc.record({ name, type: fc.constant('directory' as const), mode: dirMode, uid: owner, gid: owner });
  const symlink = fc.record({ name: leafName, type: fc.constant('symlink' as const), linkname: symlinkTarget(sentinels), mode: fc.constant(0o777), uid: owner, gid: owner, headerSize });
  // Mostly a name an earlier entry used (resolved when the layers are numbered), else any name.
  const linkTarget = fc.oneof({ arbitrary: fc.nat().map((n) => `${EARLIER}${n}`), weight: 6 }, { arbitrary: name, weight: 1 });
  const hardlink = fc.record({ name: leafName, type: fc.constant('link' as const), linkname: linkTarget, mode: fileMode, uid: owner, gid: owner, headerSize });
  const fifo = fc.record({ name: leafName, type: fc.constant('fifo' as const), mode: fileMode, uid: owner, gid: owner, headerSize });
  const device = fc.record({
    name: leafName,
    type: fc.constantFrom('character-device' as const, 'block-device' as const),
    devmajor: fc.constantFrom(1, 8, 4095),
    devminor: fc.constantFrom(0, 3, 255, 65535),
    mode: fileMode,
    uid: owner,
    gid: owner,
    headerSize,
  });
  const victim = weighted(['a', 8], ['b', 6], ['c', 2], ['..', 1], ['.wh..opq', 6], ['.wh.plnk', 1]);
  const marker = fc.record({
    name: fc.tuple(markerDir, victim).map(([d, v]) => `${d}.wh.${v}`),
    ...MARKER,
  });
  const markerAsDir = fc.record({ name: fc.constantFrom('.wh.a/b', 'a/.wh.b/c'), ...MARKER });
  return fc.oneof(
    { arbitrary: file, weight: 40 },
    { arbitrary: dir, weight: 25 },
    { arbitrary: symlink, weight: 20 },
    { arbitrary: hardlink, weight: 20 },
    { arbitrary: marker, weight: 20 },
    { arbitrary: fifo, weight: 3 },
    { arbitrary: device, weight: 3 },
    { arbitrary: markerAsDir, weight: 1 },
  );
}

/** Content unique to each entry, so a file carrying the wrong entry's bytes shows; 'blocks' spans several tar blocks. */
function contentFor(size: string, layer: number, index: number): string {
  if (size === 'empty') return '';
  const id = `layer ${layer} entry ${index}\n`;
  return size === 'blocks' ? id.repeat(60) : id;
}

/** 1 to 4 layers of 0 to 6 entries each; every entry gets a distinct mtime, and files distinct content. */
export function layerSequence(sentinels: SentinelTargets): fc.Arbitrary<ModelInput[][]> {
  const layer = fc.array(entry(sentinels), { maxLength: 6 });
  return fc.array(layer, { minLength: 1, maxLength: 4 }).map((layers) => {
    const names: string[] = [];
    return layers.map((drafts, l) =>
      drafts.map((draft, i) => {
        const spec: ModelInput = { ...draft, mtime: 1_600_000_000 + l * 100 + i + 1 };
        if (spec.linkname?.startsWith(EARLIER)) {
          const earlier = names[Number(spec.linkname.slice(EARLIER.length)) % names.length];
          // Nothing to link to yet: a file instead, or nearly every case would fail on its first hardlink.
          if (earlier === undefined) Object.assign(spec, { type: 'file', linkname: undefined, headerSize: undefined, content: 'small' });
          else spec.linkname = earlier;
        }
        if (spec.type === 'file') spec.content = contentFor(String(spec.content), l, i);
        if (spec.uid > USTAR_MAX_ID || spec.gid > USTAR_MAX_ID) spec.pax = { uid: String(spec.uid), gid: String(spec.gid) };
        if (spec.type !== 'directory' && !spec.name.includes('.wh.')) names.push(spec.name);
        return spec;
      }),
    );
  });
}
