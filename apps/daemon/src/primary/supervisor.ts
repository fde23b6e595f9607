/**
 * Keeps one worker process per slot alive (node:cluster). A worker that exits
 * for any reason is reported (so its chunks can be retried) and replaced.
 * With an RSS limit, a watchdog reads each worker's resident memory from
 * /proc every RSS_WATCH_MS (every RSS_IDLE_WATCH_MS while no worker holds a
 * chunk) and SIGKILLs one past the limit: V8's heap limit
 * does not see off-heap memory (Buffers, native addons).
 * What a worker spawned ends with it (process-watch.ts); a worker stopped
 * (SIGSTOP) for STOPPED_MS is killed and replaced; a worker's output reaches
 * the daemon's within a budget (worker-output.ts). A fork that fails (no
 * descriptors, no processes left) leaves its slot empty and is retried with
 * backoff: the scheduler has fewer workers meanwhile.
 * Each worker belongs to a code generation: a rolling reload (reload.ts)
 * starts a new one, and every fork from then on (a crash's replacement
 * included: it loads the code on disk now) is of it. With a worker
 * initializer (--init), a worker that does not report ready within its
 * timeout, or exits before it does, is killed and its slot's later workers
 * of that generation come up failed (E_INIT_FAILED) without running it
 * again: no crash loop; the next reload tries it again.
 *
 * Just over 400 lines: a worker's whole life (fork, ready or init timeout,
 * exit, replacement with backoff, RSS and stop watchdogs) turns on the one
 * slot record; what can live apart does (process-watch.ts, worker-output.ts,
 * procfs.ts).
 */
import cluster, { type Worker } from 'node:cluster';
import { closeSync, openSync } from 'node:fs';
import { RSS_IDLE_WATCH_MS, RSS_WATCH_MS } from '@corepool/protocol/internal';
import { fileURLToPath } from 'node:url';
import type { Socket } from 'node:net';
import { CHANNEL_FD, Channel, GUARD_FD } from '../channel.js';
import { GuardOp, guardMessage, readGuardMessages } from '../guard-messages.js';
import { INIT_ENV, INIT_FAILED_ENV, type PrimaryToWorker, type ReadyMessage, type WithdrawnMessage, type WorkerToPrimary } from '../ipc.js';
import { ProcessWatch, WORKER_MARKER_ENV } from './process-watch.js';
import { MS_PER_TICK, RssReader, readStat } from './procfs.js';
import { OutputBudget, readBudget, relayOutput } from './worker-output.js';
import type { WorkerPool } from './worker-pool.js';
import type { Logger } from '../logger.js';

/** The primary's view of one worker process (what the scheduler keeps of it is in its lane, lane.ts). */
export interface WorkerSlot {
  /** Stable slot number (0..n-1, reserve workers last); a replacement keeps the slot. */
  readonly slot: number;
  /** A reserve worker (worker-pool.ts): kept for clients stuck behind long chunks. */
  readonly reserve: boolean;
  /** Unique per process generation, used as the state owner ("w:<id>"). */
  readonly id: number;
  readonly pid: number;
  ready: boolean;
  dead: boolean;
  /**
   * Sent SIGKILL, not yet exited: nothing more goes to it (send is false), and its state owner is let go
   * at once (onKilled). Its exit came a moment later: a queue item put in between went to its task's blocked
   * get, written to a channel nobody would read, and was lost (8 of 10 puts right after a timeout).
   */
  killed?: boolean;
  /** Workers this slot had before this one (each replaced after it exited). */
  readonly restarts: number;
  readonly worker: Worker;
  /** The data channel to this worker (chunks, results, shared-state traffic). */
  channel: Channel<WorkerToPrimary, PrimaryToWorker>;
  /** When the predecessor in this slot exited (for the replacement time), if this is a replacement. */
  readonly replacing?: number;
  /** Why the primary killed it, if it did ('rss', 'retired', 'timeout', 'cancel', ...). */
  killedFor?: string;
  /** Resident memory in bytes as the RSS watchdog last read it (absent while it is off: --worker-rss-mb 0). */
  rss?: number;
  /** The code generation it was forked in (each rolling reload starts a new one). */
  readonly generation: number;
  /** Its initializer failed: it fails every chunk with E_INIT_FAILED. */
  initError?: string;
  /** The primary's end of the orphan guard's socket: cut requests and withdrawals go out on it (guard-messages.ts). */
  guard?: Socket;
  /** Withdrawals asked of it and not answered yet: the guard's replies are read up to this many. */
  withdrawals: number;
}

