/**
 * The globals and intrinsics a task may change for every later task, as they
 * were at startup, and their restoration.
 *
 * Watched: globalThis; every object or function reachable from it through one
 * data property (the constructors and namespaces: Object, Array, JSON, Math,
 * Reflect, Intl, Buffer, URL, process, console...) and the constructors one
 * more level inside the namespaces (Intl.DateTimeFormat, WebAssembly.Module);
 * the prototype of each constructor; the hidden intrinsics (%TypedArray%, the
 * iterator and generator prototypes) and process.env's own prototype; and the
 * prototype chains of all of these. For each: its own property descriptors (keys
 * added since are deleted, changed ones redefined), its prototype and whether
 * it is extensible. Listeners added to process since startup are removed too
 * (another app's uncaughtException or exit handler would see this app's
 * errors), and so is an uncaught-exception capture callback set since (it
 * would swallow this app's errors, and make its own setting one throw).
 * node:timers' exports are watched too, and the ES facades of the
 * builtins are synced after a restore, so `import` from node:timers sees
 * what `require` does (the sync reads every export of each builtin imported
 * so far: a getter a task put there that throws makes the restore fail, and
 * the worker is replaced). Not watched: anything deeper (the other builtin
 * modules' exports, an object a task hangs off a global), and the globals
 * Node creates on first use from large modules (fetch, web streams: reading
 * them at startup costs ~200 ms and 10 MB per worker), whose getters are
 * still put back.
 *
 * Checking everything costs ~0.3 ms, so it happens only when a chunk of
 * another realm comes (realm-guard.ts). A change that cannot be undone (a
 * frozen, sealed or non-extensible intrinsic, a non-configurable property)
 * is reported; the worker then exits rather than run another realm's chunk.
 *
 * The restore uses only the worker's own copies of the built-ins
 * (primordials.ts), never what a task may have replaced, and walks arrays by
 * index; stored descriptors have no prototype, so a key added to
 * Object.prototype (`get`, `value`) cannot change what they say.
 */
import timers from 'node:timers';
import {
  EmitterEventNames,
  EmitterOn,
  EmitterRawListeners,
  EmitterRemoveAllListeners,
  MapPrototypeGet,
  ObjectIs,
  ProcessHasUncaughtExceptionCaptureCallback,
  ProcessSetUncaughtExceptionCaptureCallback,
  ReflectDefineProperty,
  ReflectDeleteProperty,
  ReflectGetOwnPropertyDescriptor,
  ReflectGetPrototypeOf,
  ReflectIsExtensible,
  ReflectOwnKeys,
  ReflectSetPrototypeOf,
  SafeString,
  SafeSyncBuiltinESMExports,
  SetPrototypeHas,
  StringPrototypeStartsWith,
  SymbolKeyFor,
} from './primordials.js';

interface Watched {
  readonly obj: object;
  readonly name: string;
  readonly proto: object | null;
  readonly extensible: boolean;
  /** Own properties that can change, and their startup descriptors at the same index (flat arrays are the fastest to walk). */
  readonly propKeys: PropertyKey[];
  readonly propDescs: PropertyDescriptor[];
  /** Every own key at startup, including those that cannot change (to spot added ones), and their count. */
  readonly keys: Set<PropertyKey>;
  readonly keyCount: number;
}

type Listener = (...args: unknown[]) => void;

/** Globals whose first read loads a large module: their getter is watched, not what it returns. */
const COSTLY_LAZY = /Stream|Queuing|FormData|Headers|Request|Response|fetch|WebSocket|EventSource|navigator|Navigator/;
/** Added by Node itself, non-configurable: the dispatcher undici (fetch) puts on globalThis on first use. */
const NODE_ADDS = (k: PropertyKey): boolean => typeof k === 'symbol' && StringPrototypeStartsWith(SymbolKeyFor(k) ?? '', 'undici.');
/** process properties Node itself changes as it runs (listeners, exit state); process.env is ProcessBaseline's. */
const PROCESS_OWN = new Set<PropertyKey>(['_events', '_eventsCount', '_maxListeners', 'exitCode', '_exiting', 'env']);

const isObject = (v: unknown): v is object => (typeof v === 'object' && v !== null) || typeof v === 'function';

/** Startup state of the globals and intrinsics. */
export class GlobalBaseline {
  readonly #watched: Watched[] = [];
  /** process's listeners at startup, by event: a task's process.on('uncaughtException' | 'exit' | ...) ends with its realm. */
  readonly #listeners = new Map<string | symbol, Listener[]>();
  readonly #events: (string | symbol)[] = [];
  /** Set by the initializer, then: kept, as what else it set up is (which callback it is cannot be read back). */
  readonly #captured = ProcessHasUncaughtExceptionCaptureCallback();

