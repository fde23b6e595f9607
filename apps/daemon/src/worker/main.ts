/**
 * Entry point of a worker process (forked by the primary through node:cluster).
 * It imports neither primary/ nor state/: everything arrives over IPC.
 *
 * Exits the primary must not blame on the chunk running (a callback another
 * realm's task left behind throws or calls process.exit, the realm guard
 * refuses a chunk) are announced with a `recycle` message first.
 */
import { createRequire } from 'node:module';
import { DEFAULT_MAX_PAYLOAD, ENVELOPE_BYTES, ErrorCode, type WireError } from '@corepool/protocol';
import { Dict, Lock, Queue, Value } from '@corepool/protocol';
import { Channel } from '../channel.js';
import { INIT_ENV, MAX_RESULT_ENV, type PrimaryToWorker, type WorkerToPrimary } from '../ipc.js';
import { IpcTransport } from './ipc-transport.js';
import { Leftovers } from './leftovers.js';
import { PromisePrototypeThen, SafeNextTick } from './primordials.js';
import { startOrphanGuard } from './orphan-guard.js';
import { runInitializer } from './initializer.js';
import { quietOwnWarnings } from './quiet-warnings.js';
import { initBegins, runEnds } from './run-state.js';
import { WorkerTaskContext } from './context.js';
import { RealmGuard } from './realm-guard.js';
import { Runner, taskError } from './runner.js';
import { stateFactory } from './state-factory.js';
import { TaskScope } from './task-scope.js';

/** Exit code of a worker that leaves on purpose (recycle) or after an uncaught exception. */
const EXIT_CODE = 70;

/** Set once this process is doomed (uncaught exception, recycle): nothing else goes out. */
let dying = false;
/** Set once the initializer has run (an exception thrown while it runs is nobody's item). */
let runner: Runner | undefined;
/** Why the initializer failed, if it did: every chunk fails with it. */
let initError: WireError | undefined;

const channel = Channel.worker<PrimaryToWorker, WorkerToPrimary>((m) => {
  if (m.t === 'state.reply' || m.t === 'push') transport.receive(m);
  // The primary sends chunks only after `ready`; a worker whose initializer failed answers each with the failure.
  else if (initError !== undefined) {
    if (m.t === 'run') send({ t: 'fail', key: m.key, error: initError });
  } else {
    if (m.t === 'run') guardOrphan();
    runner?.receive(m);
  }
});

function send(m: WorkerToPrimary): void {
  // After the primary is gone the channel is closed; the orphan guard ends us shortly.
  if (!dying) channel.send(m);
}

const realExit = process.exit.bind(process);

/** Sends a last message, then exits once it is handed to the kernel (or after 500 ms). */
function leave(last: WorkerToPrimary): void {
  if (dying) return;
  dying = true;
  const exit = (): never => realExit(EXIT_CODE);
  setTimeout(exit, 500).unref();
  if (!channel.send(last, exit)) exit();
}

/** Leaves without blame for any chunk: the reason goes to the daemon's log and to the primary. */
function recycle(reason: string, culprit: string | undefined): void {
  if (dying) return;
  process.stderr.write(`${JSON.stringify({ event: 'worker-recycle', pid: process.pid, reason })}\n`);
  leave(culprit === undefined ? { t: 'recycle', reason } : { t: 'recycle', reason, culprit });
}

// The orphan guard must run before any code of the user's: before the initializer if there is one, else as
// the first chunk comes. Not at startup: its thread's boot would compete with the worker's own, and with the
// other workers' and the primary's while the daemon starts. Until a chunk runs, the event loop is free and
// the IPC 'disconnect' ends an orphan (below).
let guarded = false;
function guardOrphan(): void {
  if (guarded) return;
  guarded = true;
  startOrphanGuard();
}
const initializer = (process.env[INIT_ENV] ?? '') !== '';
if (initializer) guardOrphan();
// A source task is a plain function: give it `require`, as a CommonJS function would have. It
// resolves from the daemon's working directory, as import() in a source task does (compile.ts
// compiles with the default loader, which resolves from there): one rule for both.
// No main module either, as when the entry was an ES module: a library that finds the app's root from
// require.main would take the worker's own file for it.
delete (process as { mainModule?: unknown }).mainModule;
quietOwnWarnings();
(globalThis as { require?: NodeJS.Require }).require ??= createRequire(`${process.cwd()}/`);
const transport = new IpcTransport(send);
const leftovers = new Leftovers();
leftovers.install();
// Calls from work another app's task left behind are refused (task-scope.ts); `stray` reads `runner` only when called.
const scope = new TaskScope(transport, () => stray(leftovers.origin()));
// Any handle reaches the scope (`handle.transport`: protected only to TypeScript), and through it and the handles
// their prototypes. Frozen, no task can patch what the runner and other apps' tasks call: a hostile review's
// `ctx.queue('q').transport.begin = () => { throw 0 }` made the worker fail every later chunk of every app at once.
Object.freeze(scope);
for (const made of [TaskScope, Value, Queue, Dict, Lock, WorkerTaskContext]) {
  for (let p: object | null = made.prototype; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p)) Object.freeze(p);
}

