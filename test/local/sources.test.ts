import { execa } from 'execa';
import { cp, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pack as tarPack } from 'tar-stream';
import { build } from '../../src/batch/build.js';
import { warm } from '../../src/batch/warm.js';
import { parseLocation } from '../../src/local/transport.js';
import { writeExampleLayout } from '../fixtures/make-example.js';
import { buildLayer, pushImage, type PushedImage } from '../helpers/images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { e2fsckClean, readExt4Tree, type Ext4Node } from '../helpers/ext4-read.js';

const EXAMPLE = join(import.meta.dirname, '../fixtures/example-oci');
let reg: TestRegistry;
let dir: string;
let image: PushedImage;
let ref: string;

beforeAll(async () => {
  reg = await startRegistry();
  dir = await mkdtemp(join(tmpdir(), 'rootforge-local-'));
  const layers = [
    await buildLayer([{ name: 'etc/os-release', content: 'ID=local\n' }, { name: 'usr/bin/su', content: 'su', mode: 0o4755 }, { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3 }]),
    // gzip: skopeo cannot write zstd layers into a docker-archive.
    await buildLayer([{ name: 'etc/.wh.os-release', content: '' }, { name: 'srv/hello', content: 'hello' }]),
  ];
  image = await pushImage(reg, 'local/img', 'v1', { layers });
  ref = `${reg.host}/local/img:v1`;
});
afterAll(async () => {
  await reg?.stop();
  await rm(dir, { recursive: true, force: true });
});

function comparable(tree: Map<string, Ext4Node>): Record<string, unknown> {
  return Object.fromEntries([...tree].filter(([p]) => !p.startsWith('lost+found')).map(([p, { inode: _i, ...n }]) => [p, n]));
}

async function buildTree(source: string, name: string): Promise<Map<string, Ext4Node>> {
  const result = await build({ refs: [source], outDir: join(dir, `out-${name}`), cacheDir: join(dir, `cache-${name}`), inject: false });
  expect(result.images[0]?.error).toBeUndefined();
  await e2fsckClean(result.images[0]?.output as string);
  return readExt4Tree(result.images[0]?.output as string);
}

