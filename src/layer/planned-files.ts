import { RootforgeError } from '../errors.js';
import type { PlannedContent, RootfsPlan } from './flatten.js';
import { layerLabel, readLayer } from './layer-reader.js';

/**
 * Every file the plan keeps, with its content, read from the layers in order; the consumer must
 * drain each content before asking for the next. Fails if a layer changed since it was planned.
 */
export async function* plannedFiles(plan: RootfsPlan, signal?: AbortSignal): AsyncGenerator<{ planned: PlannedContent; content: AsyncIterable<Buffer> }> {
  for (const [index, layer] of plan.layers.entries()) {
    const contents = plan.contents(index);
    let remaining = contents.size;
    if (remaining === 0) continue;
    for await (const entry of readLayer(layer, index, { signal })) {
      const planned = contents.get(entry.ordinal);
      if (!planned) continue;
      if (entry.header.name !== planned.name || entry.header.size !== planned.size) {
        throw new RootforgeError('ERR_BAD_LAYER', `${layerLabel(layer, index)}: entry ${entry.ordinal} changed since planning (${JSON.stringify(entry.header.name)})`, { blob: layer.diffId });
      }
      yield { planned, content: entry.content };
      // The rest of the layer has nothing left to use, so stop reading it.
      if (--remaining === 0) break;
    }
    if (remaining > 0) throw new RootforgeError('ERR_BAD_LAYER', `${layerLabel(layer, index)}: ended before ${remaining} planned file(s)`, { blob: layer.diffId });
  }
}
