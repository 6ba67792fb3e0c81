// Piscina entry: prepare one layer (download, verify, decompress, check diff_id) off the main thread.
import { prepareClient, prepareLayer, type LayerTask, type LayerTaskResult } from '../src/batch/layer-task.js';
import { workerData, type MessagePort } from 'node:worker_threads';
import type { RegistryClientOptions } from '../src/registry/client.js';
import { toWorkerError, type ErrorInfo } from '../src/errors.js';

export interface LayerWorkerData {
  /** The run's registry settings: the thread builds its client while it waits for its first task. */
  client?: RegistryClientOptions | undefined;
}

prepareClient((workerData as LayerWorkerData | null)?.client);

export type LayerWorkerReply = { ok: true; result: LayerTaskResult } | { ok: false; error: ErrorInfo & { rawMessage: string } };

/** Download progress goes back over the task's port, at most every 100 ms. */
function progressReporter(port: MessagePort | undefined): ((bytes: number) => void) | undefined {
  if (!port) return undefined;
  let last = 0;
  return (bytes) => {
    const now = Date.now();
    if (now - last < 100) return;
    last = now;
    port.postMessage(bytes);
  };
}

export default async function layerWorker({ progressPort, ...task }: LayerTask & { progressPort?: MessagePort }): Promise<LayerWorkerReply> {
  const onProgress = progressReporter(progressPort);
  try {
    return { ok: true, result: await prepareLayer(task, onProgress ? { onProgress } : {}) };
  } catch (error) {
    return { ok: false, error: toWorkerError(error) };
  } finally {
    progressPort?.close();
  }
}
