/**
 * Work a task leaves behind, and whose it is.
 *
 * Each item runs inside an AsyncLocalStorage context holding its realm (the
 * client it belongs to), so every callback it schedules, by any means (timers,
 * I/O, promises), still knows that realm when it runs: an exception or a
 * process.exit() from a callback of realm A while realm B's item runs is not
 * blamed on B's item (main.ts). The cost is V8's promise hooks, which Node
 * turns on for AsyncLocalStorage: about 0.4 us per async item and 0.1 us per
 * promise (bench/src/corepool/isolation.js).
 *
 * Timers, intervals and immediates created while an item runs (through the
 * global functions or node:timers) are cleared when the item ends, if still
 * ref'd: a task's awaited timers have fired by then, and what is left would
 * otherwise run in some later item, maybe another app's. Unref'd ones are left
 * alone: they are the background timers of libraries (undici's clock, pool
 * reapers) that keep no process alive, and clearing one would silently break
 * the library for every later task; what they throw is still charged to
 * their own realm. Not tracked: node:timers/promises (their promises settle
 * with the task or are ignored when they reject) and I/O callbacks.
 *
 * Timers created while no item runs by code of some realm (a microtask, a
 * nextTick or an I/O callback a task left behind) are cleared when the next
 * item starts, if still ref'd. Untracked, `queueMicrotask(() =>
 * setInterval(patch, 5))` patched a global for good: the worker undoes an
 * app's changes when another app's chunk comes, and a patch made during that
 * app's chunks counted as its own (a hostile review).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import timers from 'node:timers';
import { SafeSyncBuiltinESMExports } from './primordials.js';

type Handle = { hasRef(): boolean };

/** Timers made by left-behind code that wait for the next item before being cleared (each fired one still holds an entry). */
const MAX_STRAYS = 1024;

/** Realm context and per-item timer tracking for one worker process. */
export class Leftovers {
  readonly #als = new AsyncLocalStorage<string>();
  /** Handles the running item created, with the function that clears each; made on its first timer (most items make none). */
  #handles: Map<Handle, (h: Handle) => void> | undefined;
  /** An item runs: the timers created now are its own. */
  #tracking = false;
  /** Timers code of a realm created while no item ran (left behind): cleared when the next item starts. */
  #strays: Map<Handle, (h: Handle) => void> | undefined;

  /** Wraps the timer functions (global and node:timers) so the running item's handles are tracked. Call once, before the baseline. */
  install(): void {
    const g = globalThis as unknown as Record<string, unknown>;
    const t = timers as unknown as Record<string, unknown>;
    const pairs = [
      ['setTimeout', timers.clearTimeout],
      ['setInterval', timers.clearInterval],
      ['setImmediate', timers.clearImmediate],
    ] as const;
    for (const [name, clear] of pairs) {
      const original = t[name] as (...args: unknown[]) => Handle;
      const track = (h: Handle): Handle => {
        if (this.#tracking) (this.#handles ??= new Map()).set(h, clear as (h: Handle) => void);
        else if (this.#als.getStore() !== undefined) this.#stray(h, clear as (h: Handle) => void);
        return h;
      };
      const wrapped = {
        [name](...args: unknown[]): Handle {
          return track(original(...args));
        },
      }[name]!;
      // util.promisify(setTimeout) and friends keep working.
      for (const key of Reflect.ownKeys(original)) {
        if (key !== 'name' && key !== 'length' && key !== 'prototype')
          Reflect.defineProperty(wrapped, key, Reflect.getOwnPropertyDescriptor(original, key)!);
      }
      if (g[name] === original) g[name] = wrapped;
      t[name] = wrapped;
    }
    SafeSyncBuiltinESMExports();
  }

  /** A timer made while no item runs, by code of a realm; past MAX_STRAYS waiting (a chain of timers left running), those still ref'd are cleared now. */
  #stray(h: Handle, clear: (h: Handle) => void): void {
    const strays = (this.#strays ??= new Map());
    strays.set(h, clear);
    if (strays.size < MAX_STRAYS) return;
    this.#strays = undefined;
    clearRefd(strays);
  }

  /**
   * Runs a chunk's items (`body`, which calls each through `call`) inside their realm's context, entered
   * once a chunk: every item of a chunk is of one realm, and what `body` awaits goes on in the context
   * it began in. Entering it for each item cost ~15 ns an item (a `map` of 1,000,000 tiny items).
   */
  within<R>(realm: string, body: () => R): R {
    return this.#als.run(realm, body);
  }

  /** Calls a task for one item (inside `within`), tracking the timers it creates. */
  call<R>(fn: (item: unknown, ctx: unknown) => R, item: unknown, ctx: unknown): R {
    if (this.#strays !== undefined) {
      const strays = this.#strays;
      this.#strays = undefined;
      clearRefd(strays);
    }
    this.#tracking = true;
    this.#handles = undefined;
    return fn(item, ctx);
  }

  /** The item has ended: clears the ref'd timers it created and did not clear. */
  end(): void {
    const handles = this.#handles;
    this.#tracking = false;
    this.#handles = undefined;
    if (handles !== undefined) clearRefd(handles);
  }

  /** The realm whose task scheduled the code running now, if known (undefined in the worker's own code). */
  origin(): string | undefined {
    return this.#als.getStore();
  }
}

/** Clears the handles still ref'd (unref'd ones are libraries' background timers, left alone). */
function clearRefd(handles: Map<Handle, (h: Handle) => void>): void {
  for (const [h, clear] of handles) {
    try {
      if (h.hasRef()) clear(h);
    } catch {
      /* a handle a task tampered with: nothing to do */
    }
  }
}
