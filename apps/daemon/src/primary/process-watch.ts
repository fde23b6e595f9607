/**
 * Ends what a worker spawned when the worker ends. node:cluster cannot fork a
 * worker into its own process group, so a task's `sleep 1000`, detached child
 * or shell pipeline would outlive its worker (and a graceful stop). Each worker
 * is forked with a marker in its environment (inherited by what it spawns
 * unless a task replaces env), and a thread (process-watch-thread.ts) keeps
 * each worker's descendants from /proc; once the worker has exited, `end`
 * SIGKILLs both. It also reports workers stopped by SIGSTOP.
 *
 * Out of reach: a process a task spawns with a replaced environment and that
 * leaves the worker's tree (double fork) within one watch period (1 s).
 *
 * The thread is started once the daemon listens (start()): booting it costs
 * about what a worker's boot does, and on a start it would compete with the
 * workers and the primary for the cores. What is tracked or ended before waits
 * for it, in order.
 */
import { Worker } from 'node:worker_threads';
import { startHelperThread } from '../helper-thread.js';

/** Environment variable marking a worker and everything it spawns: "<primary pid>.<its start>:<fork number>". */
export const WORKER_MARKER_ENV = 'COREPOOL_WORKER';

/** Messages to the watch thread. */
export type ToWatch = { t: 'track'; pid: number; entry: string } | { t: 'end'; id: number; pid: number; entry: string };
/** Messages from the watch thread. */
export type FromWatch = { t: 'stopped'; pids: number[] } | { t: 'ended'; id: number; killed: number[] };

/** Watches worker process trees on a thread of its own. */
export class ProcessWatch {
  #thread: Worker | undefined;
  /** Messages for the thread before it is started. */
  readonly #waiting: ToWatch[] = [];
  readonly #onStopped: (pids: number[]) => void;
  readonly #ends = new Map<number, (killed: number[]) => void>();
  #nextId = 1;
  #dead = false;

  /** `onStopped` hears, every watch period while any is, which tracked workers are stopped (state T); then once none. */
  constructor(onStopped: (pids: number[]) => void) {
    this.#onStopped = onStopped;
  }

  /** Starts the thread (once); what was tracked or ended before reaches it now. */
  start(): void {
    if (this.#thread !== undefined || this.#dead) return;
    const thread = startHelperThread(
      () => new Worker(new URL('./process-watch-thread.js', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: 32 } }),
    );
    this.#thread = thread;
    thread.unref();
    thread.on('message', (m: FromWatch) => {
      if (m.t === 'stopped') {
        this.#onStopped(m.pids);
      } else {
        this.#ends.get(m.id)?.(m.killed);
        this.#ends.delete(m.id);
      }
    });
    // Without the thread, spawned processes outlive their workers as they did before it: not a reason to stop serving.
    thread.on('error', () => this.#settleAll());
    thread.on('exit', () => {
      this.#dead = true;
      this.#settleAll();
    });
    for (const m of this.#waiting.splice(0)) this.#post(m);
  }

  /** The environment entry of a worker's marker. */
  static entry(marker: string): string {
    return `${WORKER_MARKER_ENV}=${marker}`;
  }

  /** Starts remembering the descendants of a live worker. */
  track(pid: number, marker: string): void {
    this.#post({ t: 'track', pid, entry: ProcessWatch.entry(marker) });
  }

  /** Kills what an exited worker left behind; resolves with the pids killed. Starts the thread if need be. */
  end(pid: number, marker: string): Promise<number[]> {
    this.start();
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#ends.set(id, resolve);
      if (!this.#post({ t: 'end', id, pid, entry: ProcessWatch.entry(marker) })) this.#settleAll();
    });
  }

  /** Stops the thread (or keeps it from starting). */
  async close(): Promise<void> {
    this.#dead = true;
    this.#waiting.length = 0;
    await this.#thread?.terminate();
    this.#settleAll();
  }

  #post(m: ToWatch): boolean {
    if (this.#dead) return false;
    if (this.#thread === undefined) {
      this.#waiting.push(m);
      return true;
    }
    try {
      this.#thread.postMessage(m);
      return true;
    } catch {
      return false;
    }
  }

  #settleAll(): void {
    for (const resolve of this.#ends.values()) resolve([]);
    this.#ends.clear();
  }
}
