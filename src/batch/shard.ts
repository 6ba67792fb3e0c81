import { RootforgeError } from '../errors.js';

export interface Shard {
  /** 0-based, like a Kubernetes Indexed Job's JOB_COMPLETION_INDEX. */
  index: number;
  count: number;
}

export function parseShard(text: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text.trim());
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || count < 1 || index >= count) {
    throw new RootforgeError('ERR_USAGE', `invalid shard ${JSON.stringify(text)}: expected K/N with 0 <= K < N, e.g. 0/4`);
  }
  return { index, count };
}

/** The K-th of N round-robin slices: every item lands in exactly one shard, and the split depends only on the batch's order. */
export function inShard<T>(items: readonly T[], shard: Shard): T[] {
  return items.filter((_, i) => i % shard.count === shard.index);
}
