/**
 * Shared-state handles for tasks, over the worker's IPC transport. Value
 * handles are cached per name and `initial` for the app whose chunk runs, so a
 * task that calls ctx.value('hits', { initial: 0 }) per item sends `initial`
 * once per worker and app, not per item, while a call with another (or a
 * first) `initial` still creates the value if it does not exist. The cache
 * starts over when another app's chunk runs: shared between apps, one app's
 * handle (sent `initial` already) answered another's `ctx.value(name,
 * { initial })` after a delete with E_NO_SUCH_VALUE, where a fresh handle
 * creates the value again. Every handle is frozen: shared or not, no task can
 * replace what another's calls run (a hostile review's `handle.add = ...`).
 */
import { Dict, Lock, Queue, Value, type StateTransport, type ValueOptions } from '@corepool/protocol';
import type { StateFactory } from './context.js';

/** `h`, frozen (Object.freeze's type would hide the handle's class). */
function frozen<H extends object>(h: H): H {
  Object.freeze(h);
  return h;
}

/** The factory behind ctx.value / ctx.queue / ctx.dict / ctx.lock, over the tasks' transport (task-scope.ts); `app` names the app whose chunk runs. */
export function stateFactory(transport: StateTransport, app: () => string | undefined): StateFactory {
  /** name -> initial (a primitive, or undefined for none) -> handle, for the app `cachedFor`. */
  const values = new Map<string, Map<unknown, Value<unknown>>>();
  let cachedFor: string | undefined;
  return {
    value<T>(name: string, options?: ValueOptions<T>): Value<T> {
      const initial = options?.initial;
      // An object initial is not cached: a handle whose initial failed (not cloneable) would
      // fail every later call. A primitive one is cached with its value.
      if (initial !== null && (typeof initial === 'object' || typeof initial === 'function' || typeof initial === 'symbol')) {
        return frozen(new Value<T>(transport, name, options));
      }
      const now = app();
      if (now !== cachedFor) {
        values.clear();
        cachedFor = now;
      }
      let byInitial = values.get(name);
      if (byInitial === undefined) {
        byInitial = new Map();
        values.set(name, byInitial);
      }
      let v = byInitial.get(initial);
      if (v === undefined) {
        v = frozen(new Value<T>(transport, name, options)) as Value<unknown>;
        byInitial.set(initial, v);
      }
      return v as Value<T>;
    },
    queue: <T>(name: string) => frozen(new Queue<T>(transport, name)),
    dict: <T>(name: string) => frozen(new Dict<T>(transport, name)),
    lock: (name: string) => frozen(new Lock(transport, name)),
  };
}