  /** Takes the baseline: call once, after the worker's own modules and wrappers are in place. */
  constructor() {
    const seen = new Map<object, string>();
    const add = (v: unknown, name: string): void => {
      if (isObject(v) && !seen.has(v)) seen.set(v, name);
    };
    // A plain function (JSON.parse, parseInt) is watched through the object holding it; a constructor, with its prototype.
    const addFn = (v: unknown, name: string): void => {
      if (typeof v !== 'function') return add(v, name);
      const proto = dataValue(v, 'prototype');
      if (!isObject(proto)) return;
      add(v, name);
      add(proto, `${name}.prototype`);
    };
    const g = globalThis as unknown as Record<PropertyKey, unknown>;
    add(globalThis, 'globalThis');
    for (const key of Reflect.ownKeys(globalThis)) {
      const name = String(key);
      const d = Reflect.getOwnPropertyDescriptor(globalThis, key)!;
      let v: unknown = d.value;
      if (d.get !== undefined && !COSTLY_LAZY.test(name)) {
        try {
          v = g[key]; // materializes Node's cheap lazy globals, so the baseline has them as they will be
        } catch {
          continue;
        }
      }
      addFn(v, name);
      if (isObject(v) && typeof v !== 'function' && v !== process) {
        for (const k of Reflect.ownKeys(v)) addFn(dataValue(v, k), `${name}.${String(k)}`);
      }
    }
    addFn(timers, 'node:timers');
    const hidden: [unknown, string][] = [
      [Object.getPrototypeOf(Int8Array), '%TypedArray%'],
      [Object.getPrototypeOf(function* () {}), '%GeneratorFunction.prototype%'],
      [Object.getPrototypeOf(async function () {}), '%AsyncFunction.prototype%'],
      [Object.getPrototypeOf(async function* () {}), '%AsyncGeneratorFunction.prototype%'],
      [Object.getPrototypeOf((function* () {})()), '%GeneratorPrototype%'],
      [Object.getPrototypeOf((async function* () {})()), '%AsyncGeneratorPrototype%'],
      [Object.getPrototypeOf([][Symbol.iterator]()), '%ArrayIteratorPrototype%'],
      [Object.getPrototypeOf(new Map()[Symbol.iterator]()), '%MapIteratorPrototype%'],
      [Object.getPrototypeOf(new Set()[Symbol.iterator]()), '%SetIteratorPrototype%'],
      [Object.getPrototypeOf(''[Symbol.iterator]()), '%StringIteratorPrototype%'],
      [Object.getPrototypeOf(/a/[Symbol.matchAll]('')), '%RegExpStringIteratorPrototype%'],
      // Not Object.prototype: a key added to it would show in process.env (ProcessBaseline puts the prototype itself back).
      [Object.getPrototypeOf(process.env), '%process.env.__proto__%'],
    ];
    for (const [v, name] of hidden) {
      addFn(v, name);
      addFn(dataValue(v, 'constructor'), `${name}.constructor`);
    }
    // And every prototype chain, up to Object.prototype.
    for (const obj of [...seen.keys()]) {
      for (let p = Object.getPrototypeOf(obj) as unknown; isObject(p) && !seen.has(p); p = Object.getPrototypeOf(p))
        seen.set(p, `${seen.get(obj)!}.__proto__`);
    }
    for (const event of process.eventNames()) {
      this.#events.push(event);
      this.#listeners.set(event, process.rawListeners(event) as Listener[]);
    }
    for (const [obj, name] of seen) {
      const propKeys: PropertyKey[] = [];
      const propDescs: PropertyDescriptor[] = [];
      const keys = new Set<PropertyKey>();
      for (const k of Reflect.ownKeys(obj)) {
        if (obj === process && PROCESS_OWN.has(k)) continue;
        keys.add(k);
        const d = Reflect.getOwnPropertyDescriptor(obj, k)!;
        // Non-configurable and read-only (NaN, Math.PI, a sloppy function's caller): it cannot change.
        if (d.configurable === false && d.writable === false) continue;
        propKeys.push(k);
        propDescs.push(Object.setPrototypeOf(d, null) as PropertyDescriptor);
      }
      const proto = Object.getPrototypeOf(obj) as object | null;
      this.#watched.push({ obj, name, proto, extensible: Object.isExtensible(obj), propKeys, propDescs, keys, keyCount: keys.size });
    }
  }

