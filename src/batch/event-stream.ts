import type { EventListener, RunEvent } from './events.js';

export interface FollowedRun<T> {
  /** Every event of the run, in order; ends when the run ends. */
  events: AsyncIterableIterator<RunEvent>;
  result: Promise<T>;
}

/**
 * Runs `start` with an event listener and hands the events out as an async iterator:
 * `const { events, result } = follow((onEvent) => build({ ...options, onEvent }))`.
 * Events queue until read, so nothing is lost however slowly they are consumed.
 */
export function follow<T>(start: (onEvent: EventListener) => Promise<T>): FollowedRun<T> {
  const queue: RunEvent[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  const result = start((event) => {
    queue.push(event);
    wake?.();
  }).finally(() => {
    done = true;
    wake?.();
  });
  async function* drain(): AsyncGenerator<RunEvent> {
    for (;;) {
      while (queue.length > 0) yield queue.shift() as RunEvent;
      if (done) return;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  }
  // The caller may never read the events; a failed run must still reject only through `result`.
  result.catch(() => undefined);
  return { events: drain(), result };
}
