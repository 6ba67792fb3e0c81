/** Abort checks that fail with ERR_ABORTED, so callers always get a RootforgeError. */
import { RootforgeError } from '../errors.js';

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new RootforgeError('ERR_ABORTED', 'interrupted', { cause: signal.reason });
}
