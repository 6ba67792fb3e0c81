import { createReadStream } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { RootforgeError } from '../errors.js';
import { normalizeEntryPath } from '../layer/paths.js';

/**
 * Unpacks an image archive (regular files and directories only) into an empty directory.
 * Paths are normalised and checked like layer entries, so nothing lands outside `dir`.
 */
export async function extractArchive(file: string, dir: string, signal?: AbortSignal): Promise<void> {
  const ex = extract();
  ex.on('entry', (header, stream, next) => {
    const done = (error?: unknown): void => (error ? ex.destroy(error as Error) : next());
    void (async () => {
      const name = normalizeEntryPath(header.name);
      if (name === '' || (header.type !== 'file' && header.type !== 'directory')) {
        stream.resume();
        stream.on('end', () => done());
        return;
      }
      const target = join(dir, name);
      if (header.type === 'directory') {
        await mkdir(target, { recursive: true });
        stream.resume();
        stream.on('end', () => done());
        return;
      }
      await mkdir(dirname(target), { recursive: true });
      const handle = await open(target, 'wx');
      try {
        for await (const chunk of stream) await handle.write(chunk as Buffer);
      } finally {
        await handle.close();
      }
      done();
    })().catch(done);
  });
  try {
    await pipeline(createReadStream(file), ex, ...(signal ? [{ signal }] : []));
  } catch (error) {
    if ((error as RootforgeError).code?.startsWith?.('ERR_')) throw error;
    throw new RootforgeError('ERR_BAD_LAYER', `cannot unpack ${file}: ${(error as Error).message}`, { cause: error });
  }
}
