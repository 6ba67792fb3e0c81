import { toErrorInfo, withContext } from '../errors.js';
import { formatReference, parseReference } from '../registry/reference.js';
import { describeResolved, type ImageResult } from './image-result.js';
import { mapLimit } from './limit.js';
import { resolveImage } from './resolve.js';
import { Session, type SessionOptions } from './session.js';

export interface WarmOptions extends SessionOptions {
  refs: string[];
  /** Images worked on at once. */
  jobs?: number;
}

export interface WarmResult {
  images: ImageResult[];
}

/** Fills the cache with every image's manifest, config and verified layers, building nothing. */
export async function warm(options: WarmOptions): Promise<WarmResult> {
  const session = await Session.open(options);
  try {
    const images = await mapLimit(options.refs, options.jobs ?? 4, (ref) => warmOne(session, ref));
    return { images };
  } finally {
    await session.close();
  }
}

async function warmOne(session: Session, refText: string): Promise<ImageResult> {
  const signal = session.options.signal;
  const result: ImageResult = { ref: refText, status: 'failed' };
  const seconds: Record<string, number> = {};
  session.emit({ type: 'image-start', image: refText });
  try {
    signal?.throwIfAborted();
    const ref = parseReference(refText);
    const name = formatReference(ref);
    result.name = name;
    let started = performance.now();
    session.emit({ type: 'stage', image: refText, stage: 'resolve' });
    const image = await resolveImage(session.client, session.layout, ref, session.platform, signal);
    Object.assign(result, describeResolved(image));
    seconds.resolve = (performance.now() - started) / 1000;
    started = performance.now();
    session.emit({ type: 'stage', image: refText, stage: 'download' });
    const layers = await session.prepareLayers(image, signal);
    for (const layer of layers) {
      session.emit({ type: 'layer', image: refText, digest: layer.digest, downloadedBytes: layer.downloadedBytes, uncompressedBytes: layer.uncompressedBytes });
    }
    seconds.download = (performance.now() - started) / 1000;
    await session.layout.setRef(name, image.manifestDescriptor);
    result.status = 'ok';
    result.seconds = seconds;
  } catch (error) {
    result.error = toErrorInfo(withContext(error, { image: refText }));
    result.seconds = seconds;
  }
  session.emit({ type: 'image-done', image: refText, status: result.status, ...(result.error ? { error: result.error } : {}) });
  return result;
}
