/**
 * Entry point of a worker process (forked by the primary through node:cluster).
 * It imports neither primary/ nor state/: everything arrives over IPC.
 */
import type { PrimaryToWorker, WorkerToPrimary } from '../ipc.js';
import { IpcTransport } from './ipc-transport.js';
import { startOrphanGuard } from './orphan-guard.js';
import { Runner } from './runner.js';
import { stateFactory } from './state-factory.js';

function send(m: WorkerToPrimary): void {
  // A send after the primary is gone throws; the orphan guard ends us shortly.
  if (process.connected) process.send?.(m);
}

startOrphanGuard();
const transport = new IpcTransport(send);
const runner = new Runner(send, stateFactory(transport));

process.on('message', (m: PrimaryToWorker) => {
  if (m.t === 'state.reply' || m.t === 'push') transport.receive(m);
  else runner.receive(m);
});
// An unhandled rejection inside a task's stray promise must not kill the worker silently mid-chunk.
process.on('unhandledRejection', () => {});
process.on('disconnect', () => process.exit(0));
send({ t: 'ready' });