describe('image sources besides a registry', () => {
  it('parses the transport syntax skopeo uses', () => {
    expect(parseLocation('oci:/x/layout:v1')).toEqual({ transport: 'oci', path: '/x/layout', name: 'v1' });
    expect(parseLocation('oci-archive:/x/a.tar')).toEqual({ transport: 'oci-archive', path: '/x/a.tar' });
    expect(parseLocation('docker-archive:/x/s.tar:repo:tag')).toEqual({ transport: 'docker-archive', path: '/x/s.tar', name: 'repo:tag' });
    expect(parseLocation('docker://debian:12')).toMatchObject({ transport: 'docker', ref: { repository: 'library/debian', tag: '12' } });
  });

  it('ships an example OCI layout that its script reproduces byte for byte, and builds offline', async () => {
    const again = join(dir, 'example-again');
    await writeExampleLayout(again);
    for (const name of ['index.json', 'oci-layout', ...(await readdir(join(EXAMPLE, 'blobs/sha256'))).map((b) => `blobs/sha256/${b}`)]) {
      expect((await readFile(join(again, name))).equals(await readFile(join(EXAMPLE, name))), `${name}: run npm run example`).toBe(true);
    }
    expect((await readdir(join(again, 'blobs/sha256'))).sort()).toEqual((await readdir(join(EXAMPLE, 'blobs/sha256'))).sort());
    const tree = await buildTree(`oci:${EXAMPLE}:latest`, 'example');
    expect(tree.get('usr/bin/passwd')).toMatchObject({ mode: 0o4755, uid: 0 });
    expect(tree.has('usr/share/doc/old')).toBe(false);
    expect(tree.get('usr/share/doc/rootforge/rootforge-first-boot')?.size).toBe((await stat(join(import.meta.dirname, '../../assets/rootforge-first-boot'))).size);
  });

  it('reads layouts and archives written by skopeo, giving the same tree as the registry', async () => {
    const fromRegistry = comparable(await buildTree(ref, 'registry'));
    const src = ['--src-tls-verify=false', `docker://${ref}`];
    await execa('skopeo', ['copy', '-q', ...src, `oci:${join(dir, 'layout')}:v1`]);
    await execa('skopeo', ['copy', '-q', ...src, `oci-archive:${join(dir, 'oci.tar')}:v1`]);
    await execa('skopeo', ['copy', '-q', ...src, `docker-archive:${join(dir, 'docker.tar')}:local/img:v1`]);
    expect(comparable(await buildTree(`oci:${join(dir, 'layout')}:v1`, 'oci'))).toEqual(fromRegistry);
    expect(comparable(await buildTree(`oci-archive:${join(dir, 'oci.tar')}:v1`, 'oci-archive'))).toEqual(fromRegistry);
    expect(comparable(await buildTree(`docker-archive:${join(dir, 'docker.tar')}`, 'docker-archive'))).toEqual(fromRegistry);
    expect(comparable(await buildTree(`docker-archive:${join(dir, 'docker.tar')}:local/img:v1`, 'docker-archive-named'))).toEqual(fromRegistry);
  });

  it('reads the OCI form of docker save (Docker 25+), picking the image by name', async () => {
    const layout = join(dir, 'layout');
    const archive = join(dir, 'docker-oci.tar');
    const index = JSON.parse(await readFile(join(layout, 'index.json'), 'utf8')) as { manifests: { annotations?: Record<string, string> }[] };
    for (const m of index.manifests) m.annotations = { 'io.containerd.image.name': 'docker.io/local/img:v1', 'org.opencontainers.image.ref.name': 'v1' };
    const pack = tarPack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
    const ended = new Promise<void>((resolve) => void pack.on('end', () => resolve()));
    pack.entry({ name: 'oci-layout' }, await readFile(join(layout, 'oci-layout')));
    pack.entry({ name: 'index.json' }, JSON.stringify(index));
    pack.entry({ name: 'manifest.json' }, JSON.stringify([{ Config: `blobs/sha256/${image.configDigest.slice(7)}`, RepoTags: ['local/img:v1'], Layers: [] }]));
    for (const blob of await readdir(join(layout, 'blobs/sha256'))) pack.entry({ name: `blobs/sha256/${blob}` }, await readFile(join(layout, 'blobs/sha256', blob)));
    pack.finalize();
    await ended;
    await writeFile(archive, Buffer.concat(chunks));
    const tree = await buildTree(`docker-archive:${archive}:local/img:v1`, 'docker-oci');
    expect(tree.get('srv/hello')?.size).toBe(5);
  });

  it('verifies local blobs like registry ones: a corrupt layer fails with ERR_DIGEST_MISMATCH', async () => {
    const broken = join(dir, 'broken-layout');
    await cp(join(dir, 'layout'), broken, { recursive: true });
    const blob = join(broken, 'blobs/sha256', image.layers[1]?.digest.slice(7) as string);
    const bytes = await readFile(blob);
    bytes[10] = (bytes[10] as number) ^ 0xff;
    await writeFile(blob, bytes);
    const result = await warm({ refs: [`oci:${broken}:v1`], cacheDir: join(dir, 'cache-broken') });
    expect(result.images[0]?.error?.code).toBe('ERR_DIGEST_MISMATCH');
    expect(result.images[0]?.error?.message).toContain(image.layers[1]?.digest);
  });

  it('refuses an archive entry that climbs out, writing nothing outside', async () => {
    const archive = join(dir, 'evil.tar');
    const pack = tarPack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: unknown) => void chunks.push(c as Buffer));
    const ended = new Promise<void>((resolve) => void pack.on('end', () => resolve()));
    pack.entry({ name: '../../../../tmp/rootforge-archive-escape' }, 'x');
    pack.finalize();
    await ended;
    await writeFile(archive, Buffer.concat(chunks));
    const result = await warm({ refs: [`oci-archive:${archive}`], cacheDir: join(dir, 'cache-evil') });
    expect(result.images[0]?.error?.code).toBe('ERR_UNSAFE_PATH');
    await expect(stat('/tmp/rootforge-archive-escape')).rejects.toThrow();
  });
});
