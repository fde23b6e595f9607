/**
 * `ctx`, the second argument of every task, as tasks see it. Declared here,
 * next to the handles it returns, so the SDK's TaskFunction type and the
 * worker that builds the context (implements TaskContext) cannot drift apart.
 */
import type { Dict } from './handles/dict.js';
import type { Lock } from './handles/lock.js';
import type { Queue } from './handles/queue.js';
import type { Value, ValueOptions } from './handles/value.js';

/** The context a task receives as its second argument. */
export interface TaskContext {
  /** Aborts when the batch is cancelled or its client goes away. */
  readonly signal: AbortSignal;
  /** Input index of the item being run. */
  readonly index: number;
  /** The worker's process id. */
  readonly pid: number;
  /**
   * What the worker initializer (`daemon start --init`) returned (awaited), the
   * same value for every task of this worker; undefined without --init.
   */
  readonly init?: unknown;
  /** The shared Value `name` (see Client.value); a subscription still open when the task ends is dropped. */
  value<T = unknown>(name: string, options?: ValueOptions<T>): Value<T>;
  /** The shared Queue `name`. */
  queue<T = unknown>(name: string): Queue<T>;
  /** The shared Dict `name`; a subscription still open when the task ends is dropped. */
  dict<T = unknown>(name: string): Dict<T>;
  /** The shared Lock `name`; a lock still held when the task ends (or its worker dies) is released. */
  lock(name: string): Lock;
}
