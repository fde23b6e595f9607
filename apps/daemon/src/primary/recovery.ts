/**
 * What becomes of a chunk when its worker exits, as a decision table: a pure
 * function of what is known of the chunk then. A dead worker's chunks are
 * retried, split down until only the item that kills workers fails, and that
 * item fails once it has used its retries. The first death of a chunk whose
 * running item is unknown reruns it with each item reported as it starts, so
 * a poison item is named by its second death (worker deaths = retries + 1,
 * not log2(chunk) more). Also here: the errors an item gets when it fails for
 * its worker (crash, timeout, uncaught exception), and who pays for the
 * restart (fair-share.ts). A chunk that delivered its first items in parts
 * (results too large for one frame) before its worker died comes to the table
 * as what is left of it, rebased (ChunkMint.rest): the table never sees an
 * item that already has its result.
 */
import { ErrorCode, type WireError } from '@corepool/protocol';

/** What is known of a chunk when its worker exits. */
export interface ExitFacts {
  /** Items in the chunk. */
  readonly count: number;
  /** The worker had started it (it was the running chunk). */
  readonly begun: boolean;
  /** The item (within the chunk) the worker reported running; -1 if none. */
  readonly current: number;
  /** The item whose outcome was already delivered (timeout, uncaught exception); -1 if none. */
  readonly failedAt: number;
  /** Its items were reported as they started (the worker's death names the item). */
  readonly tracked: boolean;
  /** Deaths of its (single) item so far. */
  readonly attempts: number;
  /** Deaths the chunk lived through before its culprit was known. */
  readonly crashes: number;
  /** Runs its job allows an item after its worker died. */
  readonly retries: number;
  /** The worker said it left for a reason none of its chunks caused. */
  readonly recycled: boolean;
}

/** Items [from, from + count) of the chunk, run again as a new chunk with this history. */
export interface Piece {
  readonly from: number;
  readonly count: number;
  readonly tracked: boolean;
  readonly attempts: number;
  readonly crashes: number;
}

/** The rule that applied (one row of the table). */
export type RecoveryRow =
  /** An item already has its outcome: the items around it run again, nobody blamed. */
  | 'outcome-known'
  /** It had not begun, or its worker left through no fault of its own: queued again unchanged. */
  | 'requeue'
  /** The running item is known: it is blamed, the items around it run again. */
  | 'culprit-named'
  /** Several items, none known to run: all run again, tracked. */
  | 'track'
  /** Tracked, yet the worker died before its first item started: split in two. */
  | 'split'
  /** A single item, not reported started: blamed. */
  | 'culprit-alone';

export interface Recovery {
  readonly row: RecoveryRow;
  /**
   * Runs again, in input order, ahead of the job's queued chunks: the chunk
   * itself unchanged ('itself'), or new chunks over its items.
   */
  readonly requeue: 'itself' | readonly Piece[];
  /** An item that has now crashed its worker more than its retries allow: it fails with E_WORKER_CRASHED. */
  readonly crashed?: { readonly at: number; readonly attempts: number };
}

/** The decision table: what to do with a chunk whose worker exited. */
export function recover(f: ExitFacts): Recovery {
  if (f.failedAt >= 0) return { row: 'outcome-known', requeue: around(f, f.failedAt).flat() };
  if (f.recycled || !f.begun) return { row: 'requeue', requeue: 'itself' };
  if (f.current >= 0) {
    // The deaths the item's chunk lived through before the item was named count as its attempts.
    const blamed = blame(f.current, f.count === 1 ? f.attempts : f.crashes, f.retries);
    const [before, after] = around(f, f.current);
    return { row: 'culprit-named', requeue: [...before, ...blamed.requeue, ...after], ...(blamed.crashed && { crashed: blamed.crashed }) };
  }
  if (f.count > 1 && !f.tracked) {
    return { row: 'track', requeue: [{ from: 0, count: f.count, tracked: true, attempts: 0, crashes: f.crashes + 1 }] };
  }
  if (f.count > 1) {
    const half = Math.ceil(f.count / 2);
    return {
      row: 'split',
      requeue: [
        { from: 0, count: half, tracked: true, attempts: 0, crashes: 0 },
        { from: half, count: f.count - half, tracked: true, attempts: 0, crashes: 0 },
      ],
    };
  }
  const blamed = blame(0, f.attempts, f.retries);
  return { row: 'culprit-alone', ...blamed };
}

