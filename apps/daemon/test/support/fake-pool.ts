/**
 * A WorkerPool without processes, for unit tests of the scheduler: it records
 * what the scheduler sends, kills and retires, and the test plays the workers
 * (their messages, their exits and their replacements).
 */
import type { ChunkCommand, PoolEvents, PoolWorker, WorkerPool } from '../../src/primary/worker-pool.js';
import type { RunMessage } from '../../src/ipc.js';

export interface FakeWorker extends PoolWorker {
  slot: number;
  ready: boolean;
  dead: boolean;
  /** Which process of its slot (0 for the first). */
  incarnation: number;
  /** Its code generation (rolling reload), in a pool made with one. */
  generation?: number;
  /** A reserve worker (the last slots of a pool made with some). */
  reserve?: boolean;
}

const isRun = (m: ChunkCommand): m is RunMessage => m.t === 'run';

export class FakePool implements WorkerPool<FakeWorker> {
  readonly #slots: FakeWorker[];
  readonly sent: { w: FakeWorker; m: ChunkCommand }[] = [];
  readonly killed: FakeWorker[] = [];
  readonly retired: FakeWorker[] = [];
  /** Workers whose channel refuses what is sent (send returns false). */
  readonly refusing = new Set<FakeWorker>();
  /** Told of exits and readiness (set once the scheduler exists). */
  events: PoolEvents<FakeWorker> | undefined;
  /** With code generations (a rolling reload): the one new workers and new batches get; the test moves it. */
  codeGeneration: number | undefined;
  generation?: () => number;

  /** `n` workers and `reserve` reserve workers after them, ready; with `codeGeneration`, of that code generation. */
  constructor(n: number, codeGeneration?: number, reserve = 0) {
    this.codeGeneration = codeGeneration;
    if (codeGeneration !== undefined) this.generation = () => this.codeGeneration!;
    this.#slots = Array.from({ length: n + reserve }, (_, slot) => ({
      slot,
      ready: true,
      dead: false,
      incarnation: 0,
      ...this.#gen(),
      ...(slot >= n ? { reserve: true } : {}),
    }));
  }

  #gen(): { generation?: number } {
    return this.codeGeneration === undefined ? {} : { generation: this.codeGeneration };
  }

  workers(): readonly FakeWorker[] {
    return this.#slots;
  }

  send(w: FakeWorker, m: ChunkCommand): boolean {
    if (w.dead || this.refusing.has(w)) return false;
    this.sent.push({ w, m });
    return true;
  }

  /** As the contract says: nothing on a dead worker, or on one already dying. */
  kill(w: FakeWorker): void {
    if (w.dead || this.killed.includes(w)) return;
    w.ready = false;
    this.killed.push(w);
  }

  retire(w: FakeWorker): void {
    this.retired.push(w);
    this.kill(w);
  }

  /** The worker exits: the scheduler is told, and a new worker (not ready yet) takes its slot. */
  exit(w: FakeWorker): FakeWorker {
    w.dead = true;
    w.ready = false;
    this.events?.workerExit(w);
    const next = {
      slot: w.slot,
      ready: false,
      dead: false,
      incarnation: w.incarnation + 1,
      ...this.#gen(),
      ...(w.reserve === true ? { reserve: true } : {}),
    };
    this.#slots[this.#slots.indexOf(w)] = next;
    return next;
  }

  /** The worker exits and its slot is not refilled (a shrinking pool, as a lost remote daemon would be). */
  exitForGood(w: FakeWorker): void {
    w.dead = true;
    w.ready = false;
    this.events?.workerExit(w);
    this.#slots.splice(this.#slots.indexOf(w), 1);
    this.events?.slotRemoved(w.slot);
  }

  /** The worker reports ready. */
  ready(w: FakeWorker): void {
    w.ready = true;
    this.events?.workerReady(w);
  }

  /** Run messages sent to `w`, in order. */
  runs(w: FakeWorker): RunMessage[] {
    return this.sent
      .filter((s) => s.w === w)
      .map((s) => s.m)
      .filter(isRun);
  }

  /** Keys of the chunks `w` was told to abort. */
  aborts(w: FakeWorker): number[] {
    return this.sent.filter((s) => s.w === w && s.m.t === 'abort').map((s) => s.m.key);
  }
}
