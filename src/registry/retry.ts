import { setTimeout as sleep } from 'node:timers/promises';
import pRetry from 'p-retry';
import { asRootforgeError, isAbortError, RootforgeError } from '../errors.js';

export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** Backoff before the first retry; doubles each time (with jitter) up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Cap on a server's Retry-After, so a hostile or confused server cannot park us for hours. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 4, baseDelayMs: 500, maxDelayMs: 10_000, maxRetryAfterMs: 60_000 };

/** Retry-After as milliseconds: delta-seconds or an HTTP date, capped; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now(), capMs = DEFAULT_RETRY_POLICY.maxRetryAfterMs): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  let ms: number;
  if (/^\d+$/.test(text)) {
    ms = Number(text) * 1000;
  } else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = at - now;
  }
  return Math.min(Math.max(0, ms), capMs);
}

export function isTemporary(error: unknown): boolean {
  return error instanceof RootforgeError && error.temporary;
}

export interface RetryOptions {
  signal?: AbortSignal;
  /** Return false for a failure that should not use up the budget (a download that still made progress). */
  consumesRetry?: (error: RootforgeError) => boolean;
}

/** Retries only errors marked `temporary`; a Retry-After is waited out on top of p-retry's backoff, so we never come back early. */
export async function withRetry<T>(operation: (attempt: number) => Promise<T>, policy: RetryPolicy, opts: RetryOptions = {}): Promise<T> {
  const { signal } = opts;
  try {
    return await pRetry(
      async (attempt) => {
        try {
          return await operation(attempt);
        } catch (error) {
          throw asRootforgeError(error);
        }
      },
      {
        retries: policy.retries,
        minTimeout: policy.baseDelayMs,
        maxTimeout: Math.max(policy.baseDelayMs, policy.maxDelayMs),
        factor: 2,
        randomize: true,
        signal,
        shouldRetry: ({ error }) => isTemporary(error),
        shouldConsumeRetry: ({ error }) => (opts.consumesRetry ? opts.consumesRetry(error as RootforgeError) : true),
        onFailedAttempt: async ({ error, retriesLeft }) => {
          const wait = (error as RootforgeError).retryAfterMs;
          if (retriesLeft > 0 && isTemporary(error) && wait) {
            await sleep(Math.min(wait, policy.maxRetryAfterMs), undefined, { signal });
          }
        },
      },
    );
  } catch (error) {
    if (signal?.aborted || isAbortError(error)) {
      throw error instanceof RootforgeError && error.code === 'ERR_ABORTED' ? error : new RootforgeError('ERR_ABORTED', 'interrupted', { cause: signal?.reason ?? error });
    }
    throw asRootforgeError(error);
  }
}