export interface SupervisorEvents {
  onReady(w: WorkerSlot): void;
  onMessage(w: WorkerSlot, m: Exclude<WorkerToPrimary, ReadyMessage> | WithdrawnMessage): void;
  onExit(w: WorkerSlot, code: number | null, signal: string | null): void;
  /** The primary killed it (its exit follows): what it held of the shared state can be let go now. */
  onKilled?(w: WorkerSlot): void;
}

export interface SupervisorOptions {
  workers: number;
  /** Reserve workers beyond `workers` (worker-pool.ts), forked once the others are ready; none if absent. */
  reserve?: number;
  /** Extra node flags for workers (heap limit). */
  execArgv: string[];
  /** Kill a worker whose RSS passes this many bytes; 0: no watchdog. */
  rssLimit: number;
  /** Told when the watchdog kills a worker. */
  onRssKill?(w: WorkerSlot, rss: number): void;
  /** Told of what the daemon log should show: a JSON-able object whose first key is `event`. */
  onEvent?(e: { event: string } & Record<string, unknown>): void;
  /** Longest frame a worker may announce on its data channel; past it the worker is replaced. */
  maxFrame: number;
  /** Where workers' stdout and stderr lines go (event worker-output); absent: nowhere. */
  log?: Logger;
  /** The worker initializer's file: URL (--init), if any. */
  init?: string;
  /** How long a worker may take to report ready with an initializer before it is killed. */
  initTimeoutMs?: number;
}

/** A worker seen stopped (state T) this long is killed and replaced: it would hold its chunks forever. */
const STOPPED_MS = 3_000;
/** First wait before retrying a failed fork; it doubles up to FORK_RETRY_MAX_MS. */
const FORK_RETRY_MS = 100;
const FORK_RETRY_MAX_MS = 5_000;
/**
 * How long the primary watches a worker's CPU after its orphan guard reported a leftover spin, and the share of
 * a core it must use, runnable at the end: as the guard's (orphan-guard.ts), not most of a core, since several
 * workers may spin at once on a loaded machine.
 */
const LEFTOVER_CONFIRM_MS = 500;
/** A worker whose end of the channel closed and that has not exited this long after is killed (a task closed it). */
const CHANNEL_END_GRACE_MS = 1_000;
const LEFTOVER_CONFIRM_SHARE = 0.1;

/** Nothing more is queued past this many bytes on a guard socket whose worker does not read it (a task took fd 5). */
const GUARD_WRITE_LIMIT = 64 * 1024;
/** Descriptors a fork needs in the primary at once (a socket pair for each of stdout, stderr, IPC, data channel, orphan guard). */
const FORK_FDS = 10;
/** How long a stop waits for what the workers spawned to be killed. */
const END_WAIT_MS = 3_000;

/** Names this primary among all that ever ran, a reused pid included: the start of every worker's marker. */
const MARKER_PREFIX = `${process.pid}.${Date.now().toString(36)}`;

const WORKER_MAIN = fileURLToPath(new URL('../worker/main.js', import.meta.url));

