/**
 * Turns a TaskSpec into a callable, once per worker: source functions are
 * compiled and cached by hash, module tasks imported and cached by URL.
 * Compilation happens only in workers, never in the primary.
 */
import { BadTaskError, type TaskSpec } from '@corepool/protocol';

/** A task as the runner calls it. */
export type TaskFn = (item: unknown, ctx: unknown) => unknown;

const cache = new Map<string, TaskFn>();
/**
 * Source by hash, for every source task this worker was sent. The primary sends
 * a task's source once per worker and then only its hash, but the chunk that
 * carried it may be skipped without running (cancelled, or stolen by an idle
 * worker): the chunks after it must still find the source.
 */
const sources = new Map<string, string>();

/** Keeps the source a run message carries (call on every run, before it may be skipped). */
export function keepSource(spec: TaskSpec): void {
  if (spec.kind === 'source' && spec.source !== '' && !sources.has(spec.hash)) sources.set(spec.hash, spec.source);
}

function keyOf(spec: TaskSpec): string {
  return spec.kind === 'source' ? `s:${spec.hash}` : `m:${spec.url}#${spec.name}`;
}

/** The callable for `spec` if it is loaded already: no await on the common path. */
export function cachedTask(spec: TaskSpec): TaskFn | undefined {
  return cache.get(keyOf(spec));
}

/** The cached callable for `spec`, compiling or importing it on first use. */
export async function loadTask(spec: TaskSpec): Promise<TaskFn> {
  const key = keyOf(spec);
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  const fn = spec.kind === 'source' ? compileSource(spec.source !== '' ? spec.source : (sources.get(spec.hash) ?? '')) : await importTask(spec.url, spec.name);
  cache.set(key, fn);
  return fn;
}

function compileSource(source: string): TaskFn {
  if (/\{\s*\[native code\]\s*\}\s*$/.test(source)) {
    throw new BadTaskError('native and bound functions cannot be sent to workers: pass a plain function or task(module, export)');
  }
  let value: unknown;
  try {
    // Self-contained by contract: the source sees only globals, so a closure
    // variable surfaces as a ReferenceError when it runs (see runner.ts).
    value = new Function(`"use strict"; return (${source});`)();
  } catch (first) {
    // Method shorthand (`heavy(n) { ... }`, `async heavy(n) { ... }`) is not an expression on its own.
    try {
      const holder = new Function(`"use strict"; return ({ ${source} });`)() as Record<string, unknown>;
      value = Object.values(holder)[0];
    } catch {
      throw new BadTaskError(`the task's source does not compile: ${(first as Error).message}`, { cause: first });
    }
  }
  if (typeof value !== 'function') throw new BadTaskError('the task source is not a function');
  return value as TaskFn;
}

async function importTask(url: string, name: string): Promise<TaskFn> {
  if (!url.startsWith('file:')) throw new BadTaskError(`module tasks must be file: URLs, got ${JSON.stringify(url.slice(0, 100))}`);
  let mod: Record<string, unknown>;
  try {
    mod = (await import(url)) as Record<string, unknown>;
  } catch (err) {
    throw new BadTaskError(`cannot import task module ${url}: ${(err as Error).message}`, { cause: err });
  }
  const fn = mod[name];
  if (typeof fn !== 'function') throw new BadTaskError(`module ${url} has no exported function ${JSON.stringify(name)}`);
  return fn as TaskFn;
}
