import { RootforgeError } from '../errors.js';
import { parsePlatform } from '../oci/platform.js';
import type { ImageReference } from '../registry/reference.js';
import { locationRef, parseLocation, type ImageLocation } from '../local/transport.js';
import type { ImageSpec } from './image-spec.js';
import { outputNames } from './output-names.js';
import { inShard, type Shard } from './shard.js';

export interface PlannedImage {
  spec: ImageSpec;
  location: ImageLocation;
  /** The registry reference, or a stand-in for a local image, that names the output. */
  ref: ImageReference;
  /** Output name, unique within the whole batch (not just this shard). */
  name: string;
}

/**
 * Checks every entry of a batch before any work starts (references, platforms, output names) and
 * reports all problems at once; then keeps this shard's slice.
 */
export function planBatch(specs: readonly ImageSpec[], opts: { shard?: Shard; problems?: readonly string[] } = {}): PlannedImage[] {
  const problems: string[] = [...(opts.problems ?? [])];
  if (specs.length === 0) problems.push('no image references given');
  const locations = specs.map((spec, i): ImageLocation => {
    try {
      if (spec.platform) parsePlatform(spec.platform);
    } catch (error) {
      problems.push(`image ${i + 1} (${spec.ref}): ${(error as Error).message}`);
    }
    try {
      return parseLocation(spec.ref);
    } catch (error) {
      problems.push(`image ${i + 1}: ${(error as Error).message}`);
      return { transport: 'docker', ref: { registry: 'invalid', repository: `invalid-${i}`, apiHost: 'invalid' } };
    }
  });
  const refs = locations.map(locationRef);
  const names = outputNames(refs, specs.map((s) => s.name));
  const seen = new Map<string, number>();
  names.forEach((name, i) => {
    const first = seen.get(name);
    if (first !== undefined) problems.push(`images ${first + 1} and ${i + 1} would both write ${name}.ext4; give one a different name`);
    else seen.set(name, i);
  });
  if (problems.length > 0) throw new RootforgeError('ERR_USAGE', `the batch has ${problems.length} problem(s), nothing was started:\n  ${problems.join('\n  ')}`);
  const planned = specs.map((spec, i) => ({ spec, location: locations[i] as ImageLocation, ref: refs[i] as ImageReference, name: names[i] as string }));
  return opts.shard ? inShard(planned, opts.shard) : planned;
}
