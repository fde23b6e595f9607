/**
 * `ctx`, the second argument of every task: the batch's abort signal, the
 * item's input index, and the same shared-state objects a client app gets,
 * talking to the primary over IPC. The shape is the protocol's TaskContext,
 * the one the SDK's TaskFunction type promises.
 */
import type { Dict, Lock, Queue, TaskContext, Value, ValueOptions } from '@corepool/protocol';
import type { ChunkAbort } from './chunk-abort.js';
import { initState } from './initializer.js';

/** Makes shared-state handles for tasks (wired to the IPC transport in main.ts). */
export type StateFactory = Pick<TaskContext, 'value' | 'queue' | 'dict' | 'lock'>;

/** The `ctx` argument of a task; the runner sets `index` before each item. */
export class WorkerTaskContext implements TaskContext {
  readonly #abort: ChunkAbort;
  /** Input index of the item being run. */
  index = 0;
  /** This worker's process id. */
  readonly pid = process.pid;
  readonly #state: StateFactory;

  constructor(abort: ChunkAbort, state: StateFactory) {
    this.#abort = abort;
    this.#state = state;
  }

  /** What the worker initializer returned (`daemon start --init`); undefined without one. */
  get init(): unknown {
    return initState.value;
  }

  /** Aborts when the batch is cancelled or its client goes away. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** The shared Value `name` (see Client.value); a subscription still open when the task ends is dropped. */
  value<T = unknown>(name: string, options?: ValueOptions<T>): Value<T> {
    return this.#state.value(name, options);
  }
  /** The shared Queue `name`. */
  queue<T = unknown>(name: string): Queue<T> {
    return this.#state.queue(name);
  }
  /** The shared Dict `name`; a subscription still open when the task ends is dropped. */
  dict<T = unknown>(name: string): Dict<T> {
    return this.#state.dict(name);
  }
  /** The shared Lock `name`; a lock still held when the task ends (or its worker dies) is released (task-scope.ts). */
  lock(name: string): Lock {
    return this.#state.lock(name);
  }
}
