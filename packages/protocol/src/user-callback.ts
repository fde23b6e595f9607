/**
 * Calls code the user handed us (a subscriber, an onProgress callback) from
 * inside our own message loop. What it throws must not unwind that loop: the
 * rest of a coalesced frame (other replies, other pushes) would be dropped
 * and the requests waiting on them would hang. So the error is rethrown on a
 * tick of its own, where it is an uncaught exception like one thrown from any
 * other callback (process 'uncaughtException' sees it), and the loop goes on.
 */

/** Calls `fn(...args)`; a throw becomes an uncaught exception on its own tick. */
export function callUser<A extends unknown[]>(fn: (...args: A) => unknown, ...args: A): void {
  try {
    fn(...args);
  } catch (err) {
    rethrowLater(err);
  }
}

/** Rethrows `err` outside the current call stack. */
export function rethrowLater(err: unknown): void {
  setImmediate(() => {
    throw err;
  });
}
