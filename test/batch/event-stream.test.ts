import { describe, expect, it } from 'vitest';
import { follow } from '../../src/batch/event-stream.js';
import type { RunEvent } from '../../src/batch/events.js';

describe('follow', () => {
  it('yields every event in order, then ends with the run', async () => {
    const { events, result } = follow(async (emit) => {
      emit({ type: 'run-start', images: 1, at: 1 });
      await new Promise((r) => setTimeout(r, 10));
      emit({ type: 'image-start', image: 'a', at: 2 });
      emit({ type: 'run-done', ok: 1, skipped: 0, failed: 0, seconds: 0, at: 3 });
      return 42;
    });
    const seen: RunEvent['type'][] = [];
    for await (const event of events) seen.push(event.type);
    expect(seen).toEqual(['run-start', 'image-start', 'run-done']);
    expect(await result).toBe(42);
  });

  it('ends the iterator and rejects the result when the run fails', async () => {
    const { events, result } = follow(async (emit) => {
      emit({ type: 'run-start', images: 0, at: 1 });
      throw new Error('boom');
    });
    const seen: string[] = [];
    for await (const event of events) seen.push(event.type);
    expect(seen).toEqual(['run-start']);
    await expect(result).rejects.toThrow('boom');
  });
});
