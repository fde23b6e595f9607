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
 */
import { Worker } from 'node:worker_threads';

/** Environment variable marking a worker and everything it spawns: "<primary pid>.<its start>:<fork number>". */
export const WORKER_MARKER_ENV = 'COREPOOL_WORKER';

/** Messages to the watch thread. */
export type ToWatch = { t: 'track'; pid: number; entry: string } | { t: 'end'; id: number; pid: number; entry: string };
/** Messages from the watch thread. */
export type FromWatch = { t: 'stopped'; pids: number[] } | { t: 'ended'; id: number; killed: number[] };

/** Watches worker process trees on a thread of its own. */
export class ProcessWatch {
  readonly #thread: Worker;
  readonly #ends = new Map<number, (killed: number[]) => void>();
  #nextId = 1;
  #dead = false;

  /** `onStopped` hears, every watch period, which tracked workers are stopped (state T). */
  constructor(onStopped: (pids: number[]) => void) {
    this.#thread = new Worker(new URL('./process-watch-thread.js', import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: 32 } });
    this.#thread.unref();
    this.#thread.on('message', (m: FromWatch) => {
      if (m.t === 'stopped') {
        onStopped(m.pids);
      } else {
        this.#ends.get(m.id)?.(m.killed);
        this.#ends.delete(m.id);
      }
    });
    // Without the thread, spawned processes outlive their workers as they did before it: not a reason to stop serving.
    this.#thread.on('error', () => this.#settleAll());
    this.#thread.on('exit', () => {
      this.#dead = true;
      this.#settleAll();
    });
  }

  /** The environment entry of a worker's marker. */
  static entry(marker: string): string {
    return `${WORKER_MARKER_ENV}=${marker}`;
  }

  /** Starts remembering the descendants of a live worker. */
  track(pid: number, marker: string): void {
    this.#post({ t: 'track', pid, entry: ProcessWatch.entry(marker) });
  }

  /** Kills what an exited worker left behind; resolves with the pids killed. */
  end(pid: number, marker: string): Promise<number[]> {
    const id = this.#nextId++;
    return new Promise((resolve) => {
      this.#ends.set(id, resolve);
      if (!this.#post({ t: 'end', id, pid, entry: ProcessWatch.entry(marker) })) this.#settleAll();
    });
  }

  /** Stops the thread. */
  async close(): Promise<void> {
    await this.#thread.terminate();
    this.#settleAll();
  }

  #post(m: ToWatch): boolean {
    if (this.#dead) return false;
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
