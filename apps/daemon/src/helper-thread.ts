/**
 * Starts one of corepool's own helper threads (the primary's process watch,
 * each worker's orphan guard) without V8's memory reducer. Such a thread
 * boots with ~4 MB of heap and then idles; an isolate whose heap grew and
 * then went quiet gets, ~8 s later, up to three full collections to hand
 * pages back (1-7 ms each on the thread, measured with --trace-gc, plus V8's
 * marking threads). They land on cores the tasks are using, in the first
 * seconds of every daemon and every worker. 10,000 x 1 ms maps on 2 workers,
 * timed 5-10 s after the daemon started: efficiency 0.9795 -> 0.9822 (medians
 * of 10 interleaved pairs). The price: 2-3.5 MB more resident memory per
 * process (62-65 MB a worker), the pages the collections would have freed.
 *
 * V8's flags are per process, and an isolate reads this one once, as its heap
 * is set up on the new thread: the flag is off from just before the Worker is
 * made until the thread is online (or gone), then on again for every isolate
 * made later. The process's own isolate keeps its reducer (while the flag is
 * off, which in a worker lasts until the first chunk's items are done, it
 * starts nothing new); a process started with the flag given either way keeps
 * it as given.
 */
import type { Worker } from 'node:worker_threads';

/** Captured at load, before any task's code can replace it: a worker loads this module as it boots. */
const builtin = process.getBuiltinModule.bind(process);

/** Set by the node command line: the flag is left as given. */
const GIVEN = /(^|\s)--(no-)?memory[-_]reducer(\s|=|$)/.test([...process.execArgv, process.env.NODE_OPTIONS ?? ''].join(' '));

/**
 * Calls `start` with V8's memory reducer off, and turns it back on once the
 * thread it made is online or has exited. The flag setter is taken as the
 * thread is started (in a worker, before its first chunk: the flag goes back
 * on later, when a task may have replaced v8's export); `setFlags` replaces
 * it in tests.
 */
export function startHelperThread(start: () => Worker, setFlags: (flags: string) => void = builtin('node:v8').setFlagsFromString): Worker {
  if (GIVEN) return start();
  setFlags('--no-memory-reducer');
  let thread: Worker;
  try {
    thread = start();
  } catch (err) {
    setFlags('--memory-reducer');
    throw err;
  }
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    setFlags('--memory-reducer');
  };
  thread.once('online', restore);
  thread.once('exit', restore);
  return thread;
}
