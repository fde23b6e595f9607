/**
 * Turns a TaskSpec into a callable: source functions are compiled once and
 * kept by hash, module tasks imported and cached by URL. Compilation happens
 * only in workers, never in the primary.
 *
 * Sources are bounded (SourceLru, WORKER_SOURCES): 500 distinct 1 MB sources
 * took 1.1 GB when nothing was evicted. The primary sends a source once per
 * worker and then only its hash, for as long as its own, smaller LRU of the
 * same events keeps it (source-lru.ts): the worker then always has it.
 *
 * Sources are compiled with vm.compileFunction, not new Function: V8 keeps
 * every source given to new Function in its compilation cache for good (200
 * distinct 1 MB sources held 200 MB after GC with 30 of them still in use,
 * 33 MB with compileFunction). The function still runs in the worker's own
 * context and sees its globals, and import() inside it uses the default loader.
 *
 * What is kept is what makes the function: an app whose chunk comes after
 * another app's on this worker gets a new function object from it (as it gets
 * fresh globals, realm-guard.ts), so state a task keeps on its own function
 * (`square.memo`) is not another app's, while an app's own consecutive
 * chunks keep theirs. Making one is a closure's allocation, not a compilation
 * (its bytecode is shared; V8 optimizes the new one again once it is hot).
 */
import vm from 'node:vm';
import { BadTaskError, CodeReplacedError, InternalError, type TaskSpec } from '@corepool/protocol';
import { SourceLru, WORKER_SOURCES } from '@corepool/protocol/internal';
import { moduleVersion } from '../module-version.js';
import { FunctionPrototypeToString, ObjectValues, ReflectDefineProperty } from './primordials.js';

/** A task as the runner calls it. */
export type TaskFn = (item: unknown, ctx: unknown) => unknown;

/** Module tasks by `url#name` (an imported module stays loaded in Node anyway). */
const modules = new Map<string, TaskFn>();
interface Source {
  source: string;
  /** Once compiled: makes a new function object of the source. */
  make: (() => TaskFn) | undefined;
  /** The function object made for `era`. */
  fn: TaskFn | undefined;
  era: number;
}

/** Source tasks by hash. */
const sources = new SourceLru<Source>(WORKER_SOURCES);
/** Goes up each time this worker switches apps: a function made in an earlier era is another app's. */
let era = 0;

/** Another app's chunk is about to run: source tasks' function objects are made again for it. */
export function renewTasks(): void {
  era++;
}

/**
 * Call on every run message as it arrives, in order (the LRU must see what the
 * primary saw): keeps a source the message carries, or fills in the one it
 * names, so the chunk has its source even if it waits while others evict it.
 */
export function keepSource(spec: TaskSpec): TaskSpec {
  if (spec.kind !== 'source') return spec;
  if (spec.source !== '') {
    if (!sources.touch(spec.hash)) sources.set(spec.hash, spec.source.length, { source: spec.source, make: undefined, fn: undefined, era });
    return spec;
  }
  if (!sources.touch(spec.hash)) return spec; // cannot happen while the bounds hold; loadTask reports it
  return { ...spec, source: sources.peek(spec.hash)!.source };
}

/** The callable for `spec` if it is loaded already: no await on the common path. */
export function cachedTask(spec: TaskSpec): TaskFn | undefined {
  if (spec.kind !== 'source') return modules.get(moduleKey(spec));
  const kept = sources.peek(spec.hash);
  if (kept?.make === undefined) return undefined;
  if (kept.era !== era) {
    kept.fn = kept.make();
    kept.era = era;
  }
  return kept.fn;
}

/** The callable for `spec` (as keepSource returned it), compiling or importing it on first use. */
export async function loadTask(spec: TaskSpec): Promise<TaskFn> {
  const hit = cachedTask(spec);
  if (hit !== undefined) return hit;
  if (spec.kind === 'source') {
    if (spec.source === '')
      throw new InternalError(`the worker does not have the source of task ${spec.hash} (its source cache and the primary's disagree)`);
    const { fn, make } = compileSource(spec.source);
    // Not touched: only run messages order the LRU. Evicted meanwhile: compiled again next time.
    sources.update(spec.hash, { source: spec.source, make, fn, era });
    return fn;
  }
  // The batch's version of the file (module-version.ts): imported as an instance of its own, and only while the file still is that version.
  // A file this host cannot read (another host's path) is left to the import, which says so.
  // A path that is no regular file (a FIFO would block the import for good) is refused here too: the primary may not
  // have seen it so (a cluster peer's path, or swapped since the batch opened).
  // Hashed here whatever its size (up to the bound): this worker's time is the batch's app's.
  const changed = (): boolean => {
    const now = moduleVersion(spec.url, true);
    if (now instanceof BadTaskError) throw now;
    return spec.version !== undefined && now !== undefined && now !== 'later' && now !== spec.version;
  };
  if (changed()) throw replaced(spec.url);
  const fn = await importTask(spec.url, spec.name, spec.version);
  if (changed()) throw replaced(spec.url);
  modules.set(moduleKey(spec), fn);
  return fn;
}

