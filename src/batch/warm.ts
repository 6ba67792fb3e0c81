import { toErrorInfo, withContext } from '../errors.js';
import { locationName } from '../local/transport.js';
import { countStatuses, describeResolved, type ImageResult } from './image-result.js';
import { mapLimit } from './limit.js';
import { planBatch, type PlannedImage } from './plan-batch.js';
import type { ImageSpec } from './image-spec.js';
import type { Shard } from './shard.js';
import { Session, type SessionOptions } from './session.js';

export interface WarmOptions extends SessionOptions {
  refs?: string[];
  /** Images with a platform of their own (a --file batch); they follow `refs`. */
  images?: ImageSpec[];
  /** Warm only this slice of the batch. */
  shard?: Shard;
  /** Images worked on at once. */
  jobs?: number;
}

export interface WarmResult {
  images: ImageResult[];
}

/** Fills the cache with every image's manifest, config and verified layers, building nothing. */
export async function warm(options: WarmOptions): Promise<WarmResult> {
  const planned = planBatch([...(options.refs ?? []).map((ref) => ({ ref })), ...(options.images ?? [])], options.shard ? { shard: options.shard } : {});
  const session = await Session.open(options, planned.map((image) => image.location));
  try {
    const started = Date.now();
    session.emit({ type: 'run-start', images: planned.length });
    const images = await mapLimit(planned, options.jobs ?? 4, (image) => warmOne(session, image));
    session.emit({ type: 'run-done', ...countStatuses(images), seconds: (Date.now() - started) / 1000 });
    return { images };
  } finally {
    await session.close();
  }
}

async function warmOne(session: Session, planned: PlannedImage): Promise<ImageResult> {
  const refText = planned.spec.ref;
  const signal = session.options.signal;
  const result: ImageResult = { ref: refText, status: 'failed' };
  const seconds: Record<string, number> = {};
  session.emit({ type: 'image-start', image: refText });
  try {
    signal?.throwIfAborted();
    const name = locationName(planned.location, refText);
    result.name = name;
    let started = performance.now();
    session.emit({ type: 'stage', image: refText, stage: 'resolve' });
    const image = await session.resolve(planned.location, planned.spec.platform, signal);
    Object.assign(result, describeResolved(image));
    seconds.resolve = (performance.now() - started) / 1000;
    started = performance.now();
    session.emit({ type: 'stage', image: refText, stage: 'download' });
    const layers = await session.prepareLayers(image, signal, (bytes, totalBytes) => session.emit({ type: 'progress', image: refText, stage: 'download', bytes, totalBytes }));
    for (const layer of layers) {
      session.emit({ type: 'layer', image: refText, digest: layer.digest, downloadedBytes: layer.downloadedBytes, uncompressedBytes: layer.uncompressedBytes });
    }
    seconds.download = (performance.now() - started) / 1000;
    if (planned.location.transport === 'docker') await session.layout.setRef(name, image.manifestDescriptor);
    result.status = 'ok';
    result.seconds = seconds;
  } catch (error) {
    result.error = toErrorInfo(withContext(error, { image: refText }));
    result.seconds = seconds;
  }
  session.emit({ type: 'image-done', image: refText, status: result.status, seconds, ...(result.error ? { error: result.error } : {}) });
  return result;
}
