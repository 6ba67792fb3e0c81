// Piscina entry: prepare one layer (download, verify, decompress, check diff_id) off the main thread.
import { prepareLayer, type LayerTask, type LayerTaskResult } from '../src/batch/layer-task.js';
import { toWorkerError, type ErrorInfo } from '../src/errors.js';

export type LayerWorkerReply = { ok: true; result: LayerTaskResult } | { ok: false; error: ErrorInfo & { rawMessage: string } };

export default async function layerWorker(task: LayerTask): Promise<LayerWorkerReply> {
  try {
    return { ok: true, result: await prepareLayer(task) };
  } catch (error) {
    return { ok: false, error: toWorkerError(error) };
  }
}