function moduleKey(spec: Extract<TaskSpec, { kind: 'module' }>): string {
  return `${spec.url}#${spec.name}@${spec.version ?? ''}`;
}

function replaced(url: string): CodeReplacedError {
  return new CodeReplacedError(
    `the task module ${url} changed on disk after its batch started: the batch's items run on the code it started with, which this worker ` +
      'no longer has (rerun the batch for the new code; corepool daemon reload replaces the workers in order)',
  );
}

/** The function of `source`, and what makes a new function object of it (compiled now, once). */
function compileSource(source: string): { fn: TaskFn; make: () => TaskFn } {
  if (/\{\s*\[native code\]\s*\}\s*$/.test(source)) {
    throw new BadTaskError('native and bound functions cannot be sent to workers: pass a plain function or task(module, export)');
  }
  let make: () => unknown;
  let value: unknown;
  const helpers = NAME_HELPER.test(source) ? ['__name'] : [];
  try {
    // Self-contained by contract: the source sees only globals, so a closure
    // variable surfaces as a ReferenceError when it runs (see runner.ts).
    make = compile(`"use strict"; return (${source});`, helpers);
    value = make();
  } catch (first) {
    // Method shorthand (`heavy(n) { ... }`, `async heavy(n) { ... }`) is not an expression on its own.
    try {
      const holder = compile(`"use strict"; return ({ ${source} });`, helpers);
      make = () => ObjectValues(holder() as Record<string, unknown>)[0];
      value = make();
    } catch {
      throw new BadTaskError(`the task's source does not compile: ${(first as Error).message}`, { cause: first });
    }
  }
  const task = (v: unknown): TaskFn => {
    if (typeof v !== 'function') throw new BadTaskError('the task source is not a function');
    return v as TaskFn;
  };
  return { fn: task(value), make: () => task(make()) };
}

/**
 * esbuild's `__name` helper, which it calls inside the functions it compiles with names kept (tsx, which
 * the README suggests for TypeScript apps, does so: `const sq = (x) => x * x` becomes `__name(...)`): a
 * function task with a helper inside it failed with "__name is not defined" (a new user's case). A task
 * whose source calls it gets it as a parameter of its own; it only names a function.
 */
const NAME_HELPER = /\b__name\(/;
function esbuildName(target: unknown, value: unknown): unknown {
  ReflectDefineProperty(target as object, 'name', { value, configurable: true });
  return target;
}

/**
 * A function of no parameters with body `body`, in the worker's context, whose import() works as in a module;
 * `helpers` (their names) are in its scope.
 */
function compile(body: string, helpers: readonly string[]): () => unknown {
  const fn = vm.compileFunction(body, [...helpers], { importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER }) as (
    ...args: unknown[]
  ) => unknown;
  if (helpers.length === 0) return fn as () => unknown;
  return () => fn(esbuildName);
}

async function importTask(url: string, name: string, version: string | undefined): Promise<TaskFn> {
  if (!url.startsWith('file:')) throw new BadTaskError(`module tasks must be file: URLs, got ${JSON.stringify(url.slice(0, 100))}`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(version === undefined ? url : `${url}?v=${version}`)) as Record<string, unknown>;
  } catch (err) {
    // Node names the importing file, which for the task's own module is this worker's, not the app's: left out.
    const why = String((err as Error | undefined)?.message).replace(` imported from ${process.argv[1]}`, '');
    throw new BadTaskError(`cannot import task module ${url}: ${why}`, { cause: err });
  }
  const fn = mod[name];
  if (typeof fn !== 'function') {
    const fns = Object.keys(mod).filter((k) => typeof mod[k] === 'function');
    const shown = fns.length > 10 ? `${fns.slice(0, 10).join(', ')} and ${fns.length - 10} more` : fns.join(', ');
    throw new BadTaskError(
      `module ${url} has no exported function ${JSON.stringify(name)}; ${fns.length === 0 ? 'it exports no function' : `its exported functions: ${shown}`}`,
    );
  }
  // A class is a function that cannot be called: each item would fail alone, with the task's error, as if it had run.
  if (/^class\b/.test(FunctionPrototypeToString(fn))) {
    throw new BadTaskError(
      `module ${url} exports ${JSON.stringify(name)} as a class, which cannot be a task: export a function (item, ctx) => result`,
    );
  }
  return fn as TaskFn;
}
