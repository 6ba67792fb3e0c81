import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { fromErrorInfo, RootforgeError } from '../errors.js';
import type { LayerTask, LayerTaskResult } from './layer-task.js';
import type { LayerWorkerReply } from '../../workers/layer.js';

/** The compiled worker lives in dist/workers; under vitest this file runs from src/, so look upward for it. */
function workerFile(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    for (const candidate of [join(dir, 'workers', `${name}.js`), join(dir, 'dist', 'workers', `${name}.js`)]) {
      if (existsSync(candidate)) return candidate;
    }
    const parent = dirname(dir);
    if (parent === dir) throw new RootforgeError('ERR_INTERNAL', `worker ${name}.js not found; run npm run build`);
    dir = parent;
  }
}

export interface LayerPool {
  run(task: LayerTask, signal?: AbortSignal): Promise<LayerTaskResult>;
  destroy(): Promise<void>;
}

export function defaultWorkerCount(): number {
  return Math.max(1, availableParallelism());
}

/** One Piscina pool for every image of a run: downloads, hashing and decompression share its threads. */
export function createLayerPool(workers = defaultWorkerCount()): LayerPool {
  const piscina = new Piscina({ filename: workerFile('layer'), minThreads: 0, maxThreads: workers, idleTimeout: 1000, concurrentTasksPerWorker: 2 });
  return {
    async run(task, signal) {
      const reply = (await piscina.run(task, signal ? { signal } : {})) as LayerWorkerReply;
      if (!reply.ok) throw fromErrorInfo(reply.error);
      return reply.result;
    },
    destroy: () => piscina.destroy(),
  };
}
