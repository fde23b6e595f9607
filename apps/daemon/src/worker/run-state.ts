/**
 * What this worker's main thread is doing, as the orphan guard's thread
 * (orphan-guard.ts) sees it: memory shared between the two, written here with
 * two atomic stores per chunk (no message, no system call). A main thread that
 * burns CPU while no chunk runs and none begins is running something an earlier
 * task left behind (a loop under a timers/promises timer, a microtask loop):
 * nothing of the worker's own can do that for seconds. The thread, which no
 * task blocks, tells the primary, which replaces the worker without blaming the
 * chunks that wait on it (supervisor.ts).
 */

/** [0]: 1 while a chunk (or the initializer) runs, else 0; [1]: how many have begun so far. */
export const runState = new Int32Array(new SharedArrayBuffer(8));

// Taken at load: a task may replace Atomics' methods for later tasks.
const atomicsStore = Atomics.store;
const atomicsAdd = Atomics.add;

/** A chunk (or the initializer) starts running. */
export function runBegins(): void {
  atomicsStore(runState, 0, 1);
  atomicsAdd(runState, 1, 1);
}

/** Nothing runs any more: the worker waits for its next chunk. */
export function runEnds(): void {
  atomicsStore(runState, 0, 0);
}
