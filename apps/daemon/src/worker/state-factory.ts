/**
 * Shared-state handles for tasks, over the worker's IPC transport. Handles are
 * cached per name so a task that calls ctx.value('hits') per item does not
 * send `initial` again each time.
 */
import { Dict, Lock, Queue, Value } from '@corepool/protocol';
import type { StateFactory } from './context.js';
import type { IpcTransport } from './ipc-transport.js';

/** The factory behind ctx.value / ctx.queue / ctx.dict / ctx.lock. */
export function stateFactory(transport: IpcTransport): StateFactory {
  const values = new Map<string, unknown>();
  return {
    value(name, options) {
      let v = values.get(name);
      if (v === undefined) {
        v = new Value(transport, name, options);
        values.set(name, v);
      }
      return v;
    },
    queue: (name) => new Queue(transport, name),
    dict: (name) => new Dict(transport, name),
    lock: (name) => new Lock(transport, name),
  };
}
