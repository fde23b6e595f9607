/**
 * The shared-state transport inside a worker: ctx.value(...) and friends send
 * their requests to the primary over the IPC channel and get pushes back.
 */
import { ListenerRegistry, fromWire, type Push, type StateRequest } from '@corepool/protocol';
import type { PushMessage, StateReplyMessage, WorkerToPrimary } from '../ipc.js';

/** StateTransport over the worker's data channel to the primary (one per worker process). */
export class IpcTransport {
  #rid = 0;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  readonly #listeners = new ListenerRegistry((req) => this.request(req));
  readonly #send: (m: WorkerToPrimary) => void;

  constructor(send: (m: WorkerToPrimary) => void) {
    this.#send = send;
  }

  /** Sends one state request to the primary. */
  request(req: StateRequest): Promise<unknown> {
    const rid = ++this.#rid;
    return new Promise((resolve, reject) => {
      this.#pending.set(rid, { resolve, reject });
      this.#send({ t: 'state', rid, req });
    });
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
    const p = this.#pending.get(m.rid);
    if (p === undefined) return;
    this.#pending.delete(m.rid);
    if (m.ok) p.resolve(m.value);
    else p.reject(fromWire(m.error ?? { code: 'E_INTERNAL', message: 'state request failed' }));
  }
}
