/**
 * Runs chunks in a worker, one at a time in arrival order: decodes the items,
 * calls the task on each, encodes the results, and reports per-item errors.
 * The primary may queue a second chunk behind the running one so the worker
 * never waits for a round trip between chunks.
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
} from '@corepool/protocol';
import type { PrimaryToWorker, RunMessage, WorkerToPrimary } from '../ipc.js';
import { cachedTask, keepSource, loadTask } from './compile.js';
import { ChunkAbort } from './chunk-abort.js';
import { TaskContext, type StateFactory } from './context.js';
import type { TaskScope } from './task-scope.js';

const RESOLVED: Promise<void> = Promise.resolve();

/** A chunk this long is followed by a read of pending messages; well under the primary's STEAL_AFTER_MS. */
const READ_BETWEEN_CHUNKS_MS = STEAL_AFTER_MS / 5;

/** Chunk runner for one worker process. */
export class Runner {
  readonly #send: (m: WorkerToPrimary) => void;
  readonly #state: StateFactory;
  #queue: RunMessage[] = [];
  #running = false;
  #aborts = new Map<number, ChunkAbort>();
  #current: { key: number; i: number; index: number } | undefined;
  /** Largest encoded result, and largest part of a chunk's results with their errors (see daemon.ts). */
  readonly #maxResultBytes: number;
  /** Brackets each item, so that what a task takes at the primary ends with it (task-scope.ts). */
  readonly #scope: TaskScope;

  constructor(send: (m: WorkerToPrimary) => void, state: StateFactory, scope: TaskScope, maxResultBytes: number) {
    this.#send = send;
    this.#state = state;
    this.#scope = scope;
    this.#maxResultBytes = maxResultBytes;
  }

  /** The chunk and item running now, if any (an uncaught exception is blamed on it). */
  current(): { key: number; i: number; index: number } | undefined {
    return this.#current;
  }

