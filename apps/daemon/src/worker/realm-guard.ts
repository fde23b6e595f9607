/**
 * Isolation between the apps (realms) that share a worker: one app's task
 * cannot change what another app's task sees. Tasks are the trusted code of
 * the token's holders; this guards against accidents (a polyfill, a stubbed
 * Date.now, a chdir, a timer left running), not against malice: a task can
 * still reach anything the worker process can.
 *
 * Chosen over the alternatives, measured on this machine:
 *  - A vm context per realm would give each app its own intrinsics, but not
 *    its own process, env, cwd or builtin modules; its values fail
 *    `instanceof` checks of the worker's realm, and module tasks cannot run
 *    in it.
 *  - Replacing a worker after every switch of realm costs a fork (~100 ms).
 *  - Freezing the intrinsics (SES lockdown) breaks ordinary code: with
 *    Error.prototype frozen, `err.name = 'X'` throws in strict mode.
 * So: a baseline of the globals and intrinsics (global-baseline.ts), put back
 * when a chunk of another realm comes (~0.3 ms per switch, nothing within a
 * realm, so an app's own memoized globals survive across its chunks), which
 * also gets new function objects of the source tasks (compile.ts); env,
 * cwd and umask put back before every chunk (process-baseline.ts, ~0 us when
 * untouched; the environment compared in full on a switch); and the timers a
 * task leaves behind cleared when it ends, the rest attributed to its realm
 * (leftovers.ts). A change that cannot be undone (process-marks.ts: threads,
 * children, async hooks, loader hooks, priority) makes the worker refuse the
 * other realm's chunk and exit to be replaced.
 */
import { RSS_LIMIT_ENV } from '../ipc.js';
import { renewTasks } from './compile.js';
import { GlobalBaseline, describe } from './global-baseline.js';
import type { Leftovers } from './leftovers.js';
import { AtomicsWait, ProcessMemoryRss, V8GetHeapStatistics, V8SetFlagsFromString, VmRunInNewContext } from './primordials.js';
import { ProcessBaseline } from './process-baseline.js';
import { ProcessMarks } from './process-marks.js';

/** The realm boundary of one worker process. */
export class RealmGuard {
  readonly #globals: GlobalBaseline;
  readonly #process: ProcessBaseline;
  readonly #marks = new ProcessMarks();
  /** Realm of the last chunk run; undefined before the first. */
  #realm: string | undefined;

  /** Takes the baselines: call once, after every wrapper (leftovers, process.exit) is installed. */
  constructor(readonly leftovers: Leftovers) {
    this.#process = new ProcessBaseline();
    this.#globals = new GlobalBaseline();
  }

  /** Realm of the last chunk run: the one a refused chunk blames. */
  get realm(): string | undefined {
    return this.#realm;
  }

  /** Readies the worker for a chunk of `realm`; the reason if it cannot (the worker must exit then). */
  enter(realm: string): string | undefined {
    try {
      return this.#enter(realm);
    } catch (err) {
      // A task left the worker unable to look at itself (every file descriptor taken: reading its memory from
      // /proc failed with EMFILE). Thrown on, each later chunk, every app's, was answered E_INTERNAL at once by a
      // worker kept for good: a hostile co-tenant's leaked descriptors failed the whole pool (a hostile review).
      return `a task of realm ${this.#realm} left the worker unable to ready itself for another chunk: ${describe(err)}`;
    }
  }

  #enter(realm: string): string | undefined {
    if (realm === this.#realm) return this.#process.reset(false);
    // Memory the last realm left held: the next realm's allocations would take the worker past its limits,
    // its death (and the restart) then charged to them. Looked at only when another realm comes.
    if (this.#realm !== undefined) {
      const left = memoryLeft();
      if (left !== undefined) return `a task of realm ${this.#realm} left the worker holding ${left}`;
    } else {
      this.#marks.arm();
    }
    // The globals first: the process reset then runs with the built-ins as they were at startup.
    const dirty = this.#globals.restore();
    if (dirty !== undefined) return `a task of realm ${this.#realm} changed the worker for good: ${dirty}`;
    // After the restore: the marks are read with the built-ins put back (a task's String.prototype.split hid a
    // child, its Set.prototype.size an async hook, and the next switch blamed the app after it: a reviewer's case).
    const changed = this.#realm === undefined ? undefined : this.#marks.changed();
    if (changed !== undefined) return `a task of realm ${this.#realm} changed the worker for good: ${changed}`;
    this.#realm = realm;
    renewTasks();
    return this.#process.reset(true);
  }
}

/** The share of the worker's limits (the primary's RSS watchdog, V8's heap) past which another realm's chunk finds it too full. */
const LEFT_SHARE = 0.75;
/** The RSS watchdog's limit in bytes (0: none), as the primary set it for its workers. */
const RSS_LIMIT = Number(process.env[RSS_LIMIT_ENV]) || 0;
/** How long a switch waits, after a collection, for freed memory to leave (only past a limit), and how often it looks. */
const RELEASE_WAIT_MS = 200;
const RELEASE_STEP_MS = 10;
const pause = new Int32Array(new SharedArrayBuffer(4));
const MiB = 1024 * 1024;

/**
 * What the worker holds past LEFT_SHARE of a limit once a full collection has run, said for a log line;
 * undefined when under both. Measured first without one (a few microseconds), and looked at again after
 * a collection only past a limit: what an app used and dropped (garbage, freed buffers) is not held, and
 * counted it would have the worker replaced at each switch after a memory-hungry app. It runs before the
 * switch puts the built-ins back: through the worker's own copies (primordials.ts).
 */
function memoryLeft(): string | undefined {
  if (over() === undefined) return undefined;
  try {
    collect();
  } catch {
    // No collection to be had: what was measured stands.
  }
  // Freed buffers' memory goes back to the system from a background thread, a moment after the collection.
  let left = over();
  for (let waited = 0; left !== undefined && waited < RELEASE_WAIT_MS; waited += RELEASE_STEP_MS) {
    AtomicsWait(pause, 0, 0, RELEASE_STEP_MS);
    left = over();
  }
  return left;
}

function over(): string | undefined {
  const rss = ProcessMemoryRss();
  if (RSS_LIMIT > 0 && rss > LEFT_SHARE * RSS_LIMIT)
    return `${Math.round(rss / MiB)} MB resident of its ${Math.round(RSS_LIMIT / MiB)} MB limit`;
  const heap = V8GetHeapStatistics();
  if (heap.used_heap_size > LEFT_SHARE * heap.heap_size_limit)
    return `${Math.round(heap.used_heap_size / MiB)} MB of heap of its ${Math.round(heap.heap_size_limit / MiB)} MB limit`;
  return undefined;
}

/** A full collection: V8's `gc`, exposed to a context of the worker's own only (tasks' globals get no `gc`). */
let collect = (): void => {
  V8SetFlagsFromString('--expose-gc');
  const gc = VmRunInNewContext('gc') as () => void;
  collect = gc;
  gc();
};
