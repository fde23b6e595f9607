/**
 * Process-wide changes a task can make that the realm guard cannot put back, noted so that the
 * worker is replaced before another app's chunk runs there (realm-guard.ts: the worker refuses it
 * and exits, its restart charged to the app that ran last). Each was left by a hostile co-tenant
 * and measured beside a neighbour:
 *  - a worker thread left spinning (`new Worker('for(;;){}')`, unref'd): the neighbour's
 *    throughput fell from 2,240 to 600 items in 6 s for as long as the worker lived (the orphan
 *    guard reads the main thread's CPU only);
 *  - a child process left running (`spawn('node', ['-e', 'for(;;){}'])`): 2,040 -> 280-400;
 *  - an async hook left enabled (`async_hooks.createHook({ init() {...} }).enable()`): the
 *    neighbour's async item 0.7 ms -> 355 ms, and the hook saw every resource of it;
 *  - loader hooks (`module.register`) or a replaced `Module.prototype._compile`: another app's
 *    module task ran the hostile's code;
 *  - the worker reniced (`os.setPriority(19)`, which an unprivileged process cannot undo): 1,180
 *    -> 140 items in 5 s on a busy host.
 * What the worker's initializer sets up (an APM agent's hooks, a loader, a sidecar) is part of the
 * baseline: the marks are armed after it, as the first chunk enters, before any task runs. The
 * wrappers (worker_threads' Worker, async_hooks' createHook, module's register) are what tasks
 * import: a task that reaches past them on purpose (the wrapped class's parent, a hook's prototype
 * method, an addon) is not seen: the realm guard guards against accidents, not malice (its header).
 * Looked at only when the worker switches apps, after the built-ins are put back. A thread a task
 * leaves running and does not terminate, even idle, counts: the worker is replaced at the switch.
 */
import fs from 'node:fs';
import { ObjectIs, SafeSyncBuiltinESMExports, SetPrototypeHas } from './primordials.js';

const builtin = process.getBuiltinModule.bind(process);
// Copies taken now: a task may replace fs's and os's exports, or process.pid, for every later task.
const readFileSync = fs.readFileSync;
const PID = process.pid;
const getPriority = builtin('node:os').getPriority;

type WorkerClass = typeof import('node:worker_threads').Worker;
/** worker_threads' Worker as Node made it, once wrapped (arm): the worker's own threads are not a task's. */
let unwrapped: WorkerClass | undefined;

/** worker_threads' Worker, not the wrapper tasks get (the orphan guard starts its thread with it). */
export function workerClass(): WorkerClass {
  return unwrapped ?? builtin('node:worker_threads').Worker;
}

type ModuleStatics = Record<'_load' | '_resolveFilename', unknown> & {
  _extensions: Record<string, unknown>;
  prototype: Record<string, unknown>;
};

/** What a CommonJS loader hook replaces (require-in-the-middle, @babel/register, pirates), by name. */
function loaderParts(Module: ModuleStatics): [string, unknown][] {
  const ext = Module._extensions;
  return [
    ['Module.prototype._compile', Module.prototype._compile],
    ['Module.prototype.require', Module.prototype.require],
    ['Module._load', Module._load],
    ['Module._resolveFilename', Module._resolveFilename],
    ['Module._extensions', ext],
    ["Module._extensions['.js']", ext['.js']],
    ["Module._extensions['.json']", ext['.json']],
    ["Module._extensions['.node']", ext['.node']],
  ];
}

export class ProcessMarks {
  #armed = false;
  /** Worker threads a task started that have not exited. */
  readonly #threads = { running: 0 };
  /** Async hooks a task created that are enabled now. */
  readonly #hooks = new Set<object>();
  /** A task called module.register. */
  #registered = false;
  #priority = 0;
  readonly #loader = new Map<string, unknown>();
  readonly #children = new Set<string>();

  /**
   * Takes the baseline and installs the wrappers: once, as the first chunk enters (after the initializer, before
   * any task). One that fails (a sandbox without the priority call) leaves the marks off, not the worker refusing
   * every chunk, as it would each replacement's.
   */
  arm(): void {
    if (this.#armed) return;
    try {
      this.#arm();
      this.#armed = true;
    } catch {
      // Off: changed() says nothing.
    }
  }

  #arm(): void {
    this.#priority = getPriority();
    for (const pid of childPids()) this.#children.add(pid);
    const Module = builtin('node:module') as unknown as ModuleStatics & { register?: (...args: unknown[]) => unknown };
    for (const [name, value] of loaderParts(Module)) this.#loader.set(name, value);
    this.#wrapWorker();
    this.#wrapHooks();
    const register = Module.register;
    if (typeof register === 'function') {
      Module.register = (...args: unknown[]): unknown => {
        this.#registered = true;
        return register(...args);
      };
    }
    SafeSyncBuiltinESMExports();
  }

  /** What a task changed for good since the baseline, in a few words; undefined if nothing. */
  changed(): string | undefined {
    if (!this.#armed) return undefined;
    const { running } = this.#threads;
    if (running > 0) return `${running} worker thread${running === 1 ? '' : 's'} still running`;
    if (this.#hooks.size > 0) return 'an async hook left enabled';
    if (this.#registered) return 'module loader hooks registered (module.register)';
    for (const [name, value] of loaderParts(builtin('node:module') as unknown as ModuleStatics)) {
      if (!ObjectIs(value, this.#loader.get(name))) return `${name} replaced`;
    }
    let priority = this.#priority;
    try {
      priority = getPriority();
    } catch {
      // No answer: nothing to tell.
    }
    if (priority !== this.#priority) return `its priority changed (nice ${this.#priority} -> ${priority})`;
    const children = childPids();
    for (let i = 0; i < children.length; i++) {
      if (!SetPrototypeHas(this.#children, children[i])) return `a child process still running (pid ${children[i]})`;
    }
    return undefined;
  }

  #wrapWorker(): void {
    const threads = builtin('node:worker_threads');
    const Original = threads.Worker;
    unwrapped = Original;
    const counted = this.#threads;
    class Worker extends Original {
      #counted = true;
      constructor(...args: ConstructorParameters<typeof Original>) {
        super(...args);
        counted.running++;
        this.once('exit', () => this.#uncount());
      }

      /** Going from the call on: a terminate() not awaited had the next app's switch find it still running. */
      override terminate(): Promise<number> {
        this.#uncount();
        return super.terminate();
      }

      #uncount(): void {
        if (!this.#counted) return;
        this.#counted = false;
        counted.running--;
      }
    }
    threads.Worker = Worker;
  }

  #wrapHooks(): void {
    const asyncHooks = builtin('node:async_hooks');
    const createHook = asyncHooks.createHook;
    const hooks = this.#hooks;
    asyncHooks.createHook = function (callbacks) {
      const hook = createHook(callbacks);
      const enable = hook.enable.bind(hook);
      const disable = hook.disable.bind(hook);
      hook.enable = () => (hooks.add(hook), enable());
      hook.disable = () => (hooks.delete(hook), disable());
      return hook;
    };
  }
}

/**
 * The pids of the children the main thread spawned (a task's spawn runs there). Read from its own
 * `children` list only: every thread's cost ~100 us a switch (measured with the isolation bench), and
 * a worker thread that spawns is itself seen while it runs.
 */
function childPids(): string[] {
  let list: string;
  try {
    list = readFileSync(`/proc/self/task/${PID}/children`, 'latin1');
  } catch {
    return []; // not Linux, or a kernel without the list: no children seen
  }
  const out: string[] = [];
  for (const pid of list.split(' ')) if (pid.trim() !== '') out.push(pid.trim());
  return out;
}
