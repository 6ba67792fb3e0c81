import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { forgetE2fsprogs, rememberedE2fsprogs, toolsRecordPath } from '../../src/cache/tools-record.js';
import { findTool } from '../../src/ext4/tools.js';

/** A tool directory whose mkfs.ext4 logs each run before running the real one; the other tools are the real ones. */
async function loggingTools(dir: string, log: string, variant = ''): Promise<void> {
  const mkfs = await findTool(['mkfs.ext4']);
  await writeFile(join(dir, 'mkfs.ext4'), `#!/bin/sh\n# ${variant}\necho run >> ${log}\nexec ${mkfs} "$@"\n`);
  await chmod(join(dir, 'mkfs.ext4'), 0o755);
}

async function runs(log: string): Promise<number> {
  return (await readFile(log, 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
}

describe('the remembered e2fsprogs probe', () => {
  let dir: string;
  let tools: string;
  let cache: string;
  let log: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rootforge-tools-record-'));
    tools = join(dir, 'bin');
    cache = join(dir, 'cache');
    log = join(dir, 'mkfs.log');
    await mkdir(tools);
    for (const name of ['debugfs', 'e2fsck', 'tune2fs']) await symlink((await findTool([name]))!, join(tools, name));
    await loggingTools(tools, log);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('probes once, then answers from the cache without running mkfs', async () => {
    const first = await rememberedE2fsprogs(cache, undefined, { pathEnv: tools });
    expect(first.mkfs).toBe(join(tools, 'mkfs.ext4'));
    expect(first.tarStdin).toBe(true);
    // mkfs -V, then the tar probe.
    expect(await runs(log)).toBe(2);
    const again = await rememberedE2fsprogs(cache, undefined, { pathEnv: tools });
    expect(again).toEqual(first);
    expect(await runs(log)).toBe(2);
  });

  it('probes again when mkfs is replaced, the loader environment changes, or the record is damaged', async () => {
    await rememberedE2fsprogs(cache, undefined, { pathEnv: tools });
    expect(await runs(log)).toBe(2);

    await loggingTools(tools, log, 'upgraded');
    await rememberedE2fsprogs(cache, undefined, { pathEnv: tools });
    expect(await runs(log)).toBe(4);

    await rememberedE2fsprogs(cache, undefined, { pathEnv: tools, env: { ...process.env, LD_LIBRARY_PATH: dir } });
    expect(await runs(log)).toBe(6);

    await writeFile(toolsRecordPath(cache), '{"key": "');
    const fresh = await rememberedE2fsprogs(cache, undefined, { pathEnv: tools });
    expect(await runs(log)).toBe(8);
    expect(JSON.parse(await readFile(toolsRecordPath(cache), 'utf8'))).toMatchObject({ tools: fresh });
  });

  it('never runs a binary the record names but the search does not find', async () => {
    await rememberedE2fsprogs(cache, undefined, { pathEnv: tools });
    const record = JSON.parse(await readFile(toolsRecordPath(cache), 'utf8')) as { key: string; tools: { mkfs: string } };
    await writeFile(toolsRecordPath(cache), JSON.stringify({ ...record, tools: { ...record.tools, mkfs: join(dir, 'elsewhere', 'mkfs.ext4') } }));
    const found = await rememberedE2fsprogs(cache, undefined, { pathEnv: tools });
    expect(found.mkfs).toBe(join(tools, 'mkfs.ext4'));
    expect(await runs(log)).toBe(4);
  });

  it('probes afresh once the record is forgotten', async () => {
    await rememberedE2fsprogs(cache, undefined, { pathEnv: tools });
    await forgetE2fsprogs(cache);
    await rememberedE2fsprogs(cache, undefined, { pathEnv: tools });
    expect(await runs(log)).toBe(4);
  });

  it('still answers when the cache cannot be written', async () => {
    // A file where the cache directory should be: no record can be kept, and none is needed.
    await writeFile(cache, 'not a directory');
    const found = await rememberedE2fsprogs(cache, undefined, { pathEnv: tools });
    expect(found.tarStdin).toBe(true);
    await rememberedE2fsprogs(cache, undefined, { pathEnv: tools });
    expect(await runs(log)).toBe(4);
  });
});