/** Forks, watches and replaces the worker processes: the local WorkerPool. */
export class Supervisor implements WorkerPool<WorkerSlot> {
  readonly #opts: SupervisorOptions;
  readonly #events: SupervisorEvents;
  readonly #slots: (WorkerSlot | undefined)[];
  #stopping = false;
  #watchdog: NodeJS.Timeout | undefined;
  /** The watchdog's period now: RSS_WATCH_MS while a worker holds a chunk, RSS_IDLE_WATCH_MS while none does. */
  #watchMs = 0;
  /** The keys of the chunks sent to each live worker and not yet answered (done or fail): a frame a task forges cannot unbalance them. */
  readonly #held = new Map<WorkerSlot, Set<number>>();
  /** The watchdog's reader of each live worker (its /proc descriptor kept open); closed once the worker is seen dead. */
  readonly #rssReaders = new Map<WorkerSlot, RssReader>();
  readonly #watch: ProcessWatch;
  /** Per slot, one output budget for stdout and one for stderr (a replacement inherits what its predecessor spent). */
  readonly #budgets: { stdout: OutputBudget; stderr: OutputBudget }[];
  readonly #readBudget = readBudget();
  /** Failed forks in a row, per slot. */
  readonly #forkFailures: number[];
  /** Workers replaced, per slot. */
  readonly #slotRestarts: number[];
  readonly #retries = new Set<NodeJS.Timeout>();
  /** When each stopped worker was first seen stopped. */
  readonly #stoppedSince = new Map<WorkerSlot, number>();
  /** What waits for a worker's exit to be handled (stop). */
  readonly #exitWaiters = new Map<WorkerSlot, () => void>();
  /** Kills of what exited workers left behind, still running. */
  readonly #ending = new Set<Promise<unknown>>();
  #forks = 0;
  /** The code generation new workers are forked in. */
  #generation = 1;
  /** Per slot: why its initializer failed for good in this generation (hung, or the worker exited while it ran). */
  readonly #initFailure: (string | undefined)[];
  /** Workers replaced since start (crashes, timeouts, cancels). */
  restarts = 0;

  constructor(opts: SupervisorOptions, events: SupervisorEvents) {
    this.#opts = opts;
    this.#events = events;
    this.#slots = new Array(opts.workers + (opts.reserve ?? 0)).fill(undefined);
    this.#budgets = this.#slots.map(() => ({ stdout: new OutputBudget(), stderr: new OutputBudget() }));
    this.#forkFailures = this.#slots.map(() => 0);
    this.#slotRestarts = this.#slots.map(() => 0);
    this.#initFailure = this.#slots.map(() => undefined);
    this.#watch = new ProcessWatch((pids) => this.#checkStopped(pids));
    // fd 4 is the data channel (channel.ts); cluster's own IPC (fd 3) only keeps the lifecycle; fd 5 is
    // the orphan guard's, never written: it reads end-of-file once this process is gone.
    // args: [], or cluster hands workers the primary's argv (which may hold --token, readable by all in ps).
    cluster.setupPrimary({
      exec: WORKER_MAIN,
      args: [],
      execArgv: opts.execArgv,
      stdio: ['inherit', 'pipe', 'pipe', 'ipc', 'pipe', 'pipe'],
    });
  }

