/**
 * The error a batch ends with when its `signal` aborts. A signal that aborted
 * because time ran out (`AbortSignal.timeout(ms)`, or any reason named
 * `TimeoutError`) is a deadline to the user: `E_TIMEOUT`, said as such. Any
 * other abort is a cancel: `E_CANCELLED`. The reason stays as `cause`.
 */
import { CancelledError, TimeoutError, type CorepoolError } from '@corepool/protocol';

/** `CancelledError`, or `TimeoutError` when the signal's reason says time ran out. */
export function abortError(signal: AbortSignal, when: 'before it started' | 'while it ran'): CorepoolError {
  const reason: unknown = signal.reason;
  const timedOut = typeof reason === 'object' && reason !== null && (reason as { name?: unknown }).name === 'TimeoutError';
  if (timedOut) {
    return new TimeoutError(`the batch's signal timed out ${when} (AbortSignal.timeout): the batch was stopped`, { cause: reason });
  }
  return new CancelledError(when === 'before it started' ? 'the batch was cancelled before it started' : 'the batch was cancelled', {
    cause: reason,
  });
}
