/**
 * The globals and intrinsics a task may change for every later task, as they
 * were at startup, and their restoration.
 *
 * Watched: globalThis; every object or function reachable from it through one
 * data property (the constructors and namespaces: Object, Array, JSON, Math,
 * Reflect, Intl, Buffer, URL, process, console...) and the constructors one
 * more level inside the namespaces (Intl.DateTimeFormat, WebAssembly.Module);
 * the prototype of each constructor; the hidden intrinsics (%TypedArray%, the
 * iterator and generator prototypes); and the prototype chains of all of
 * these. For each: its own property descriptors (keys
 * added since are deleted, changed ones redefined), its prototype and whether
 * it is extensible. Listeners added to process since startup are removed too
 * (another app's uncaughtException or exit handler would see this app's
 * errors). Not watched: anything deeper (a builtin module's exports,
 * an object a task hangs off a global), and the globals Node creates on first
 * use from large modules (fetch, web streams: reading them at startup costs
 * ~200 ms and 10 MB per worker), whose getters are still put back.
 *
 * Checking everything costs ~0.3 ms, so it happens only when a chunk of
 * another realm comes (realm-guard.ts). A change that cannot be undone (a
 * frozen, sealed or non-extensible intrinsic, a non-configurable property)
 * is reported; the worker then exits rather than run another realm's chunk.
 */
import timers from 'node:timers';

interface Watched {
  readonly obj: object;
  readonly name: string;
  readonly proto: object | null;
  readonly extensible: boolean;
  /** Own properties that can change, with their startup descriptors (a flat array is the fastest to walk). */
  readonly props: [PropertyKey, PropertyDescriptor][];
  /** Every own key at startup, including those that cannot change (to spot added ones). */
  readonly keys: Set<PropertyKey>;
}

/** Globals whose first read loads a large module: their getter is watched, not what it returns. */
const COSTLY_LAZY = /Stream|Queuing|FormData|Headers|Request|Response|fetch|WebSocket|EventSource|navigator|Navigator/;
/** Added by Node itself, non-configurable: the dispatcher undici (fetch) puts on globalThis on first use. */
const NODE_ADDS = (k: PropertyKey): boolean => typeof k === 'symbol' && (Symbol.keyFor(k)?.startsWith('undici.') ?? false);
/** process properties Node itself changes as it runs (listeners, exit state); process.env is ProcessBaseline's. */
const PROCESS_OWN = new Set<PropertyKey>(['_events', '_eventsCount', '_maxListeners', 'exitCode', '_exiting', 'env']);

const isObject = (v: unknown): v is object => (typeof v === 'object' && v !== null) || typeof v === 'function';

/** Startup state of the globals and intrinsics. */
export class GlobalBaseline {
  readonly #watched: Watched[] = [];
  /** process's listeners at startup, by event: a task's process.on('uncaughtException' | 'exit' | ...) ends with its realm. */
  readonly #listeners = new Map<string | symbol, Set<unknown>>();

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
    ];
    for (const [v, name] of hidden) {
      addFn(v, name);
      addFn(dataValue(v, 'constructor'), `${name}.constructor`);
    }
    // And every prototype chain, up to Object.prototype.
    for (const obj of [...seen.keys()]) {
      for (let p = Object.getPrototypeOf(obj) as unknown; isObject(p) && !seen.has(p); p = Object.getPrototypeOf(p)) seen.set(p, `${seen.get(obj)!}.__proto__`);
    }
    for (const event of process.eventNames()) this.#listeners.set(event, new Set(process.rawListeners(event)));
    for (const [obj, name] of seen) {
      const props: [PropertyKey, PropertyDescriptor][] = [];
      const keys = new Set<PropertyKey>();
      for (const k of Reflect.ownKeys(obj)) {
        if (obj === process && PROCESS_OWN.has(k)) continue;
        keys.add(k);
        const d = Reflect.getOwnPropertyDescriptor(obj, k)!;
        // Non-configurable and read-only (NaN, Math.PI, a sloppy function's caller): it cannot change.
        if (d.configurable === false && d.writable === false) continue;
        props.push([k, d]);
      }
      this.#watched.push({ obj, name, proto: Object.getPrototypeOf(obj) as object | null, extensible: Object.isExtensible(obj), props, keys });
    }
  }

  /** Objects and properties watched (for the benchmark's figures). */
  get size(): { objects: number; properties: number } {
    let properties = 0;
    for (const w of this.#watched) properties += w.props.length;
    return { objects: this.#watched.length, properties };
  }

  /** Puts every watched object back as it was at startup; the reason if one cannot be. */
  restore(): string | undefined {
    try {
      for (const w of this.#watched) {
        const why = restoreOne(w);
        if (why !== undefined) return why;
      }
      for (const event of process.eventNames()) {
        const kept = this.#listeners.get(event);
        for (const l of process.rawListeners(event)) if (kept === undefined || !kept.has(l)) process.removeListener(event, l as (...args: unknown[]) => void);
      }
      return undefined;
    } catch (err) {
      return `restoring the globals failed: ${String((err as Error)?.message)}`;
    }
  }
}

function restoreOne(w: Watched): string | undefined {
  const o = w.obj;
  if (w.extensible && !Object.isExtensible(o)) return `${w.name} was frozen, sealed or made non-extensible`;
  if (Object.getPrototypeOf(o) !== w.proto && !Reflect.setPrototypeOf(o, w.proto)) return `the prototype of ${w.name} was changed for good`;
  const props = w.props;
  for (let i = 0; i < props.length; i++) {
    const [k, d] = props[i]!;
    const now = Reflect.getOwnPropertyDescriptor(o, k);
    if (now !== undefined && same(now, d)) continue;
    if (!Reflect.defineProperty(o, k, d)) return `${w.name}.${String(k)} was changed for good (made non-configurable)`;
  }
  // Every startup key is there again (none of the others can be deleted): more keys means added ones.
  const keys = Reflect.ownKeys(o);
  if (keys.length === w.keys.size && o !== process) return undefined;
  for (const k of keys) {
    if (w.keys.has(k) || (o === process && PROCESS_OWN.has(k)) || (o === globalThis && NODE_ADDS(k))) continue;
    if (!Reflect.deleteProperty(o, k)) return `${w.name}.${String(k)} was added and cannot be removed`;
  }
  return undefined;
}

function same(a: PropertyDescriptor, b: PropertyDescriptor): boolean {
  return (
    Object.is(a.value, b.value) && a.get === b.get && a.set === b.set &&
    a.writable === b.writable && a.enumerable === b.enumerable && a.configurable === b.configurable
  );
}

/** An own data property's value, never calling a getter. */
function dataValue(obj: unknown, key: PropertyKey): unknown {
  if (!isObject(obj)) return undefined;
  return Reflect.getOwnPropertyDescriptor(obj, key)?.value;
}
