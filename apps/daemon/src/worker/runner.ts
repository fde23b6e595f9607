/**
 * Runs chunks in a worker, one at a time in arrival order: decodes the items,
 * calls the task on each, encodes the results, and reports per-item errors.
 * The primary may queue a second chunk behind the running one so the worker
 * never waits for a round trip between chunks.
 *
 * Every chunk gets an answer, whatever its tasks return or throw: a result
 * that cannot be read or encoded fails its own item (E_NOT_CLONEABLE), a
 * thrown value that cannot be described fails its item (E_TASK_FAILED), and
 * an exception in the runner itself fails the chunk's items (E_INTERNAL) or,
 * once part of its results are out, ends the worker so the primary retries
 * the rest. Before each chunk the realm guard readies the worker for the
 * chunk's app (realm-guard.ts); if it cannot, the worker runs nothing more.
 * Between items it looks for a request to cut the chunk short (cut-signal.ts).
 * A chunk withdrawn before it started runs elsewhere (withdraw-gate.ts): it is
 * skipped, the one chunk that gets no answer here.
 *
 * A little over 400 lines: the chunk loop and every way it answers (whole, in
 * parts, cut short, aborted, failed) share its state; the thrown-value
 * descriptions at the end are what those answers carry.
 */
import {
  ErrorCode,
  STEAL_AFTER_MS,
  decodeData,
  encodeCheckedData,
  encodeMessage,
  findUncloneable,
  toCorepoolError,
  type WireError,
} from '@corepool/protocol/internal';
import type { PrimaryToWorker, RunMessage, WorkerToPrimary } from '../ipc.js';
import { cachedTask, keepSource, loadTask } from './compile.js';
import { ChunkAbort } from './chunk-abort.js';
import { CUT_NOT_BEFORE_MS, cutAsked, cutExpire, cutIdle, cutSettled, cutSpared } from './cut-signal.js';
import { WorkerTaskContext, type StateFactory } from './context.js';
import type { RealmGuard } from './realm-guard.js';
import {
  ArrayPrototypeShift,
  MapPrototypeDelete,
  MapPrototypeGet,
  MapPrototypeSet,
  PromisePrototypeThen,
  SafePromise,
  SafeQueueMicrotask,
  SafeSetImmediate,
} from './primordials.js';
import { queueRun } from './run-queue.js';
import { runBegins, runEnds } from './run-state.js';
import type { TaskScope } from './task-scope.js';
import { taskStack } from './task-stack.js';
import { mayStart } from './withdraw-gate.js';

// From the end of one chunk to the realm guard's restore before the next, the runner calls no
// built-in a task may have replaced (Promise.prototype.then, queueMicrotask, Map.prototype.set...):
// a replaced one would wedge the worker for every later app. `await` on a native promise calls no
// user-visible `then`.
const now = performance.now.bind(performance);
// Captured at load: a task that replaces Array.isArray must not make the runner misread its own chunks.
const isArray = Array.isArray;

/** A chunk this long is followed by a read of pending messages; well under the primary's STEAL_AFTER_MS. */
const READ_BETWEEN_CHUNKS_MS = STEAL_AFTER_MS / 5;

/** What the runner needs from its process (main.ts). */
export interface RunnerHost {
  send(m: WorkerToPrimary): void;
  /** The worker cannot run the next chunk (its realm guard refused): report without blame, and exit. */
  refuse(reason: string, culprit: string | undefined): void;
  /** The runner itself failed past answering: exit, so the primary retries the chunk elsewhere. */
  fatal(err: unknown): void;
}

/** The item running now. */
export interface CurrentItem {
  key: number;
  i: number;
  index: number;
  realm: string;
}

/** What #items says of a chunk's run: how many items ran, whether it was cut short, and that it has ended. */
interface ItemsRan {
  i: number;
  cut: boolean;
  done: boolean;
}

/** Chunk runner for one worker process. */
export class Runner {
  readonly #send: (m: WorkerToPrimary) => void;
  readonly #host: RunnerHost;
  readonly #state: StateFactory;
  readonly #guard: RealmGuard;
  #queue: RunMessage[] = [];
  #running = false;
  /** Set once the worker refused a chunk or failed: it runs nothing more and is about to exit. */
  #closed = false;
  #aborts = new Map<number, ChunkAbort>();
  /** The abort of the chunk whose items run now. */
  #runningAbort: ChunkAbort | undefined;
  /** The key of the chunk running now (its items, or its task loading), if any. */
  #runningKey: number | undefined;
  #current: CurrentItem | undefined;
  /** Set once a part of the running chunk's results went out: it can no longer be answered as a whole. */
  #partsOut = false;
  /** Largest encoded result, and largest part of a chunk's results with their errors (see daemon.ts). */
  readonly #maxResultBytes: number;
  /** Brackets each item, so that what a task takes at the primary ends with it (task-scope.ts). */
  readonly #scope: TaskScope;

