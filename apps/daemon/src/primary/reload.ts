/**
 * Rolling reload (`corepool daemon reload`): replaces this daemon's workers
 * one at a time, without losing or failing a chunk, so that changed module
 * tasks (and a changed --init module) take effect without stopping the apps.
 *
 * The rule (docs/design.md, "Rolling reload"):
 *  - A reload starts a new code generation. Every worker forked from then on
 *    is of it; every batch opened from then on is pinned to it (scheduler.ts),
 *    and a batch runs only on workers of the generation it is pinned to, so
 *    no batch runs on a mix of old and new code.
 *  - The old workers are replaced in slot order. Each one takes no new chunk,
 *    finishes those it holds, and exits; its successor (new generation) is
 *    forked, and the next old worker goes only once that one is ready.
 *  - The last old worker stays while batches pinned to the old code are
 *    live, so they can finish there. That wait is bounded by the grace
 *    (`--grace-ms`, RELOAD_GRACE_MS): past it the batches still pinned fail
 *    with E_CODE_REPLACED (the app reruns them, on the new code) and the
 *    reload goes on. A batch whose client never ends it (an open stream)
 *    cannot hold a reload forever, and nothing waits on anything that waits
 *    on it: no deadlock.
 *  - A worker that dies meanwhile is replaced in the new generation (it loads
 *    the code on disk now); a batch left with no worker of its generation
 *    fails with E_CODE_REPLACED at once (scheduler.ts).
 * One reload at a time (E_RELOAD_RUNNING); a stop ends it (E_SHUTTING_DOWN).
 * Progress shows in `daemon status` (`reload`) and in the log.
 */
import {
  MAX_RELOAD_GRACE_MS,
  RELOAD_GRACE_MS,
  ReloadRunningError,
  ShuttingDownError,
  BadArgumentError,
  type ReloadResult,
} from '@corepool/protocol/internal';
import type { Supervisor, WorkerSlot } from './supervisor.js';

/** How often the reload looks at its workers again. */
const POLL_MS = 25;

/** What a reload needs from the scheduler. */
export interface ReloadScheduler {
  drain(w: WorkerSlot): void;
  pinnedBelow(generation: number): number;
  failPinned(generation: number, why: string): number;
}

/** Rolling reloads of one daemon's workers, one at a time. */
export class Reloader {
  readonly #supervisor: Supervisor;
  readonly #scheduler: ReloadScheduler;
  readonly #log: (e: { event: string } & Record<string, unknown>) => void;
  #progress: { generation: number; replaced: number; total: number } | undefined;
  #stopped = false;

  constructor(supervisor: Supervisor, scheduler: ReloadScheduler, log: (e: { event: string } & Record<string, unknown>) => void) {
    this.#supervisor = supervisor;
    this.#scheduler = scheduler;
    this.#log = log;
  }

  /** The reload under way, for `daemon status`. */
  get progress(): { generation: number; replaced: number; total: number } | undefined {
    return this.#progress === undefined ? undefined : { ...this.#progress };
  }

  /** The daemon stops: a reload under way ends with E_SHUTTING_DOWN, and none starts. */
  stop(): void {
    this.#stopped = true;
  }

  /** Replaces every worker of an older generation; resolves when the last successor is ready. */
  async reload(graceMs: number = RELOAD_GRACE_MS): Promise<ReloadResult> {
    if (this.#stopped) throw new ShuttingDownError('the daemon is stopping: no reload');
    if (this.#progress !== undefined)
      throw new ReloadRunningError(
        `a reload is already running (generation ${this.#progress.generation}, ${this.#progress.replaced} of ${this.#progress.total} workers replaced)`,
      );
    if (graceMs > MAX_RELOAD_GRACE_MS) throw new BadArgumentError(`graceMs must be at most ${MAX_RELOAD_GRACE_MS}, got ${graceMs}`);
    const t0 = Date.now();
    const sup = this.#supervisor;
    const generation = sup.nextGeneration();
    const slots = sup
      .workers()
      .filter((w) => w.generation < generation)
      .map((w) => w.slot);
    const progress = { generation, replaced: 0, total: slots.length };
    this.#progress = progress;
    this.#log({ event: 'reload-start', generation, workers: slots.length, graceMs });
    const deadline = t0 + graceMs;
    let batchesFailed = 0;
    try {
      for (const slot of slots) {
        const old = sup.workerAt(slot);
        // Replaced already (it died, and its successor is of the new generation): wait for that one.
        if (old !== undefined && old.generation < generation) {
          // The last old worker stays while batches pinned to the old code may finish on it (the grace bounds that).
          while (this.#oldWorkers(generation) === 1 && this.#scheduler.pinnedBelow(generation) > 0 && Date.now() < deadline)
            await this.#tick();
          if (this.#oldWorkers(generation) <= 1 && this.#scheduler.pinnedBelow(generation) > 0) {
            batchesFailed += this.#scheduler.failPinned(
              generation,
              `a reload replaced the code this batch ran on, and it did not finish on it within the reload's grace (${graceMs} ms): rerun it`,
            );
          }
          this.#scheduler.drain(old);
          while (!old.dead) {
            // Past the grace, batches that keep even a non-last old worker busy fail too: the reload must end.
            if (Date.now() >= deadline && this.#scheduler.pinnedBelow(generation) > 0)
              batchesFailed += this.#scheduler.failPinned(
                generation,
                `a reload replaced the code this batch ran on (grace ${graceMs} ms over): rerun it`,
              );
            await this.#tick();
          }
        }
        // Its successor: forked at its exit (a failed fork is retried by the supervisor), of the new generation.
        for (;;) {
          const w = sup.workerAt(slot);
          if (w !== undefined && w.generation >= generation && w.ready) break;
          await this.#tick();
        }
        progress.replaced++;
        this.#log({ event: 'reload-progress', generation, replaced: progress.replaced, total: progress.total, slot });
      }
    } finally {
      this.#progress = undefined;
    }
    const initFailed = sup.workers().filter((w) => w.generation === generation && w.initError !== undefined).length;
    const result: ReloadResult = { generation, replaced: progress.replaced, ms: Date.now() - t0, batchesFailed, initFailed };
    this.#log({ event: 'reload-done', ...result });
    return result;
  }

  /** Live workers of a generation older than `generation`. */
  #oldWorkers(generation: number): number {
    return this.#supervisor.workers().filter((w) => !w.dead && w.generation < generation).length;
  }

  async #tick(): Promise<void> {
    await new Promise((r) => setTimeout(r, POLL_MS));
    if (this.#stopped) throw new ShuttingDownError('the daemon stopped during the reload');
  }
}
