/**
 * What every shared-state handle (Value, Queue, Dict, Lock) has: its name,
 * checked once when the handle is made, and the transport it talks through.
 * A bad name never throws at creation: every call on the handle rejects with it.
 */
import { decodeData } from '../codec.js';
import type { BadNameError } from '../errors.js';
import { nameError, type StateTransport } from './transport.js';

/** Base of the state handles. */
export abstract class NamedHandle {
  /** The shared object's name. */
  readonly name: string;
  protected readonly transport: StateTransport;
  /** Set when the name is bad: what every call rejects with. */
  protected readonly bad: BadNameError | undefined;

  constructor(kind: string, transport: StateTransport, name: string) {
    this.transport = transport;
    this.name = name;
    this.bad = nameError(kind, name);
  }

  /** Throws the bad-name error (inside an async method: rejects with it). */
  protected checkName(): void {
    if (this.bad !== undefined) throw this.bad;
  }
}

/** Decodes pushed data; undefined for bytes that do not decode (a push is dropped, never thrown). */
export function decodePushed<T>(bytes: Uint8Array): { value: T } | undefined {
  try {
    return { value: decodeData(bytes) as T };
  } catch {
    return undefined;
  }
}
