/**
 * The worker's own copies of the built-ins its realm guard and runner use,
 * taken when this module loads (before any task runs), as Node's own
 * internals do. A task may replace Reflect.ownKeys, Set.prototype.has,
 * Promise.prototype.then or process.on for every later task; the code that
 * puts those back, and the code that carries the worker from one chunk to the
 * next, must not call the replacements, or the restore silently does nothing
 * and the worker hangs or lies to the next app. Methods are uncurried
 * (`fn(self, ...args)`) so no `.call` on a replaceable Function.prototype
 * is needed; a loop over these arrays, sets and maps must index, never use an
 * iterator (%ArrayIteratorPrototype%.next is replaceable too).
 */
import { EventEmitter } from 'node:events';
import { syncBuiltinESMExports } from 'node:module';
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const bind = Function.prototype.bind;
const call = Function.prototype.call;
/** `uncurry(f)(self, ...args)` is `f.call(self, ...args)`, through copies taken now. */
const uncurry = <A extends unknown[], R>(f: (...args: A) => R): ((self: unknown, ...args: A) => R) =>
  bind.call(call, f) as (self: unknown, ...args: A) => R;

export const ReflectOwnKeys = Reflect.ownKeys;
export const ReflectGetOwnPropertyDescriptor = Reflect.getOwnPropertyDescriptor;
export const ReflectDefineProperty = Reflect.defineProperty;
export const ReflectDeleteProperty = Reflect.deleteProperty;
export const ReflectGetPrototypeOf = Reflect.getPrototypeOf;
export const ReflectSetPrototypeOf = Reflect.setPrototypeOf;
export const ReflectIsExtensible = Reflect.isExtensible;
export const ObjectIs = Object.is;
export const SafeString = String;
export const SymbolKeyFor = Symbol.keyFor;
export const StringPrototypeStartsWith = uncurry(String.prototype.startsWith as (s: string) => boolean);
export const FunctionPrototypeToString = uncurry(Function.prototype.toString as () => string);
export const ObjectKeys = Object.keys;
export const ObjectValues = Object.values;
export const ObjectHasOwn = Object.hasOwn;
export const ReflectSet = Reflect.set;
export const SafePromise = Promise;

export const SetPrototypeHas = uncurry(Set.prototype.has as (v: unknown) => boolean);
export const MapPrototypeGet = uncurry(Map.prototype.get as (k: unknown) => unknown);
export const MapPrototypeSet = uncurry(Map.prototype.set as (k: unknown, v: unknown) => Map<unknown, unknown>);
export const MapPrototypeDelete = uncurry(Map.prototype.delete as (k: unknown) => boolean);
export const ArrayPrototypePush = uncurry(Array.prototype.push as (...v: unknown[]) => number);
export const ArrayPrototypeShift = uncurry(Array.prototype.shift as () => unknown);
export const ArrayPrototypeUnshift = uncurry(Array.prototype.unshift as (...v: unknown[]) => number);

export const PromisePrototypeThen = uncurry(
  Promise.prototype.then as (ok?: (v: unknown) => unknown, ko?: (e: unknown) => unknown) => Promise<unknown>,
);
export const SafeQueueMicrotask = queueMicrotask;
export const SafeSetImmediate = setImmediate;
export const SafeNextTick = process.nextTick;
export const SafeSyncBuiltinESMExports = syncBuiltinESMExports;
export const AtomicsWait = Atomics.wait;
export const ProcessMemoryRss = process.memoryUsage.rss;
export const V8GetHeapStatistics = getHeapStatistics;
export const V8SetFlagsFromString = setFlagsFromString;
export const VmRunInNewContext = runInNewContext;
export const ProcessHasUncaughtExceptionCaptureCallback = process.hasUncaughtExceptionCaptureCallback;
export const ProcessSetUncaughtExceptionCaptureCallback = process.setUncaughtExceptionCaptureCallback;

type Listener = (...args: unknown[]) => void;
const ee = EventEmitter.prototype;
export const EmitterEventNames = uncurry(ee.eventNames as () => (string | symbol)[]);
export const EmitterRawListeners = uncurry(ee.rawListeners as (e: string | symbol) => Listener[]);
export const EmitterRemoveAllListeners = uncurry(ee.removeAllListeners as (e: string | symbol) => unknown);
export const EmitterOn = uncurry(ee.on as (e: string | symbol, l: Listener) => unknown);
