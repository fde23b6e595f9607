/**
 * Queue<T>: a named FIFO held by the daemon's primary. Each item goes to
 * exactly one getter; blocked getters are served in arrival order. Items
 * survive a daemon restart.
 */
import { decodeData } from '../codec.js';
import { NamedHandle } from './named-handle.js';
import { encodeOperand, wireTimeout, type StateTransport, type TimeoutOptions } from './transport.js';

/** A handle on a shared Queue. Methods never throw synchronously: they reject with a CorepoolError. */
export class Queue<T = unknown> extends NamedHandle {
  constructor(transport: StateTransport, name: string) {
    super('queue', transport, name);
  }

  /** Appends an item (or hands it straight to the oldest blocked getter). */
  async put(item: T): Promise<void> {
    this.checkName();
    const a = encodeOperand(item, `the item put on "${this.name}"`);
    await this.transport.request({ op: 'queue.put', name: this.name, a });
  }

  /** Takes the oldest item, waiting for one up to `timeoutMs` (E_TIMEOUT), forever by default. */
  async get(options?: TimeoutOptions): Promise<T> {
    this.checkName();
    const timeoutMs = wireTimeout(options, 'queue.get');
    const bytes = await this.transport.request(
      timeoutMs === undefined ? { op: 'queue.get', name: this.name } : { op: 'queue.get', name: this.name, timeoutMs },
    );
    return decodeData(bytes as Uint8Array) as T;
  }

  /** How many items wait in the queue. */
  async size(): Promise<number> {
    this.checkName();
    return (await this.transport.request({ op: 'queue.size', name: this.name })) as number;
  }

  /**
   * Deletes the queue: every item in it is dropped. Resolves to true if it held items, false if
   * it was empty or never existed. Gets blocked on it keep waiting (deleting is emptying), and
   * the next put makes it again. Applied once, also when resent after a reconnect.
   */
  async delete(): Promise<boolean> {
    this.checkName();
    return (await this.transport.request({ op: 'queue.remove', name: this.name })) as boolean;
  }

  /** The same as delete(): a queue with no items is no queue. */
  clear(): Promise<boolean> {
    return this.delete();
  }
}
