/**
 * Shared-state handles for tasks, over the worker's IPC transport. Value
 * handles are cached per name and `initial`, so a task that calls
 * ctx.value('hits', { initial: 0 }) per item sends `initial` once per worker,
 * not per item, while a call with another (or a first) `initial`, from any
 * task on this worker, still creates the value if it does not exist.
 */
import { Dict, Lock, Queue, Value, type StateTransport, type ValueOptions } from '@corepool/protocol';
import type { StateFactory } from './context.js';

/** The factory behind ctx.value / ctx.queue / ctx.dict / ctx.lock, over the tasks' transport (task-scope.ts). */
export function stateFactory(transport: StateTransport): StateFactory {
  /** name -> initial (a primitive, or undefined for none) -> handle */
  const values = new Map<string, Map<unknown, Value<unknown>>>();
  return {
    value<T>(name: string, options?: ValueOptions<T>): Value<T> {
      const initial = options?.initial;
      // An object initial is not cached: a handle whose initial failed (not cloneable) would
      // fail every later call. A primitive one is cached with its value.
      if (initial !== null && (typeof initial === 'object' || typeof initial === 'function' || typeof initial === 'symbol')) {
        return new Value<T>(transport, name, options);
      }
      let byInitial = values.get(name);
      if (byInitial === undefined) {
        byInitial = new Map();
        values.set(name, byInitial);
      }
      let v = byInitial.get(initial);
      if (v === undefined) {
        v = new Value<T>(transport, name, options) as Value<unknown>;
        byInitial.set(initial, v);
      }
      return v as Value<T>;
    },
    queue: <T>(name: string) => new Queue<T>(transport, name),
    dict: <T>(name: string) => new Dict<T>(transport, name),
    lock: (name: string) => new Lock(transport, name),
  };
}
