/**
 * Entry point of a worker process (forked by the primary through node:cluster).
 * It imports neither primary/ nor state/: everything arrives over IPC.
 */
import { createRequire } from 'node:module';
import { DEFAULT_MAX_PAYLOAD, ENVELOPE_BYTES } from '@corepool/protocol';
import { Channel } from '../channel.js';
import { MAX_RESULT_ENV, type PrimaryToWorker, type WorkerToPrimary } from '../ipc.js';
import { IpcTransport } from './ipc-transport.js';
import { startOrphanGuard } from './orphan-guard.js';
import { Runner, taskError } from './runner.js';
import { stateFactory } from './state-factory.js';
import { TaskScope } from './task-scope.js';

/** Set once an uncaught exception has doomed this process: nothing else goes out. */
let dying = false;

const channel = Channel.worker<PrimaryToWorker, WorkerToPrimary>((m) => {
  if (m.t === 'state.reply' || m.t === 'push') transport.receive(m);
  else runner.receive(m);
});

function send(m: WorkerToPrimary): void {
  // After the primary is gone the channel is closed; the orphan guard ends us shortly.
  if (!dying) channel.send(m);
}

startOrphanGuard();
// A source task is a plain function: give it `require` for Node's built-ins (and packages
// resolvable from the daemon's directory), as a CommonJS function would have. import() works too.
(globalThis as { require?: NodeJS.Require }).require ??= createRequire(`${process.cwd()}/`);
const transport = new IpcTransport(send);
const scope = new TaskScope(transport);
const runner = new Runner(send, stateFactory(scope), scope, Number(process.env[MAX_RESULT_ENV]) || DEFAULT_MAX_PAYLOAD - ENVELOPE_BYTES);

// An unhandled rejection inside a task's stray promise must not kill the worker silently mid-chunk.
process.on('unhandledRejection', () => {});
// An exception thrown in a task's async callback (setTimeout, an event handler) has no caller to
// reject: the item it would have settled may never finish. It fails the item running now with a
// TaskError, and the process, whose state can no longer be trusted, exits to be replaced.
process.on('uncaughtException', (err) => {
  if (dying) return;
  const cur = runner.current();
  const report: WorkerToPrimary = { t: 'uncaught', error: taskError(err, cur?.index ?? -1, true) };
  if (cur !== undefined) {
    report.key = cur.key;
    report.i = cur.i;
  }
  dying = true;
  const exit = (): never => process.exit(70);
  setTimeout(exit, 500).unref();
  if (!channel.send(report, exit)) exit();
});
process.on('disconnect', () => process.exit(0));
send({ t: 'ready' });
