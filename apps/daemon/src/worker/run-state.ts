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

/** [0]: 1 while a chunk's items (or the initializer) run, else 0; [1]: how many chunks have begun so far. */
export const runState = new Int32Array(new SharedArrayBuffer(8));

// Taken at load: a task may replace Atomics' methods for later tasks.
const atomicsStore = Atomics.store;
const atomicsAdd = Atomics.add;

/** A chunk starts running. */
export function runBegins(): void {
  atomicsStore(runState, 0, 1);
  atomicsAdd(runState, 1, 1);
}

/**
 * The initializer runs. Not counted as a chunk: until one has run, nothing a task left can be
 * running, and work the initializer itself started in the background (a cache warmed up after it
 * returns) is not taken for it; else each replacement would run the initializer and be replaced.
 */
export function initBegins(): void {
  atomicsStore(runState, 0, 1);
}

/**
 * A chunk's items are done, or the initializer is: called at once, before any await, so that work
 * an item left in a microtask, which runs as soon as the chunk's code yields, is not taken for the
 * chunk's own.
 */
export function runEnds(): void {
  atomicsStore(runState, 0, 0);
}