  /**
   * Forks every worker and resolves when all but the reserve ones are ready; those are forked
   * then, so that they do not take cores from the others' boot (the daemon listens sooner).
   */
  async start(): Promise<void> {
    const ready = this.#slots.slice(0, this.#opts.workers).map((_, slot) => new Promise<void>((resolve) => this.#fork(slot, resolve)));
    await Promise.all(ready);
    for (let slot = this.#opts.workers; slot < this.#slots.length; slot++) this.#fork(slot);
    this.#armWatchdog(RSS_IDLE_WATCH_MS);
  }

  /**
   * The RSS watch wakes the primary: every RSS_WATCH_MS while a worker runs
   * a chunk (what grows a worker's memory), every RSS_IDLE_WATCH_MS while all
   * are idle (only a callback a task left behind runs then). An idle daemon's
   * primary woke 10 times a second for it alone.
   */
  #armWatchdog(ms: number): void {
    if (this.#opts.rssLimit <= 0 || this.#stopping || ms === this.#watchMs) return;
    clearInterval(this.#watchdog);
    this.#watchMs = ms;
    this.#watchdog = setInterval(() => this.#watchRss(), ms);
    this.#watchdog.unref();
  }

  /**
   * Starts watching what the workers spawn (process-watch.ts). Called once the daemon listens: its thread
   * would boot beside the workers, and before the first client nothing they spawn can run but an
   * initializer's processes, which the thread finds by their marker all the same. A worker that exits
   * before then starts it at once.
   */
  watchProcesses(): void {
    this.#watch.start();
  }

  /** The code generation new workers are forked in. */
  generation(): number {
    return this.#generation;
  }

  /** Starts a new code generation (a reload): every later fork is of it, and runs the initializer again. */
  nextGeneration(): number {
    this.#initFailure.fill(undefined);
    return ++this.#generation;
  }

  /** The worker in `slot` now, if any (a slot waiting for a fork has none). */
  workerAt(slot: number): WorkerSlot | undefined {
    return this.#slots[slot];
  }

  /** Live workers, by slot. */
  workers(): WorkerSlot[] {
    return this.#slots.filter((w): w is WorkerSlot => w !== undefined);
  }

  /** Asks the worker to cut its running chunk short unless it is `spare`, on the guard socket its task cannot block (worker/cut-signal.ts). */
  cut(w: WorkerSlot, spare: number): void {
    // A worker whose task stopped reading the socket gets no more than its buffer: a cut is a favour, never owed.
    if (this.#guardOpen(w)) w.guard!.write(guardMessage(GuardOp.cut, spare));
  }

  /** Asks the worker's orphan guard to withdraw chunk `key` if it has not started (worker/withdraw-gate.ts); false if it cannot be asked. */
  withdraw(w: WorkerSlot, key: number): boolean {
    if (!this.#guardOpen(w)) return false;
    w.withdrawals++;
    w.guard!.write(guardMessage(GuardOp.withdraw, key));
    return true;
  }

  #guardOpen(w: WorkerSlot): boolean {
    return !w.dead && w.guard !== undefined && !w.guard.destroyed && w.guard.writableLength < GUARD_WRITE_LIMIT;
  }

  /** Sends a message to a worker; false if it is gone. */
  send(w: WorkerSlot, m: PrimaryToWorker): boolean {
    if (w.dead || w.killed === true) return false;
    let sent: boolean;
    try {
      sent = w.channel.send(m);
    } catch {
      return false;
    }
    if (sent && m.t === 'run') {
      let keys = this.#held.get(w);
      if (keys === undefined) this.#held.set(w, (keys = new Set()));
      keys.add(m.key);
      this.#armWatchdog(RSS_WATCH_MS);
    }
    return sent;
  }

  /** The worker is done with chunk `key` (answered, or withdrawn): its memory no longer counts it. */
  #unhold(w: WorkerSlot, key: number): void {
    const keys = this.#held.get(w);
    if (keys?.delete(key) === true && keys.size === 0) this.#held.delete(w);
  }

  /** Calls `fn` once the worker's held messages are handed on (channel.ts whenFlowing); at once for a dead one. */
  whenHeard(w: WorkerSlot, fn: () => void): void {
    if (w.dead) fn();
    else w.channel.whenFlowing(fn);
  }

  /**
   * Kills a worker at once; its exit is reported and it is replaced. Nothing on a dead worker (one since replaced included).
   * `reason` is what the log says it was killed for (the first reason given wins).
   */
  kill(w: WorkerSlot, reason?: string): void {
    if (w.dead) return;
    if (reason !== undefined) w.killedFor ??= reason;
    w.ready = false;
    try {
      w.worker.process.kill('SIGKILL');
    } catch {
      /* already gone */
    }
    if (w.killed === true) return;
    w.killed = true;
    this.#events.onKilled?.(w);
  }

  /** The worker said it exits by itself: its exit gets `cause` unless it was killed for another first. */
  leaving(w: WorkerSlot, cause: string): void {
    if (!w.dead) w.killedFor ??= cause;
  }

  /** Ends an idle worker on purpose (recycling); it is replaced like any other. Nothing on a dead worker. */
  retire(w: WorkerSlot, reason: 'retired' | 'reload' = 'retired'): void {
    if (w.dead) return;
    w.killedFor ??= reason;
    this.kill(w);
  }

  /**
   * The orphan guard says the worker spins with no chunk running (worker/run-state.ts). A task could write
   * that notice itself: the worker is taken for spinning only if it used most of a core over the next
   * LEFTOVER_CONFIRM_MS by /proc's count too. Then it goes as a worker's own `recycle` does: none of the chunks
   * waiting on it is blamed, the restart is charged to the app whose chunk ran there last (which task left the
   * work is not known for sure; that app's is the likeliest), and it is killed after the recycle's grace.
   */
  #confirmLeftover(w: WorkerSlot): void {
    const before = readStat(w.pid)?.cpuTicks;
    if (before === undefined) return;
    setTimeout(() => {
      if (w.dead || w.killedFor !== undefined) return;
      const after = readStat(w.pid);
      if (
        after === undefined ||
        after.state !== 'R' ||
        (after.cpuTicks - before) * MS_PER_TICK < LEFTOVER_CONFIRM_SHARE * LEFTOVER_CONFIRM_MS
      )
        return;
      this.#opts.onEvent?.({ event: 'worker-leftover-spin', slot: w.slot, pid: w.pid });
      this.#events.onMessage(w, {
        t: 'recycle',
        reason: 'work an earlier task left behind kept it busy with no chunk running',
        lastRan: true,
      });
    }, LEFTOVER_CONFIRM_MS).unref();
  }

  /** Pids of all live workers (written to the pid file). */
  pids(): number[] {
    return this.workers()
      .filter((w) => !w.dead)
      .map((w) => w.pid);
  }

  /** Calls `fn` once `w`'s exit has been handled (its last messages first). Only stop() waits, once per worker. */
  #whenExited(w: WorkerSlot, fn: () => void): void {
    if (w.dead) fn();
    else this.#exitWaiters.set(w, fn);
  }

  /** Kills every worker and resolves when all have exited. */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#watchdog);
    for (const reader of this.#rssReaders.values()) reader.close();
    this.#rssReaders.clear();
    for (const t of this.#retries) clearTimeout(t);
    const exits = this.workers()
      .filter((w) => !w.dead)
      .map(
        (w) =>
          new Promise<void>((resolve) => {
            this.#whenExited(w, resolve);
            // Idle workers exit on disconnect (and flush what they must); a busy one is killed after a short grace.
            try {
              w.worker.disconnect();
            } catch {
              /* already disconnected */
            }
            setTimeout(() => this.kill(w), 500).unref();
          }),
      );
    await Promise.all(exits);
    // What the workers spawned dies with them, before the daemon says it stopped.
    await Promise.race([Promise.all(this.#ending), new Promise((r) => setTimeout(r, END_WAIT_MS).unref())]);
    await this.#watch.close();
  }

  #checkStopped(pids: number[]): void {
    const now = Date.now();
    for (const w of this.workers()) {
      if (w.dead || !pids.includes(w.pid)) {
        this.#stoppedSince.delete(w);
        continue;
      }
      const since = this.#stoppedSince.get(w) ?? now;
      this.#stoppedSince.set(w, since);
      if (now - since < STOPPED_MS || w.killedFor === 'stopped') continue;
      w.killedFor = 'stopped';
      this.#opts.onEvent?.({ event: 'worker-stopped', slot: w.slot, pid: w.pid, stoppedMs: now - since });
      this.kill(w);
    }
  }

  #watchRss(): void {
    for (const [w, reader] of this.#rssReaders) {
      if (!w.dead) continue;
      reader.close();
      this.#rssReaders.delete(w);
    }
    for (const w of this.#held.keys()) if (w.dead) this.#held.delete(w);
    if (this.#held.size === 0) this.#armWatchdog(RSS_IDLE_WATCH_MS);
    for (const w of this.workers()) {
      if (w.dead || w.pid === 0) continue;
      let reader = this.#rssReaders.get(w);
      if (reader === undefined) this.#rssReaders.set(w, (reader = new RssReader(w.pid)));
      const rss = reader.read();
      if (rss === undefined) continue;
      w.rss = rss;
      if (rss > this.#opts.rssLimit) {
        w.killedFor = 'rss';
        this.#opts.onRssKill?.(w, rss);
        this.kill(w);
      }
    }
  }

  #fork(slot: number, onReady?: () => void, replacing?: number): void {
    this.#slots[slot] = undefined;
    if (this.#stopping) return;
    const marker = `${MARKER_PREFIX}:${++this.#forks}`;
    const generation = this.#generation;
    const initFailure = this.#initFailure[slot];
    const worker = this.#tryFork(slot, marker, initFailure);
    if (worker === undefined) {
      const attempt = ++this.#forkFailures[slot]!;
      const retry = setTimeout(() => {
        this.#retries.delete(retry);
        this.#fork(slot, onReady, replacing);
      }, retryDelay(attempt));
      this.#retries.add(retry);
      return;
    }
    const pid = worker.process.pid!;
    this.#watch.track(pid, marker);
    for (const name of ['stdout', 'stderr'] as const) {
      const log = this.#opts.log;
      relayOutput(worker.process[name]!, {
        write: (line) => log?.[name === 'stdout' ? 'info' : 'warn']({ event: 'worker-output', slot, pid, stream: name, line }),
        backlog: () => log?.backlog?.() ?? 0,
        print: this.#budgets[slot]![name],
        read: this.#readBudget,
        onDropped: (bytes) => this.#opts.onEvent?.({ event: 'worker-output-dropped', slot, pid, stream: name, bytes }),
      });
    }
    const w: WorkerSlot = {
      ...(replacing === undefined ? {} : { replacing }),
      slot,
      reserve: slot >= this.#opts.workers,
      id: worker.id,
      pid,
      ready: false,
      dead: false,
      restarts: this.#slotRestarts[slot]!,
      generation,
      worker,
      channel: undefined as unknown as Channel<WorkerToPrimary, PrimaryToWorker>,
      withdrawals: 0,
    };
    this.#slots[slot] = w;
    // An initializer that hangs (a loop stops the worker's own timers) must not hold the slot forever.
    const initTimer =
      this.#opts.init === undefined || initFailure !== undefined
        ? undefined
        : setTimeout(() => {
            if (w.ready || w.dead) return;
            const why = `the worker initializer ${this.#opts.init} did not finish within ${this.#opts.initTimeoutMs} ms`;
            this.#opts.onEvent?.({ event: 'worker-init-timeout', slot, pid, ms: this.#opts.initTimeoutMs });
            if (generation === this.#generation) this.#initFailure[slot] = why;
            w.killedFor = 'init timeout';
            this.kill(w);
          }, this.#opts.initTimeoutMs ?? 30_000);
    initTimer?.unref();
    // `ready` turns false again when the worker is killed: this says whether it ever got past its initializer.
    let reported = false;
    const onMessage = (m: WorkerToPrimary): void => {
      if (w.dead) return;
      if (m.t === 'ready') {
        clearTimeout(initTimer);
        reported = true;
        w.ready = true;
        if (m.initError !== undefined) {
          w.initError = m.initError.message;
          this.#opts.onEvent?.({ event: 'worker-init-failed', slot, pid, generation, error: m.initError.message.slice(0, 500) });
        }
        this.#forkFailures[slot] = 0;
        onReady?.();
        this.#events.onReady(w);
        return;
      }
      if (m.t === 'done' || m.t === 'fail') this.#unhold(w, m.key);
      this.#events.onMessage(w, m);
    };
    // Kept open until the worker exits: cut requests and withdrawals go out on it, their answers and the leftover notice come back.
    const guard = (worker.process.stdio[GUARD_FD as number] as Socket | null | undefined)?.on('error', () => {});
    if (guard !== undefined) {
      w.guard = guard;
      readGuardMessages(guard, {
        leftover: () => this.#confirmLeftover(w),
        owed: () => w.withdrawals,
        corrupt: (why) => {
          // A task wrote there: its answers can no longer be told from the guard's (guard-messages.ts).
          this.#opts.onEvent?.({ event: 'worker-guard-corrupt', slot: w.slot, pid: w.pid, why });
          w.killedFor ??= 'corrupt guard socket';
          this.kill(w);
        },
        answer: (key, outcome) => {
          w.withdrawals--;
          if (w.dead) return;
          if (outcome === 'withdrawn') this.#unhold(w, key);
          this.#events.onMessage(w, { t: 'withdrawn', key, outcome });
        },
      });
    }
    w.channel = new Channel<WorkerToPrimary, PrimaryToWorker>(worker.process.stdio[CHANNEL_FD] as Socket, onMessage, {
      maxFrame: this.#opts.maxFrame,
      onCorrupt: (why) => {
        // A task broke the worker's end of the channel: nothing it sends can be trusted any more.
        this.#opts.onEvent?.({ event: 'worker-channel-corrupt', slot: w.slot, pid: w.pid, why });
        w.killedFor ??= 'corrupt channel';
        this.kill(w);
      },
      // A worker that closes its end exits at once; one still running after the grace had a task close the
      // descriptor (fs.closeSync(4)): it can never be told of a chunk again, nor say what became of one. It was
      // left to look busy until its client left, its chunks without an answer (a hostile review).
      onEnd: () =>
        setTimeout(() => {
          if (w.dead || w.killed === true) return;
          this.#opts.onEvent?.({ event: 'worker-channel-closed', slot: w.slot, pid: w.pid });
          w.killedFor ??= 'channel closed';
          this.kill(w);
        }, CHANNEL_END_GRACE_MS).unref(),
    });
    // 'error' on a worker (a send to a dying process) must not crash the primary.
    worker.on('error', () => {});
    // Its exit is reported after the last of its messages (worker-pool.ts): those its channel holds
    // (paused while its client's share of a turn was spent, worker-state-link.ts) or has not read yet.
    worker.on('exit', (code, signal) => {
      if (w.dead) return;
      w.ready = false;
      w.channel.finish(() => exited(code, signal));
    });
    const exited = (code: number | null, signal: string | null): void => {
      if (w.dead) return;
      clearTimeout(initTimer);
      // Exited while its initializer ran (a process.exit in it): its successors must not run it again.
      if (!reported && initTimer !== undefined && w.killedFor === undefined && generation === this.#generation && !this.#stopping)
        this.#initFailure[slot] = `the worker exited (code ${code}, signal ${signal}) while its initializer ${this.#opts.init} ran`;
      w.dead = true;
      w.ready = false;
      this.#stoppedSince.delete(w);
      const ended = this.#watch.end(pid, marker).finally(() => this.#ending.delete(ended));
      this.#ending.add(ended);
      this.#events.onExit(w, code, signal);
      const waiter = this.#exitWaiters.get(w);
      this.#exitWaiters.delete(w);
      waiter?.();
      if (!this.#stopping) {
        this.restarts++;
        this.#slotRestarts[slot]!++;
        this.#fork(slot, onReady, Date.now());
      }
    };
  }

  /**
   * Forks a worker, or reports why it could not and returns undefined. A fork
   * that fails for want of descriptors or processes emits 'error' and never
   * 'exit', with no pid and no stdio; cluster would keep it listed forever.
   */
  #tryFork(slot: number, marker: string, initFailure: string | undefined): Worker | undefined {
    let worker: Worker | undefined;
    let error: NodeJS.ErrnoException | undefined;
    try {
      // Node leaks the stdio pipe handles of a fork that fails with EMFILE (one per stdio pipe per attempt, measured): look first.
      reserveDescriptors(FORK_FDS);
      const init =
        initFailure !== undefined
          ? { [INIT_FAILED_ENV]: initFailure }
          : this.#opts.init === undefined
            ? {}
            : { [INIT_ENV]: this.#opts.init };
      worker = cluster.fork({ COREPOOL_WORKER_SLOT: String(slot), [WORKER_MARKER_ENV]: marker, ...init });
    } catch (err) {
      error = err as NodeJS.ErrnoException;
    }
    const failures = this.#forkFailures[slot]!;
    const report = (): void =>
      this.#opts.onEvent?.({
        event: 'worker-fork-failed',
        slot,
        code: error?.code ?? 'EFORK',
        message: String(error?.message ?? 'fork failed'),
        attempt: failures + 1,
        retryInMs: retryDelay(failures + 1),
      });
    if (worker === undefined) {
      report();
    } else if (worker.process.pid === undefined || worker.process.stdio?.[CHANNEL_FD] == null) {
      // Its 'error' (with the errno) comes on the next tick.
      worker.on('error', (err: NodeJS.ErrnoException) => (error ??= err));
      if (worker.process.pid !== undefined) worker.process.kill('SIGKILL'); // started, but without its channel
      worker.process.stdio?.forEach((s) => s?.destroy());
      delete cluster.workers?.[worker.id];
      worker = undefined;
      setImmediate(report);
    }
    return worker;
  }
}

/** How long to wait after the `attempt`-th failed fork in a row. */
function retryDelay(attempt: number): number {
  return Math.min(FORK_RETRY_MAX_MS, FORK_RETRY_MS * 2 ** (attempt - 1));
}

/** Throws EMFILE (or ENFILE) unless `n` more descriptors can be opened now. */
function reserveDescriptors(n: number): void {
  const fds: number[] = [];
  try {
    for (let i = 0; i < n; i++) fds.push(openSync('/dev/null', 'r'));
  } finally {
    for (const fd of fds) closeSync(fd);
  }
}
