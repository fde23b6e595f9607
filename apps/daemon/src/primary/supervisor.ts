/**
 * Keeps one worker process per slot alive (node:cluster). A worker that exits
 * for any reason is reported (so its chunks can be retried) and replaced.
 */
import cluster, { type Worker } from 'node:cluster';
import { fileURLToPath } from 'node:url';
import type { PrimaryToWorker, ReadyMessage, WorkerToPrimary } from '../ipc.js';

/** The primary's view of one worker process. */
export interface WorkerSlot {
  /** Stable slot number (0..n-1); a replacement keeps the slot. */
  readonly slot: number;
  /** Unique per process generation, used as the state owner ("w:<id>"). */
  readonly id: number;
  readonly pid: number;
  ready: boolean;
  dead: boolean;
  /** Chunks sent to this worker, in the order it runs them. */
  readonly assigned: { key: number }[];
  /** Source-task hashes this process has compiled. */
  readonly knownTasks: Set<string>;
  tasksDone: number;
  chunksDone: number;
  readonly worker: Worker;
}

export interface SupervisorEvents {
  onReady(w: WorkerSlot): void;
  onMessage(w: WorkerSlot, m: Exclude<WorkerToPrimary, ReadyMessage>): void;
  onExit(w: WorkerSlot, code: number | null, signal: string | null): void;
}

export interface SupervisorOptions {
  workers: number;
  /** Extra node flags for workers (heap limit). */
  execArgv: string[];
}

const WORKER_MAIN = fileURLToPath(new URL('../worker/main.js', import.meta.url));

/** Forks, watches and replaces the worker processes. */
export class Supervisor {
  readonly #opts: SupervisorOptions;
  readonly #events: SupervisorEvents;
  readonly #slots: (WorkerSlot | undefined)[];
  #stopping = false;
  /** Workers replaced since start (crashes, timeouts, cancels). */
  restarts = 0;

  constructor(opts: SupervisorOptions, events: SupervisorEvents) {
    this.#opts = opts;
    this.#events = events;
    this.#slots = new Array(opts.workers).fill(undefined);
    cluster.setupPrimary({ exec: WORKER_MAIN, serialization: 'advanced', execArgv: opts.execArgv });
  }

  /** Forks every worker and resolves when all are ready. */
  async start(): Promise<void> {
    const ready = this.#slots.map((_, slot) => new Promise<void>((resolve) => this.#fork(slot, resolve)));
    await Promise.all(ready);
  }

  /** Live workers, by slot. */
  get workers(): WorkerSlot[] {
    return this.#slots.filter((w): w is WorkerSlot => w !== undefined);
  }

  /** Sends a message to a worker; false if it is gone. */
  send(w: WorkerSlot, m: PrimaryToWorker): boolean {
    if (w.dead || !w.worker.isConnected()) return false;
    try {
      w.worker.send(m);
      return true;
    } catch {
      return false;
    }
  }

  /** Kills a worker at once; its exit is reported and it is replaced. */
  kill(w: WorkerSlot): void {
    if (w.dead) return;
    w.ready = false;
    try {
      w.worker.process.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }

  /** Pids of all live workers (written to the pid file). */
  pids(): number[] {
    return this.workers.filter((w) => !w.dead).map((w) => w.pid);
  }

  /** Kills every worker and resolves when all have exited. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const exits = this.workers
      .filter((w) => !w.dead)
      .map((w) => new Promise<void>((resolve) => {
        w.worker.once('exit', () => resolve());
        this.kill(w);
      }));
    await Promise.all(exits);
  }

  #fork(slot: number, onReady?: () => void): void {
    const worker = cluster.fork({ COREPOOL_WORKER_SLOT: String(slot) });
    const w: WorkerSlot = {
      slot,
      id: worker.id,
      pid: worker.process.pid ?? 0,
      ready: false,
      dead: false,
      assigned: [],
      knownTasks: new Set(),
      tasksDone: 0,
      chunksDone: 0,
      worker,
    };
    this.#slots[slot] = w;
    worker.on('message', (m: WorkerToPrimary) => {
      if (m.t === 'ready') {
        w.ready = true;
        onReady?.();
        this.#events.onReady(w);
        return;
      }
      this.#events.onMessage(w, m);
    });
    // 'error' on a worker (a send to a dying process) must not crash the primary.
    worker.on('error', () => {});
    worker.on('exit', (code, signal) => {
      if (w.dead) return;
      w.dead = true;
      w.ready = false;
      this.#events.onExit(w, code, signal);
      if (!this.#stopping) {
        this.restarts++;
        this.#fork(slot, onReady);
      }
    });
  }
}
