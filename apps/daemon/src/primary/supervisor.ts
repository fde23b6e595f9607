/**
 * Keeps one worker process per slot alive (node:cluster). A worker that exits
 * for any reason is reported (so its chunks can be retried) and replaced.
 * With an RSS limit, a watchdog reads each worker's resident memory from
 * /proc every RSS_WATCH_MS and SIGKILLs one past the limit: V8's heap limit
 * does not see off-heap memory (Buffers, native addons).
 */
import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import { RSS_WATCH_MS } from '@corepool/protocol';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import { CHANNEL_FD, Channel } from '../channel.js';
import type { PrimaryToWorker, ReadyMessage, WorkerToPrimary } from '../ipc.js';
import { PRIMARY_SOURCES, SourceLru } from '../source-lru.js';

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
  /** Source-task hashes this process has been sent and still keeps (source-lru.ts). */
  readonly knownTasks: SourceLru;
  tasksDone: number;
  chunksDone: number;
  readonly worker: Worker;
  /** The data channel to this worker (chunks, results, shared-state traffic). */
  channel: Channel<WorkerToPrimary, PrimaryToWorker>;
  /** When the predecessor in this slot exited (for the replacement time), if this is a replacement. */
  readonly replacing?: number;
  /** Highest RSS (bytes) the watchdog saw. */
  peakRss: number;
  /** Why the primary killed it, if it did ('rss', 'retired'). */
  killedFor?: string;
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
  /** Kill a worker whose RSS passes this many bytes; 0: no watchdog. */
  rssLimit: number;
  /** Told when the watchdog kills a worker. */
  onRssKill?(w: WorkerSlot, rss: number): void;
}

const WORKER_MAIN = fileURLToPath(new URL('../worker/main.js', import.meta.url));

/** Forks, watches and replaces the worker processes. */
export class Supervisor {
  readonly #opts: SupervisorOptions;
  readonly #events: SupervisorEvents;
  readonly #slots: (WorkerSlot | undefined)[];
  #stopping = false;
  #watchdog: NodeJS.Timeout | undefined;
  /** Workers replaced since start (crashes, timeouts, cancels). */
  restarts = 0;

  constructor(opts: SupervisorOptions, events: SupervisorEvents) {
    this.#opts = opts;
    this.#events = events;
    this.#slots = new Array(opts.workers).fill(undefined);
    // fd 4 is the data channel (channel.ts); cluster's own IPC (fd 3) only keeps the lifecycle.
    // args: [], or cluster hands workers the primary's argv (which may hold --token, readable by all in ps).
    cluster.setupPrimary({ exec: WORKER_MAIN, args: [], execArgv: opts.execArgv, stdio: ['inherit', 'inherit', 'inherit', 'ipc', 'pipe'] });
  }

  /** Forks every worker and resolves when all are ready. */
  async start(): Promise<void> {
    const ready = this.#slots.map((_, slot) => new Promise<void>((resolve) => this.#fork(slot, resolve)));
    await Promise.all(ready);
    if (this.#opts.rssLimit > 0) {
      this.#watchdog = setInterval(() => this.#watchRss(), RSS_WATCH_MS);
      this.#watchdog.unref();
    }
  }

  /** Live workers, by slot. */
  get workers(): WorkerSlot[] {
    return this.#slots.filter((w): w is WorkerSlot => w !== undefined);
  }

  /** Sends a message to a worker; false if it is gone. */
  send(w: WorkerSlot, m: PrimaryToWorker): boolean {
    if (w.dead) return false;
    try {
      return w.channel.send(m);
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

  /** Ends an idle worker on purpose (recycling); it is replaced like any other. */
  retire(w: WorkerSlot): void {
    w.killedFor ??= 'retired';
    this.kill(w);
  }

  /** Pids of all live workers (written to the pid file). */
  pids(): number[] {
    return this.workers.filter((w) => !w.dead).map((w) => w.pid);
  }

  /** Kills every worker and resolves when all have exited. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#watchdog);
    const exits = this.workers
      .filter((w) => !w.dead)
      .map((w) => new Promise<void>((resolve) => {
        w.worker.once('exit', () => resolve());
        // Idle workers exit on disconnect (and flush what they must); a busy one is killed after a short grace.
        try {
          w.worker.disconnect();
        } catch {
          /* already disconnected */
        }
        setTimeout(() => this.kill(w), 500).unref();
      }));
    await Promise.all(exits);
  }

  #watchRss(): void {
    for (const w of this.workers) {
      if (w.dead || w.pid === 0) continue;
      const rss = readRss(w.pid);
      if (rss === undefined) continue;
      if (rss > w.peakRss) w.peakRss = rss;
      if (rss > this.#opts.rssLimit) {
        w.killedFor = 'rss';
        this.#opts.onRssKill?.(w, rss);
        this.kill(w);
      }
    }
  }

  #fork(slot: number, onReady?: () => void, replacing?: number): void {
    const worker = cluster.fork({ COREPOOL_WORKER_SLOT: String(slot) });
    const w: WorkerSlot = {
      ...(replacing === undefined ? {} : { replacing }),
      peakRss: 0,
      slot,
      id: worker.id,
      pid: worker.process.pid ?? 0,
      ready: false,
      dead: false,
      assigned: [],
      knownTasks: new SourceLru(PRIMARY_SOURCES),
      tasksDone: 0,
      chunksDone: 0,
      worker,
      channel: undefined as unknown as Channel<WorkerToPrimary, PrimaryToWorker>,
    };
    this.#slots[slot] = w;
    const onMessage = (m: WorkerToPrimary): void => {
      if (w.dead) return;
      if (m.t === 'ready') {
        w.ready = true;
        onReady?.();
        this.#events.onReady(w);
        return;
      }
      this.#events.onMessage(w, m);
    };
    w.channel = new Channel<WorkerToPrimary, PrimaryToWorker>(worker.process.stdio[CHANNEL_FD] as Socket, onMessage);
    // 'error' on a worker (a send to a dying process) must not crash the primary.
    worker.on('error', () => {});
    worker.on('exit', (code, signal) => {
      if (w.dead) return;
      w.dead = true;
      w.ready = false;
      this.#events.onExit(w, code, signal);
      if (!this.#stopping) {
        this.restarts++;
        this.#fork(slot, onReady, Date.now());
      }
    });
  }
}

/** Resident set size of a process in bytes (Linux /proc), or undefined. */
function readRss(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}