/** The items before and after item `i`, as fresh chunks. */
function around(f: ExitFacts, i: number): [Piece[], Piece[]] {
  const fresh = (from: number, count: number): Piece => ({ from, count, tracked: false, attempts: 0, crashes: 0 });
  return [i > 0 ? [fresh(0, i)] : [], i + 1 < f.count ? [fresh(i + 1, f.count - i - 1)] : []];
}

/** Item `at` killed its worker, after `attempts` earlier deaths: retried alone, or failed past its retries. */
function blame(at: number, attempts: number, retries: number): { requeue: Piece[]; crashed?: { at: number; attempts: number } } {
  const n = attempts + 1;
  if (n > retries) return { requeue: [], crashed: { at, attempts: n } };
  return { requeue: [{ from: at, count: 1, tracked: false, attempts: n, crashes: 0 }] };
}

/**
 * Who pays for a worker's restart: the client whose task made a recycled
 * worker unusable, else the client whose chunk it was running (crash,
 * timeout, cancel, memory limit); a worker retired on purpose is nobody's fault.
 */
export function restartPayer<T>(exit: { recycled: boolean; culprit: T | undefined; head: T | undefined; retired: boolean }): T | undefined {
  if (exit.recycled) return exit.culprit;
  return exit.retired ? undefined : exit.head;
}

/** `how`: how the worker's last exit came (exitText), said in the message. */
export function crashError(index: number, attempts: number, retries: number, how?: string): WireError {
  return {
    code: ErrorCode.E_WORKER_CRASHED,
    index,
    attempts,
    message:
      `item ${index} crashed its worker ${attempts} time${attempts === 1 ? '' : 's'} (retries: ${retries}` +
      // The first death of a chunk of several items did not name it: one more run found it.
      (attempts > retries + 1 ? '; the first time among the other items of its chunk, which ran again' : '') +
      ')' +
      (how === undefined ? '' : `; the last time, ${how}`),
  };
}

/**
 * How a worker's exit came, for the error of the item that caused it: a crash said only how often, and a
 * task out of memory or calling process.exit(3) was left to the daemon's log (a new user's case).
 */
export function exitText(killedFor: string | undefined, code: number | null, signal: string | null): string {
  if (killedFor === 'rss') return 'it went past the worker memory limit (--worker-rss-mb) and was killed';
  if (killedFor !== undefined) return `it was killed (${killedFor})`;
  // V8 aborts the process when a heap reaches its limit (--worker-heap-mb), as on any fatal error.
  if (signal === 'SIGABRT') return 'it aborted (signal SIGABRT), as a worker does when its heap reaches --worker-heap-mb';
  if (signal !== null) return `it was ended by signal ${signal}`;
  return `it exited with code ${code}`;
}

export function timeoutError(index: number, timeoutMs: number): WireError {
  return {
    code: ErrorCode.E_TIMEOUT,
    index,
    timeoutMs,
    message: `item ${index} ran longer than its timeout of ${timeoutMs} ms; its worker was replaced`,
  };
}

/** The item running when an exception escaped a task's async callback fails with it (no retry: it is the task's own error). */
export function uncaughtError(index: number, error: WireError): WireError {
  return {
    ...error,
    code: ErrorCode.E_TASK_FAILED,
    index,
    message: `uncaught exception in an async callback while item ${index} ran (its worker was replaced): ${error.message}`,
  };
}
