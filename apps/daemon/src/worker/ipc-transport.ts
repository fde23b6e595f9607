/**
 * The shared-state transport inside a worker: ctx.value(...) and friends send
 * their requests to the primary over the IPC channel and get pushes back.
 */
import { decodeMessage } from '@corepool/protocol';
import { ListenerRegistry, PendingRequests, type Push, type StateRequest, type StateTransport } from '@corepool/protocol/internal';
import type { PushMessage, StateReplyMessage, WorkerToPrimary } from '../ipc.js';

/** StateTransport over the worker's data channel to the primary (one per worker process). */
export class IpcTransport implements StateTransport {
  readonly #pending = new PendingRequests<StateRequest>();
  readonly #listeners = new ListenerRegistry((req) => this.request(req));
  readonly #send: (m: WorkerToPrimary) => void;

  constructor(send: (m: WorkerToPrimary) => void) {
    this.#send = send;
  }

  /** Sends one state request to the primary. */
  request(req: StateRequest): Promise<unknown> {
    // The channel to the primary never refuses a message (it lasts as long as this process).
    return this.#pending.add(req, (rid) => {
      this.#send({ t: 'state', rid, req });
      return true;
    });
  }

  /** The running task was cancelled, or ended: the primary fails this worker's blocked queue gets now, and with `locks` its blocked acquires. */
  cancelBlocked(locks = false): void {
    this.#send(locks ? { t: 'state.cancel', locks: true } : { t: 'state.cancel' });
  }

  /** An item a get took for a task cancelled meanwhile: the primary puts it back at the front of its queue. */
  giveBack(name: string, value: Uint8Array): void {
    this.#send({ t: 'state.return', name, value });
  }

  /** Registers a push listener, subscribing at the primary for the first one. */
  listen(kind: 'value' | 'dict', name: string, cb: (push: Push) => void, end?: (err: Error) => void, resync?: () => void): () => void {
    return this.#listeners.listen(kind, name, cb, end, resync);
  }

  /** Routes a reply or a push from the primary. */
  receive(m: StateReplyMessage | PushMessage): void {
    if (m.t === 'push') {
      this.#listeners.deliver(m.push);
      return;
    }
    // Before it is settled: a task cancelled meanwhile gives the item back (giveBack) after this, never before.
    if (m.ack === true) this.#send({ t: 'state.ack', rid: m.rid });
    this.#pending.settle(m.rid, m.payload === undefined ? m : { ...m, value: decodeMessage(m.payload) });
  }
}