  constructor(host: RunnerHost, state: StateFactory, scope: TaskScope, guard: RealmGuard, maxResultBytes: number) {
    this.#host = host;
    this.#send = (m) => host.send(m);
    this.#state = state;
    this.#guard = guard;
    this.#scope = scope;
    this.#maxResultBytes = maxResultBytes;
  }

  /** The chunk and item running now, if any (an uncaught exception of its realm is blamed on it). */
  current(): CurrentItem | undefined {
    return this.#current;
  }

  /** Handles run and abort messages from the primary. */
  receive(m: PrimaryToWorker): void {
    if (m.t === 'run') {
      if (this.#closed) return;
      m.task = keepSource(m.task);
      MapPrototypeSet(this.#aborts, m.key, new ChunkAbort());
      const missed = queueRun(this.#queue, m);
      // Its `after` has ended and another chunk runs: this one waits for that one, which the primary must know.
      const running = this.#runningKey;
      if (missed !== undefined && running !== undefined && running !== missed) this.#send({ t: 'behind', key: m.key, running });
      if (!this.#running) {
        this.#running = true;
        // Not at once: the rest of the frames read with this one (an abort for it) are handled first.
        SafeQueueMicrotask(this.#drainNow);
      }
    } else if (m.t === 'abort') {
      const abort = MapPrototypeGet(this.#aborts, m.key) as ChunkAbort | undefined;
      abort?.abort();
      // The task running now is thrown away with its chunk: it takes no more queue items (task-scope.ts).
      if (abort !== undefined && abort === this.#runningAbort) this.#scope.abandon();
    }
  }

  readonly #drainNow = (): void => {
    void PromisePrototypeThen(this.#drain(), undefined, (err: unknown) => this.#fail(err));
  };

  async #drain(): Promise<void> {
    let next: RunMessage | undefined;
    while (!this.#closed && (next = ArrayPrototypeShift(this.#queue) as RunMessage | undefined) !== undefined) {
      if (!mayStart(next.key)) {
        // Withdrawn (withdraw-gate.ts): it runs on another worker, and the primary expects no answer from this one.
        MapPrototypeDelete(this.#aborts, next.key);
        cutSpared(next.key);
        continue;
      }
      const abort = (MapPrototypeGet(this.#aborts, next.key) as ChunkAbort | undefined) ?? new ChunkAbort();
      const t0 = now();
      this.#partsOut = false;
      runBegins();
      this.#runningKey = next.key;
      try {
        await this.#run(next, abort);
      } catch (err) {
        this.#current = undefined;
        this.#answerInternal(next, err);
      } finally {
        this.#runningKey = undefined;
        runEnds(); // a chunk that ended before its items (aborted, refused, its task not loaded) too
        MapPrototypeDelete(this.#aborts, next.key);
        cutSpared(next.key);
      }
      // Going from chunk to chunk takes only microtasks: no message is read in between. After a
      // long chunk an urgent chunk may have come, or (where the primary moves a chunk the old way,
      // withdraw-gate.ts) the abort of the next one, copied to an idle worker: read before the next
      // starts. (A withdrawal needs no read: the guard thread answers it.) That takes a poll phase of the
      // event loop: the chunk ran from a read of the channel, in this turn's poll phase, and one
      // immediate would run in this turn's check phase, before any further read (the stolen copy
      // then ran too: 4 of 8 runs of work-stealing.test). The second runs in the next turn's.
      if (this.#queue.length > 0 && now() - t0 >= READ_BETWEEN_CHUNKS_MS)
        await new SafePromise((r) => SafeSetImmediate(() => SafeSetImmediate(r)));
    }
    this.#running = false;
    runEnds();
    // A pending cut request is kept (it may be for the chunk this worker reads next) unless it spares none.
    cutIdle();
  }

  /** The runner threw while running `m`: its items fail with E_INTERNAL, or the worker ends if that cannot be said. */
  #answerInternal(m: RunMessage, err: unknown): void {
    if (this.#partsOut) {
      this.#fail(err);
      return;
    }
    try {
      const message = `the worker failed while running this item: ${describe(err)}`;
      const errors: WireError[] = [];
      for (let i = 0; i < m.count; i++) errors.push({ code: ErrorCode.E_INTERNAL, index: m.start + i, message });
      this.#send({ t: 'done', key: m.key, payload: encodeCheckedData(new Array<undefined>(m.count)), errors, ms: 0, aborted: false });
    } catch (again) {
      this.#fail(again);
    }
  }

  #fail(err: unknown): void {
    this.#closed = true;
    this.#queue.length = 0;
    this.#host.fatal(err);
  }

  async #run(m: RunMessage, abort: ChunkAbort): Promise<void> {
    const { key, count, offset, start, realm } = m;
    cutSpared(key);
    cutExpire();
    if (abort.aborted) {
      this.#send({ t: 'done', key, payload: encodeCheckedData([]), errors: [], ms: 0, aborted: true });
      return;
    }
    const refused = this.#guard.enter(realm);
    if (refused !== undefined) {
      this.#closed = true;
      this.#queue.length = 0;
      this.#host.refuse(refused, this.#guard.realm);
      return;
    }
    let fn;
    let items: unknown[];
    try {
      fn = cachedTask(m.task) ?? (await loadTask(m.task));
      items = decodeData(m.payload) as unknown[];
      if (!isArray(items) || items.length < offset + count) throw new Error('chunk payload is not an array of the announced length');
    } catch (err) {
      this.#send({ t: 'fail', key, error: toCorepoolError(err, ErrorCode.E_BAD_TASK).toWire() });
      return;
    }
    this.#runningAbort = abort;
    const results = new Array<unknown>(count);
    const errors: WireError[] = [];
    const t0 = now();
    // Not awaited when its items were all synchronous: the chunk's answer goes out before anything they queued as a
    // microtask runs (a loop there would hold the worker before the answer, and the chunk would never end).
    const run: ItemsRan = { i: 0, cut: false, done: false };
    const running = this.#guard.leftovers.within(realm, () => this.#items(m, fn, items, abort, results, errors, t0, run));
    if (!run.done) await running;
    const { i, cut } = run;
    this.#current = undefined;
    this.#runningAbort = undefined;
    // The chunk runs until its answer is out: encoding a result can take seconds (2 million keys), and the orphan
    // guard took a main thread busy with no chunk running for work a task left behind, replaced the worker and
    // ran the chunk again, for ever (a hostile review). Ended synchronously, before any await, all the same.
    try {
      const ms = now() - t0;
      // An aborted chunk's results are never delivered (its batch is gone, or its copy runs elsewhere).
      if (i < count && !cut) {
        this.#send({ t: 'done', key, payload: EMPTY, errors: [], ms, aborted: true });
        return;
      }
      // Cut short: the results of the items that ran; the primary queues the rest again.
      const ran = cut ? { cut: i } : undefined;
      if (cut) results.length = i;
      const payload = encodeResults(results, start, errors);
      if (payload.length + errorBytes(errors) <= this.#maxResultBytes) {
        this.#send({ t: 'done', key, errors, ms, aborted: false, ...ran, payload });
        return;
      }
      this.#sendInParts(key, results, start, errors, ms, ran);
    } finally {
      runEnds();
    }
  }

  /**
   * Calls the task on each of the chunk's items, in order, inside their realm's context (#run enters
   * it); stops at an abort, or after an item once the chunk is asked to be cut short. Says in `ran`
   * how many items ran, and that it is done: synchronously, before its first await, when no item
   * returned a promise.
   */
  async #items(
    m: RunMessage,
    fn: (item: unknown, ctx: unknown) => unknown,
    items: unknown[],
    abort: ChunkAbort,
    results: unknown[],
    errors: WireError[],
    t0: number,
    ran: ItemsRan,
  ): Promise<void> {
    const { key, count, offset, start, realm } = m;
    const leftovers = this.#guard.leftovers;
    const ctx = new WorkerTaskContext(abort, this.#state);
    // One record per chunk, updated per item: read synchronously (an uncaught exception, a stray callback), never kept.
    const item: CurrentItem = { key, i: 0, index: start, realm };
    let i = 0;
    for (; i < count; i++) {
      if (abort.aborted) break;
      // Cut short for a client that arrived (cut-signal.ts): after one item at least, so every chunk moves its batch on.
      if (i > 0 && cutAsked(key) && now() - t0 >= CUT_NOT_BEFORE_MS) {
        cutSettled();
        ran.cut = true;
        break;
      }
      const index = start + i;
      if (m.timed) this.#send({ t: 'started', key, i });
      ctx.index = index;
      item.i = i;
      item.index = index;
      this.#current = item;
      this.#scope.begin();
      try {
        let r = leftovers.call(fn, items[offset + i], ctx);
        if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function')
          r = await (r as PromiseLike<unknown>);
        results[i] = r;
      } catch (err) {
        errors.push(taskError(err, index, m.task.kind === 'source'));
      } finally {
        this.#scope.end();
        leftovers.end();
      }
    }
    ran.i = i;
    ran.done = true;
  }

  /**
   * Results too large for one frame go out in parts, in index order, each
   * within the limit (halving ranges until they fit). One result over the limit
   * on its own can never be delivered: its item fails with E_TOO_LARGE, as an
   * item too large to send does, and the other items of the chunk still go out.
   */
  #sendInParts(key: number, results: unknown[], start: number, errors: WireError[], ms: number, ran: { cut: number } | undefined): void {
    const limit = this.#maxResultBytes;
    const total = results.length;
    // Every part is made before any goes out: a chunk is answered whole or not at all (see #answerInternal).
    const parts: { from: number; count: number; payload: Uint8Array; errors: WireError[] }[] = [];
    const walk = (from: number, to: number): void => {
      const payload = encodeCheckedData(results.slice(from, to));
      const errs = errors.filter((e) => e.index !== undefined && e.index >= start + from && e.index < start + to);
      if (payload.length + errorBytes(errs) <= limit) {
        parts.push({ from, count: to - from, payload, errors: errs });
      } else if (to - from === 1) {
        const index = start + from;
        parts.push({
          from,
          count: 1,
          payload: UNDEFINED_RESULT,
          errors: [
            {
              code: ErrorCode.E_TOO_LARGE,
              index,
              message: `the result of item ${index} is ${payload.length} bytes encoded, over the daemon's limit of ${limit} bytes for one result (a frame less its envelope)`,
            },
          ],
        });
      } else {
        const mid = (from + to) >>> 1;
        walk(from, mid);
        walk(mid, to);
      }
    };
    walk(0, total);
    const last = parts.pop()!;
    this.#partsOut = true;
    for (const { payload, ...part } of parts) this.#send({ t: 'part', key, ...part, ms: (ms * part.count) / total, payload });
    this.#send({
      t: 'done',
      key,
      from: last.from,
      errors: last.errors,
      ms: (ms * last.count) / total,
      aborted: false,
      ...ran,
      payload: last.payload,
    });
  }
}

const EMPTY = encodeCheckedData([]);
const UNDEFINED_RESULT = encodeCheckedData([undefined]);

/** Encoded size of a chunk's errors (they travel in the same frame as its results). */
function errorBytes(errors: WireError[]): number {
  return errors.length === 0 ? 0 : encodeMessage(errors).length;
}

/**
 * Encodes results, turning each one that cannot be sent into an E_NOT_CLONEABLE
 * error for its item: one that is not structured-cloneable, and one that cannot
 * even be read (a getter, toJSON or Proxy trap that throws, nesting past the
 * stack). In that slow path each sendable result is replaced by a decoded copy
 * of itself, so that the final encoding reads only plain data and cannot throw.
 */
function encodeResults(results: unknown[], start: number, errors: WireError[]): Uint8Array {
  try {
    if (findUncloneable(results) === undefined) return encodeCheckedData(results);
  } catch {
    /* a result that cannot be read: look at each */
  }
  for (let i = 0; i < results.length; i++) {
    const index = start + i;
    let reason: string;
    try {
      const bad = findUncloneable(results[i]);
      if (bad === undefined) {
        results[i] = decodeData(encodeCheckedData(results[i]));
        continue;
      }
      reason = `${bad.replace(/^\$/, 'result')} (results must be structured-cloneable)`;
    } catch (err) {
      reason = `reading it threw: ${describe(err)}`;
    }
    results[i] = undefined;
    errors.push({ code: ErrorCode.E_NOT_CLONEABLE, index, message: `the result of item ${index} cannot be sent back: ${reason}` });
  }
  errors.sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
  return encodeCheckedData(results);
}

/** A thrown value in a few words, never throwing itself (its message may be a getter, its toString may throw). */
function describe(err: unknown): string {
  try {
    if (err instanceof Error) return cut(`${String(err.name)}: ${String(err.message)}`);
    return cut(String(err));
  } catch {
    return 'a value that cannot be described';
  }
}

const CLOSURE_HINT =
  'the task function must be self-contained: it runs in a worker process and cannot use variables from its closure or module scope ' +
  '(pass values in the items, use globals, import() inside the function, or use task(moduleUrl, exportName))';

/** Where require() and import() in a source task look: the daemon's working directory, both of them. */
function resolutionHint(): string {
  return (
    `source tasks resolve require() and import() from the daemon's working directory (${process.cwd()}: its node_modules ` +
    "and those of the directories above it; the directory `corepool daemon start` ran in, the app's own with connect({ spawn: true })); " +
    'start the daemon where the package is installed, pass an absolute path, or use task(moduleUrl, exportName), whose imports resolve from its own file'
  );
}

function isModuleNotFound(err: Error): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND';
}

/** Helpers a compiler inserts at module scope when it down-levels a function (TypeScript's tslib names, Babel's). */
const COMPILER_HELPER =
  /^(__awaiter|__generator|__assign|__rest|__spread\w*|__read|__values|__extends|__decorate|__param|__classPrivate\w+|__asyncValues|__await|__asyncGenerator|__makeTemplateObject|_asyncToGenerator|_regeneratorRuntime|regeneratorRuntime|_defineProperty|_objectSpread\d*|_toConsumableArray|_slicedToArray)$/;

function compilerHint(helper: string): string {
  return (
    `${helper} is a helper your compiler put outside the function when it down-levelled it (TypeScript below target ES2017 ` +
    'rewrites async functions into __awaiter calls; ES2015 and below rewrite spreads and classes too): compile with "target": "ES2017" ' +
    'or later (ES2022 recommended), or move the function into a module and use task(moduleUrl, exportName)'
  );
}

/** Longest error text (message, stack) sent back: an error's text must not cost a frame its results. */
const MAX_ERROR_TEXT = 16 * 1024;

function cut(text: string): string {
  return text.length <= MAX_ERROR_TEXT ? text : `${text.slice(0, MAX_ERROR_TEXT)}... (${text.length - MAX_ERROR_TEXT} more characters)`;
}

/** A thrown value as a TaskError wire form, with the closure hint for a source task's ReferenceError. */
export function taskError(err: unknown, index: number, fromSource: boolean): WireError {
  try {
    return describeThrown(err, index, fromSource);
  } catch {
    // Its message or name is a getter that throws, its prototype a Proxy trap that throws...
    return { code: ErrorCode.E_TASK_FAILED, index, message: 'task threw a value that cannot be described (reading it threw)' };
  }
}

function describeThrown(err: unknown, index: number, fromSource: boolean): WireError {
  if (err instanceof Error) {
    let message = String(err.message);
    // Node's require stack names a made-up file (<cwd>/noop.js): the hint says where it looked instead.
    if (fromSource && isModuleNotFound(err)) message = `${message.replace(/\nRequire stack:[\s\S]*$/, '')}\n${resolutionHint()}`;
    if (fromSource && err instanceof ReferenceError && / is not defined$/.test(message)) {
      const missing = /^(\S+) is not defined$/.exec(message)?.[1] ?? '';
      message = `${message}: ${COMPILER_HELPER.test(missing) ? compilerHint(missing) : CLOSURE_HINT}`;
    }
    const w: WireError = {
      code: ErrorCode.E_TASK_FAILED,
      index,
      message: cut(message),
      remoteName: cut(String(err.name)),
    };
    if (err.stack !== undefined) w.remoteStack = cut(taskStack(String(err.stack)));
    // What an app branches on (ENOENT, its own codes): the TaskError's `code` is E_TASK_FAILED, so it goes apart.
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' || typeof code === 'number') w.remoteCode = cut(String(code));
    return w;
  }
  let thrown: string;
  try {
    thrown = typeof err === 'string' ? err : (JSON.stringify(err) ?? String(err));
  } catch {
    thrown = String(err);
  }
  return {
    code: ErrorCode.E_TASK_FAILED,
    index,
    message: `task threw a non-Error value: ${thrown.slice(0, 1000)}`,
    thrown: thrown.slice(0, 10_000),
  };
}
