/**
 * What travels for a task: a function's source (hashed, so each worker
 * compiles it once) or a module export, `task(moduleUrlOrPath, exportName)`.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  BadArgumentError,
  BadTaskError,
  MAX_NAME_LENGTH,
  MAX_SOURCE_LENGTH,
  MAX_TASK_URL_LENGTH,
  sourceHash,
  type TaskContext,
  type TaskSpec,
} from '@corepool/protocol';

/** A task that lives in a module: workers import it by URL. */
export interface ModuleTask<I = unknown, R = unknown> {
  readonly kind: 'module';
  readonly url: string;
  readonly name: string;
  /** Phantom types so `map(task<number, string>(...), items)` is typed. */
  readonly __types?: (item: I) => R;
}

/** A self-contained function run in a worker: `fn(item, ctx)`. */
export type TaskFunction<I, R> = (item: I, ctx: TaskContext) => R | Promise<R>;

/** Either form of task. */
export type Task<I, R> = TaskFunction<I, R> | ModuleTask<I, R>;

/**
 * Names a module export as a task: a file: URL (`new URL('./tasks.mjs', import.meta.url)`, which
 * resolves next to the calling module), an absolute path, a path relative to the current
 * directory, or the name of an installed package (`task('my-tasks', 'resize')`, resolved from the
 * current directory as the app's own imports are).
 */
export function task<I = unknown, R = unknown>(moduleUrlOrPath: string | URL, exportName = 'default'): ModuleTask<I, R> {
  if (typeof exportName !== 'string' || exportName.length === 0)
    throw new BadArgumentError('task(): exportName must be a non-empty string');
  let url: string;
  if (moduleUrlOrPath instanceof URL) url = moduleUrlOrPath.href;
  else if (typeof moduleUrlOrPath !== 'string' || moduleUrlOrPath.length === 0)
    throw new BadArgumentError('task(): moduleUrlOrPath must be a URL or a path');
  else if (/^[a-z][a-z0-9+.-]*:/i.test(moduleUrlOrPath) && !/^[a-z]:[\\/]/i.test(moduleUrlOrPath)) url = moduleUrlOrPath;
  else url = pathToFileURL(localPath(moduleUrlOrPath)).href;
  if (!url.startsWith('file:')) throw new BadArgumentError(`task(): only file: modules can be loaded by workers, got ${url}`);
  // The daemon refuses longer ones; saying so here names the argument.
  if (exportName.length > MAX_NAME_LENGTH) throw new BadArgumentError(`task(): exportName is longer than ${MAX_NAME_LENGTH} characters`);
  if (url.length > MAX_TASK_URL_LENGTH)
    throw new BadArgumentError(`task(): the module URL is longer than ${MAX_TASK_URL_LENGTH} characters`);
  return { kind: 'module', url, name: exportName };
}

/** A path as given, or a package name resolved to its file; a name nothing resolves is an error naming where it looked. */
function localPath(spec: string): string {
  if (isAbsolute(spec) || spec.startsWith('./') || spec.startsWith('../') || existsSync(resolve(spec))) return resolve(spec);
  const resolved = packageFile(spec);
  if (resolved !== undefined) return resolved;
  // A path to a file not there yet (or on the daemon's host only) stays a path, as it always was.
  if (/[\\/]|\.(m|c)?[jt]s$/.test(spec) && !spec.startsWith('@')) return resolve(spec);
  throw new BadArgumentError(
    `task(): ${JSON.stringify(spec)} is neither a file (relative to ${process.cwd()}) nor a package installed there; ` +
      "pass new URL('./file.mjs', import.meta.url), a path starting with ./ or /, or an installed package's name",
  );
}

/** The file a package name resolves to from the current directory (as the app's own imports do), if any. */
function packageFile(spec: string): string | undefined {
  try {
    return createRequire(join(process.cwd(), 'package.json')).resolve(spec);
  } catch {
    // An ESM-only package has no `require` entry: ask the ESM resolver (from this package, whose node_modules chain is the app's).
    try {
      return fileURLToPath(import.meta.resolve(spec));
    } catch {
      return undefined;
    }
  }
}

const specCache = new WeakMap<object, TaskSpec>();
/**
 * Specs by source too: `submit((x) => x * 2, i)` in a loop makes a new function
 * object each time, and hashing its source is most of a submit's client-side cost.
 */
const bySource = new Map<string, TaskSpec>();
const MAX_BY_SOURCE = 256;

/** The wire form of a task (cached per function object). */
export function toTaskSpec(t: unknown): TaskSpec {
  if (typeof t === 'function') {
    let spec = specCache.get(t);
    if (spec === undefined) {
      const source = Function.prototype.toString.call(t);
      if (/\{\s*\[native code\]\s*\}\s*$/.test(source)) {
        throw new BadTaskError('native and bound functions cannot run in workers: pass a plain function or task(module, export)');
      }
      if (/^class\b/.test(source)) throw new BadTaskError('a class cannot be a task: pass a function (item, ctx) => result');
      if (source.length > MAX_SOURCE_LENGTH) throw new BadTaskError(`task source is longer than ${MAX_SOURCE_LENGTH} characters`);
      spec = bySource.get(source);
      if (spec === undefined) {
        spec = { kind: 'source', hash: sourceHash(source), source };
        if (bySource.size >= MAX_BY_SOURCE) bySource.delete(bySource.keys().next().value!);
        bySource.set(source, spec);
      }
      specCache.set(t, spec);
    }
    return spec;
  }
  if (t !== null && typeof t === 'object' && (t as ModuleTask).kind === 'module') {
    const m = t as ModuleTask;
    return { kind: 'module', url: m.url, name: m.name };
  }
  throw new BadTaskError('a task must be a function or task(moduleUrl, exportName)');
}
