import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { entryMeta } from '../../src/layer/entry-meta.js';
import { readLayer } from '../../src/layer/layer-reader.js';
import { encodeTarHeader, TAR_END, tarPadding, type TarRecord } from '../../src/layer/tar-header.js';
import { scratch } from './support.js';

async function decode(recs: Array<{ rec: TarRecord; content?: Buffer }>): Promise<Array<ReturnType<typeof entryMeta> & { pax: string[] }>> {
  const parts: Buffer[] = [];
  for (const { rec, content } of recs) parts.push(encodeTarHeader(rec), content ?? Buffer.alloc(0), tarPadding(content?.length ?? 0));
  parts.push(TAR_END);
  const path = join(await scratch(), 'h.tar');
  await writeFile(path, Buffer.concat(parts));
  const out = [];
  for await (const e of readLayer({ path, diffId: 'x' }, 0)) out.push({ ...entryMeta(e.header, e.pax), pax: [...(e.pax?.keys() ?? [])] });
  return out;
}

const base: TarRecord = { path: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: 1_700_000_000, size: 0 };

describe('encodeTarHeader', () => {
  it('writes plain ustar when everything fits', async () => {
    const header = encodeTarHeader({ ...base, path: 'a'.repeat(100), mode: 0o7755, uid: 0o7777777, size: 3 });
    expect(header.length).toBe(512);
    const [e] = await decode([{ rec: { ...base, path: 'a'.repeat(100), mode: 0o7755, uid: 0o7777777, size: 3 }, content: Buffer.from('abc') }]);
    expect(e).toMatchObject({ name: 'a'.repeat(100), mode: 0o7755, uid: 0o7777777, size: 3, pax: [] });
  });

  it('writes the root as ./ and directories with a trailing slash', async () => {
    const out = await decode([{ rec: { ...base, path: '', type: 'dir' } }, { rec: { ...base, path: 'd', type: 'dir' } }]);
    expect(out.map((e) => [e.name, e.kind])).toEqual([['./', 'dir'], ['d/', 'dir']]);
  });

  it('moves long names and link targets, big ids and odd times into PAX', async () => {
    const [e] = await decode([{ rec: { ...base, path: 'p'.repeat(101), type: 'symlink', linkname: 't'.repeat(101), uid: 0o10000000, gid: 4294967295, mtime: -5 } }]);
    expect(e).toMatchObject({ name: 'p'.repeat(101), linkname: 't'.repeat(101), uid: 0o10000000, gid: 4294967295, mtime: -5 });
    expect(e!.pax.sort()).toEqual(['gid', 'linkpath', 'mtime', 'path', 'uid']);
  });

  it('marks non-ASCII PAX paths hdrcharset=BINARY; short UTF-8 names stay in ustar', async () => {
    const long = `${'é'.repeat(60)}/x`;
    const [a, b] = await decode([{ rec: { ...base, path: long } }, { rec: { ...base, path: 'short-é' } }]);
    expect(a).toMatchObject({ name: long });
    expect(a!.pax).toEqual(['hdrcharset', 'path']);
    expect(b).toMatchObject({ name: 'short-é', pax: [] });
  });

  it('writes device numbers and xattrs', async () => {
    const cap = Buffer.from([1, 0, 0, 2, 0xff, 0x80]);
    const [e] = await decode([{ rec: { ...base, path: 'dev/x', type: 'char', devMajor: 4095, devMinor: 1048575, xattrs: { 'security.capability': cap } } }]);
    expect(e).toMatchObject({ kind: 'char', devMajor: 4095, devMinor: 1048575, xattrs: { 'security.capability': cap } });
  });
});