/** True when code of `origin`'s realm runs while no item of that realm does: it was left behind. */
function stray(origin: string | undefined): boolean {
  return origin !== undefined && origin !== runner?.current()?.realm;
}

// process.exit() from a callback another realm left behind must not be charged to the item running.
// The report is written at once (an idle socket takes it synchronously), then the process exits as asked.
process.exit = function exit(code?: string | number | null): never {
  const origin = leftovers.origin();
  if (stray(origin)) recycle(`process.exit() called by a callback realm ${origin} left behind`, origin);
  return realExit(code);
} as typeof process.exit;

// An unhandled rejection of a task's stray promise is ignored (it has no caller to fail). The
// runner's own promises all end in a catch (runner.ts), so none of its failures can land here.
process.on('unhandledRejection', () => {});
// An exception thrown in a task's async callback (setTimeout, an event handler) has no caller to
// reject: the item it would have settled may never finish. If the callback is of the realm running
// now, it fails the item running with a TaskError; if another realm's task left it behind, no item
// is blamed. Either way the process, whose state can no longer be trusted, exits to be replaced.
process.on('uncaughtException', (err) => {
  if (dying) return;
  const origin = leftovers.origin();
  if (stray(origin)) {
    recycle(`a callback realm ${origin} left behind threw: ${taskError(err, -1, true).message.slice(0, 200)}`, origin);
    return;
  }
  const cur = runner?.current();
  const report: WorkerToPrimary = { t: 'uncaught', error: taskError(err, cur?.index ?? -1, true) };
  if (cur !== undefined) {
    report.key = cur.key;
    report.i = cur.i;
  }
  leave(report);
});
process.on('disconnect', () => realExit(0));

// The entry is a CommonJS file (scripts/bundle.mjs says why), so this cannot be a top-level await. A failure here
// (the realm guard's walk throwing over what an initializer left) is rethrown as an uncaught exception, as an
// ES module's evaluation error was: the worker reports it and exits before `ready`. The rethrow goes through the
// worker's own copies (primordials.ts): an initializer that replaced process.nextTick or Promise.prototype.then
// must not turn a failed start into a silent wait for the init timeout.
void PromisePrototypeThen(start(), undefined, (err: unknown) =>
  SafeNextTick(() => {
    throw err;
  }),
);

async function start(): Promise<void> {
  // Before the realm guard's baselines: what the initializer sets up (globals, env) is part of them, so it survives.
  // An initializer may run long (loading a model): it counts as running, not as work left behind (run-state.ts).
  initBegins();
  initError = await runInitializer();
  runEnds();
  if (initError !== undefined)
    process.stderr.write(`${JSON.stringify({ event: 'worker-init-failed', pid: process.pid, error: initError.message })}\n`);
  // Without an initializer, `ready` goes out before the realm guard takes its baselines (4-10 ms of walking the
  // globals and intrinsics): the primary, which listens once every worker is ready, hears sooner. No chunk can come
  // before they are taken: they are taken in this same synchronous turn, and the channel is read only once it ends.
  // After an initializer they are taken first: what it left may make the walk throw, and a worker that dies before
  // `ready` is an initializer failure (its slot comes up failed), where one that dies after would be restarted.
  const readyMessage: WorkerToPrimary = initError === undefined ? { t: 'ready' } : { t: 'ready', initError };
  if (!initializer) send(readyMessage);
  const guard = new RealmGuard(leftovers);
  runner = new Runner(
    {
      send,
      refuse: recycle,
      fatal: (err) => {
        process.stderr.write(
          `${JSON.stringify({ event: 'worker-internal-error', pid: process.pid, error: String((err as Error)?.stack ?? err) })}\n`,
        );
        leave({ t: 'uncaught', error: { code: ErrorCode.E_INTERNAL, message: 'the worker failed while running a chunk' } });
      },
    },
    stateFactory(scope, () => runner?.current()?.realm),
    scope,
    guard,
    Number(process.env[MAX_RESULT_ENV]) || DEFAULT_MAX_PAYLOAD - ENVELOPE_BYTES,
  );
  if (initializer) send(readyMessage);
}
