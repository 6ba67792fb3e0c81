import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packageRoot } from '../package-root.js';
import { MessageChannel } from 'node:worker_threads';
import type { Piscina } from 'piscina';
import { fromErrorInfo, RootforgeError } from '../errors.js';
import type { LayerTask, LayerTaskResult } from './layer-task.js';
import type { LayerWorkerData, LayerWorkerReply } from '../../workers/layer.js';
import type { RegistryClientOptions } from '../registry/client.js';

/** The bundled worker beside the bundled CLI; otherwise the compiled one, under vitest too, since worker threads cannot load TypeScript. */
function workerFile(name: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const file = basename(here) === 'bundle' ? join(here, `${name}-worker.js`) : join(packageRoot(), 'dist', 'workers', `${name}.js`);
  if (!existsSync(file)) throw new RootforgeError('ERR_INTERNAL', `worker ${file} not found; run npm run build`);
  return file;
}

export interface LayerPool {
  /** `onProgress` gets the bytes of the blob fetched so far. */
  run(task: LayerTask, signal?: AbortSignal, onProgress?: (bytes: number) => void): Promise<LayerTaskResult>;
  /** Starts one thread now (it loads the worker module and builds its registry client), so the first download does not wait for it; resolves once the thread is spawned. */
  warmUp(): Promise<void>;
  destroy(): Promise<void>;
}

export function defaultWorkerCount(): number {
  return Math.max(1, availableParallelism());
}

/** One Piscina pool for every image of a run: downloads, hashing and decompression share its threads. Started on first use: a warm build never needs it. */
export function createLayerPool(workers = defaultWorkerCount(), client?: RegistryClientOptions): LayerPool {
  let started: Promise<Piscina> | undefined;
  const piscina = (minThreads = 0): Promise<Piscina> =>
    (started ??= import('piscina').then(
      ({ Piscina }) => new Piscina({ filename: workerFile('layer'), minThreads, maxThreads: workers, idleTimeout: 1000, concurrentTasksPerWorker: 2, workerData: { client } satisfies LayerWorkerData }),
    ));
  return {
    // A pool that cannot start reports why to run(), where an image asks for it.
    warmUp: () => piscina(1).then(
      () => undefined,
      () => undefined,
    ),
    async run(task, signal, onProgress) {
      const pool = await piscina();
      const channel = onProgress ? new MessageChannel() : undefined;
      channel?.port1.on('message', (bytes: number) => onProgress?.(bytes));
      try {
        const message = channel ? { ...task, progressPort: channel.port2 } : task;
        const reply = (await pool.run(message, { ...(signal ? { signal } : {}), ...(channel ? { transferList: [channel.port2] } : {}) })) as LayerWorkerReply;
        if (!reply.ok) throw fromErrorInfo(reply.error);
        return reply.result;
      } finally {
        channel?.port1.close();
      }
    },
    // A pool that never started (its worker file missing, say) has nothing to stop; its error went to run().
    destroy: async () => {
      const pool = await started?.catch(() => undefined);
      await pool?.destroy();
    },
  };
}