  /** Handles run and abort messages from the primary. */
  receive(m: PrimaryToWorker): void {
    if (m.t === 'run') {
      keepSource(m.task);
      this.#aborts.set(m.key, new ChunkAbort());
      if (m.urgent) this.#queue.unshift(m);
      else this.#queue.push(m);
      if (!this.#running) {
        this.#running = true;
        // Not at once: the rest of the frames read with this one (an abort for it) are handled first.
        void RESOLVED.then(this.#drainNow);
      }
    } else if (m.t === 'abort') {
      this.#aborts.get(m.key)?.abort();
    }
  }

  readonly #drainNow = (): Promise<void> => this.#drain();

  async #drain(): Promise<void> {
    let next: RunMessage | undefined;
    while ((next = this.#queue.shift()) !== undefined) {
      const abort = this.#aborts.get(next.key) ?? new ChunkAbort();
      const t0 = performance.now();
      try {
        await this.#run(next, abort);
      } finally {
        this.#aborts.delete(next.key);
      }
      // Going from chunk to chunk takes only microtasks: no message is read in between. After a
      // long chunk the primary may have handed the next one to an idle worker (work stealing):
      // one turn of the event loop reads its abort (or an urgent chunk) before the next starts.
      if (this.#queue.length > 0 && performance.now() - t0 >= READ_BETWEEN_CHUNKS_MS) await new Promise((r) => setImmediate(r));
    }
    this.#running = false;
  }

  async #run(m: RunMessage, abort: ChunkAbort): Promise<void> {
    const { key, count, offset, start } = m;
    if (abort.aborted) {
      this.#send({ t: 'done', key, payload: encodeCheckedData([]), errors: [], ms: 0, aborted: true });
      return;
    }
    let fn;
    let items: unknown[];
    try {
      fn = cachedTask(m.task) ?? (await loadTask(m.task));
      items = decodeData(m.payload) as unknown[];
      if (!Array.isArray(items) || items.length < offset + count) throw new Error('chunk payload is not an array of the announced length');
    } catch (err) {
      this.#send({ t: 'fail', key, error: toCorepoolError(err, ErrorCode.E_BAD_TASK).toWire() });
      return;
    }
    const ctx = new TaskContext(abort, this.#state);
    const results = new Array<unknown>(count);
    const errors: WireError[] = [];
    const t0 = performance.now();
    let i = 0;
    for (; i < count; i++) {
      if (abort.aborted) break;
      const index = start + i;
      if (m.timed) this.#send({ t: 'started', key, i });
      ctx.index = index;
      this.#current = { key, i, index };
      this.#scope.begin();
      try {
        let r = fn(items[offset + i], ctx);
        if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') r = await r;
        results[i] = r;
      } catch (err) {
        errors.push(taskError(err, index, m.task.kind === 'source'));
      } finally {
        this.#scope.end();
      }
    }
    this.#current = undefined;
    const ms = performance.now() - t0;
    // An aborted chunk's results are never delivered (its batch is gone, or its copy runs elsewhere).
    if (i < count) {
      this.#send({ t: 'done', key, payload: EMPTY, errors: [], ms, aborted: true });
      return;
    }
    const payload = encodeResults(results, start, errors);
    if (payload.length + errorBytes(errors) <= this.#maxResultBytes) {
      this.#send({ t: 'done', key, payload, errors, ms, aborted: false });
      return;
    }
    this.#sendInParts(key, results, start, errors, ms);
  }

  /**
   * Results too large for one frame go out in parts, in index order, each
   * within the limit (halving ranges until they fit). One result over the limit
   * on its own can never be delivered: its item fails with E_TOO_LARGE, as an
   * item too large to send does, and the other items of the chunk still go out.
   */
  #sendInParts(key: number, results: unknown[], start: number, errors: WireError[], ms: number): void {
    const limit = this.#maxResultBytes;
    const total = results.length;
    // One part is held back: the last one goes out in `done`.
    let held: { from: number; count: number; payload: Uint8Array; errors: WireError[] } | undefined;
    const emit = (part: NonNullable<typeof held>): void => {
      if (held !== undefined) this.#send({ t: 'part', key, ...held, ms: (ms * held.count) / total });
      held = part;
    };
    const walk = (from: number, to: number): void => {
      const payload = encodeCheckedData(results.slice(from, to));
      const errs = errors.filter((e) => e.index !== undefined && e.index >= start + from && e.index < start + to);
      if (payload.length + errorBytes(errs) <= limit) {
        emit({ from, count: to - from, payload, errors: errs });
      } else if (to - from === 1) {
        const index = start + from;
        emit({
          from, count: 1, payload: UNDEFINED_RESULT, errors: [{
            code: ErrorCode.E_TOO_LARGE, index,
            message: `the result of item ${index} is ${payload.length} bytes encoded, over the daemon's limit of ${limit} bytes for one result (a frame less its envelope)`,
          }],
        });
      } else {
        const mid = (from + to) >>> 1;
        walk(from, mid);
        walk(mid, to);
      }
    };
    walk(0, total);
    const last = held!;
    this.#send({ t: 'done', key, from: last.from, payload: last.payload, errors: last.errors, ms: (ms * last.count) / total, aborted: false });
  }
}

const EMPTY = encodeCheckedData([]);
const UNDEFINED_RESULT = encodeCheckedData([undefined]);

/** Encoded size of a chunk's errors (they travel in the same frame as its results). */
function errorBytes(errors: WireError[]): number {
  return errors.length === 0 ? 0 : encodeMessage(errors).length;
}

/** Encodes results, turning each one that cannot be cloned into an E_NOT_CLONEABLE error. */
function encodeResults(results: unknown[], start: number, errors: WireError[]): Uint8Array {
  if (findUncloneable(results) !== undefined) {
    for (let i = 0; i < results.length; i++) {
      const bad = findUncloneable(results[i]);
      if (bad === undefined) continue;
      results[i] = undefined;
      errors.push({
        code: ErrorCode.E_NOT_CLONEABLE,
        index: start + i,
        message: `the result of item ${start + i} cannot be sent back: ${bad.replace(/^\$/, 'result')} (results must be structured-cloneable)`,
      });
    }
    errors.sort((a, b) => (a.index ?? 0) - (b.index ?? 0));
  }
  try {
    return encodeCheckedData(results);
  } catch (err) {
    // Last resort: something findUncloneable let through; fail the items one by one.
    return encodeCheckedData(
      results.map((r, i) => {
        try {
          encodeCheckedData(r);
          return r;
        } catch {
          errors.push({ code: ErrorCode.E_NOT_CLONEABLE, index: start + i, message: `the result of item ${start + i} cannot be encoded: ${(err as Error).message}` });
          return undefined;
        }
      }),
    );
  }
}

const CLOSURE_HINT =
  'the task function must be self-contained: it runs in a worker process and cannot use variables from its closure or module scope ' +
  '(pass values in the items, use globals, import() inside the function, or use task(moduleUrl, exportName))';

/** Longest error text (message, stack) sent back: an error's text must not cost a frame its results. */
const MAX_ERROR_TEXT = 16 * 1024;

function cut(text: string): string {
  return text.length <= MAX_ERROR_TEXT ? text : `${text.slice(0, MAX_ERROR_TEXT)}... (${text.length - MAX_ERROR_TEXT} more characters)`;
}

/** A thrown value as a TaskError wire form, with the closure hint for a source task's ReferenceError. */
export function taskError(err: unknown, index: number, fromSource: boolean): WireError {
  if (err instanceof Error) {
    let message = String(err.message);
    if (fromSource && err instanceof ReferenceError && / is not defined$/.test(message)) {
      message = `${message}: ${CLOSURE_HINT}`;
    }
    const w: WireError = {
      code: ErrorCode.E_TASK_FAILED,
      index,
      message: cut(message),
      remoteName: cut(String(err.name)),
    };
    if (err.stack !== undefined) w.remoteStack = cut(String(err.stack));
    return w;
  }
  let thrown: string;
  try {
    thrown = typeof err === 'string' ? err : (JSON.stringify(err) ?? String(err));
  } catch {
    thrown = String(err);
  }
  return { code: ErrorCode.E_TASK_FAILED, index, message: `task threw a non-Error value: ${thrown.slice(0, 1000)}`, thrown: thrown.slice(0, 10_000) };
}