  /** Objects and properties watched (for the benchmark's figures). */
  get size(): { objects: number; properties: number } {
    let properties = 0;
    for (const w of this.#watched) properties += w.propKeys.length;
    return { objects: this.#watched.length, properties };
  }

  /** Puts every watched object back as it was at startup; the reason if one cannot be. */
  restore(): string | undefined {
    try {
      const watched = this.#watched;
      for (let i = 0; i < watched.length; i++) {
        const why = restoreOne(watched[i]!);
        if (why !== undefined) return why;
      }
      this.#restoreListeners();
      if (!this.#captured && ProcessHasUncaughtExceptionCaptureCallback()) ProcessSetUncaughtExceptionCaptureCallback(null);
      // The ES facade of a builtin (what `import { setTimeout } from 'node:timers'` binds to) is built on the first
      // import, from the module's exports as they are then: maybe while a task had replaced one. It takes the
      // restored ones again only when synced.
      SafeSyncBuiltinESMExports();
      return undefined;
    } catch (err) {
      return `restoring the globals failed: ${describe(err)}`;
    }
  }

  /**
   * Puts process's listeners back, in time linear in their number: an event
   * whose listeners differ from startup loses them all at once and gets the
   * startup ones again (removing thousands one by one is quadratic).
   */
  #restoreListeners(): void {
    const events = this.#events;
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const kept = MapPrototypeGet(this.#listeners, event) as Listener[];
      if (sameList(EmitterRawListeners(process, event), kept)) continue;
      EmitterRemoveAllListeners(process, event);
      for (let j = 0; j < kept.length; j++) EmitterOn(process, event, kept[j]!);
    }
    const now = EmitterEventNames(process);
    for (let i = 0; i < now.length; i++) {
      const event = now[i]!;
      if (MapPrototypeGet(this.#listeners, event) === undefined) EmitterRemoveAllListeners(process, event);
    }
  }
}

function sameList(a: Listener[], b: Listener[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A thrown value's message, never throwing, through no replaceable built-in (realm-guard.ts uses it too). */
export function describe(err: unknown): string {
  try {
    return SafeString(isObject(err) ? ReflectGetOwnPropertyDescriptor(err, 'message')?.value : err);
  } catch {
    return 'an error that cannot be described';
  }
}

function restoreOne(w: Watched): string | undefined {
  const o = w.obj;
  if (w.extensible && !ReflectIsExtensible(o)) return `${w.name} was frozen, sealed or made non-extensible`;
  if (ReflectGetPrototypeOf(o) !== w.proto && !ReflectSetPrototypeOf(o, w.proto)) return `the prototype of ${w.name} was changed for good`;
  const propKeys = w.propKeys;
  const propDescs = w.propDescs;
  for (let i = 0; i < propKeys.length; i++) {
    const k = propKeys[i]!;
    const d = propDescs[i]!;
    const now = ReflectGetOwnPropertyDescriptor(o, k);
    if (now !== undefined && same(now, d)) continue;
    if (!ReflectDefineProperty(o, k, d)) return `${w.name}.${SafeString(k)} was changed for good (made non-configurable)`;
  }
  // Every startup key is there again (none of the others can be deleted): more keys means added ones.
  const keys = ReflectOwnKeys(o);
  if (keys.length === w.keyCount && o !== process) return undefined;
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i]!;
    if (SetPrototypeHas(w.keys, k) || (o === process && SetPrototypeHas(PROCESS_OWN, k)) || (o === globalThis && NODE_ADDS(k))) continue;
    if (!ReflectDeleteProperty(o, k)) return `${w.name}.${SafeString(k)} was added and cannot be removed`;
  }
  return undefined;
}

/** Same descriptor; `now` may inherit keys a task added to Object.prototype, which only makes it differ (and be redefined). */
function same(now: PropertyDescriptor, d: PropertyDescriptor): boolean {
  return (
    ObjectIs(now.value, d.value) &&
    now.get === d.get &&
    now.set === d.set &&
    now.writable === d.writable &&
    now.enumerable === d.enumerable &&
    now.configurable === d.configurable
  );
}

/** An own data property's value, never calling a getter. */
function dataValue(obj: unknown, key: PropertyKey): unknown {
  if (!isObject(obj)) return undefined;
  return Reflect.getOwnPropertyDescriptor(obj, key)?.value;
}
