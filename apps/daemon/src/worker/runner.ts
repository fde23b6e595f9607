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
  findUncloneable,
  toCorepoolError,
  type WireError,
} from '@corepool/protocol';
import type { PrimaryToWorker, RunMessage, WorkerToPrimary } from '../ipc.js';
import { cachedTask, keepSource, loadTask } from './compile.js';
import { ChunkAbort } from './chunk-abort.js';
import { TaskContext, type StateFactory } from './context.js';

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

  constructor(send: (m: WorkerToPrimary) => void, state: StateFactory) {
    this.#send = send;
    this.#state = state;
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
      try {
        let r = fn(items[offset + i], ctx);
        if (r !== null && typeof r === 'object' && typeof (r as PromiseLike<unknown>).then === 'function') r = await r;
        results[i] = r;
      } catch (err) {
        errors.push(taskError(err, index, m.task.kind === 'source'));
      }
    }
    this.#current = undefined;
    const ms = performance.now() - t0;
    this.#send({ t: 'done', key, payload: encodeResults(results, start, errors), errors, ms, aborted: i < count });
  }
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

/** A thrown value as a TaskError wire form, with the closure hint for a source task's ReferenceError. */
export function taskError(err: unknown, index: number, fromSource: boolean): WireError {
  if (err instanceof Error) {
    let message = err.message;
    if (fromSource && err instanceof ReferenceError && / is not defined$/.test(message)) {
      message = `${message}: ${CLOSURE_HINT}`;
    }
    const w: WireError = {
      code: ErrorCode.E_TASK_FAILED,
      index,
      message,
      remoteName: err.name,
    };
    if (err.stack !== undefined) w.remoteStack = err.stack;
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
