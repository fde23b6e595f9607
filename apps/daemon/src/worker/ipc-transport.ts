/**
 * The shared-state transport inside a worker: ctx.value(...) and friends send
 * their requests to the primary over the IPC channel and get pushes back.
 */
import { fromWire, type Push, type StateRequest } from '@corepool/protocol';
import type { PushMessage, StateReplyMessage, WorkerToPrimary } from '../ipc.js';

type Listener = (push: Push) => void;

/** StateTransport over process.send (one per worker process). */
export class IpcTransport {
  #rid = 0;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>();
  #listeners = new Map<string, Set<Listener>>();
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
  listen(kind: 'value' | 'dict', name: string, cb: Listener): () => void {
    const key = `${kind}\0${name}`;
    let set = this.#listeners.get(key);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(key, set);
    }
    set.add(cb);
    // Subscribing is idempotent at the primary; each new listener gets the current state first.
    const subscribed = this.request({ op: `${kind}.subscribe`, name });
    subscribed.then(
      (reply) => {
        // The subscribe reply carries the current state: deliver it as a first push.
        if (kind === 'value' && set.has(cb)) {
          const r = reply as { version: number; value: Uint8Array };
          cb({ type: 'push', kind, name, version: r.version, value: r.value });
        }
      },
      () => {},
    );
    return () => {
      if (!set.delete(cb)) return;
      if (set.size === 0) {
        this.#listeners.delete(key);
        this.request({ op: `${kind}.unsubscribe`, name }).catch(() => {});
      }
    };
  }

  /** Routes a reply or a push from the primary. */
  receive(m: StateReplyMessage | PushMessage): void {
    if (m.t === 'push') {
      const set = this.#listeners.get(`${m.push.kind}\0${m.push.name}`);
      if (set !== undefined) for (const cb of set) cb(m.push);
      return;
    }
    const p = this.#pending.get(m.rid);
    if (p === undefined) return;
    this.#pending.delete(m.rid);
    if (m.ok) p.resolve(m.value);
    else p.reject(fromWire(m.error ?? { code: 'E_INTERNAL', message: 'state request failed' }));
  }
}
