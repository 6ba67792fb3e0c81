/** Errors about one entry of one layer, named the way users find them: the layer, then the entry. */
import { RootforgeError } from '../errors.js';
import { layerLabel } from './layer-reader.js';
import type { LayerSource } from './types.js';

/** Rethrows an entry's failure with the layer and the entry's name in it. */
export function inEntry<T>(layer: LayerSource, index: number, name: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    const known = error instanceof RootforgeError;
    const message = error instanceof Error ? error.message : String(error);
    throw new RootforgeError(known ? error.code : 'ERR_INTERNAL', `${layerLabel(layer, index)}: entry ${JSON.stringify(name)}: ${message}`, {
      blob: layer.diffId,
      cause: error,
      ...(known ? { hint: error.hint } : {}),
    });
  }
}
