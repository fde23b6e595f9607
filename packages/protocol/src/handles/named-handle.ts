/**
 * What every shared-state handle (Value, Queue, Dict, Lock) has: its name,
 * checked once when the handle is made, and the transport it talks through.
 * A bad name never throws at creation: every call on the handle rejects with it.
 */
import { decodeData } from '../codec.js';
import { BadArgumentError, type BadNameError } from '../errors.js';
import { checkOptionKeys } from '../option-keys.js';
import { nameError, type StateTransport } from './transport.js';

/** Base of the state handles. */
export abstract class NamedHandle {
  /** The shared object's name. */
  readonly name: string;
  protected readonly transport: StateTransport;
  /** Set when the name (or the handle's options) is bad: what every call rejects with. */
  protected readonly bad: BadNameError | BadArgumentError | undefined;

  constructor(kind: string, transport: StateTransport, name: string, options?: unknown) {
    this.transport = transport;
    this.name = name;
    this.bad = nameError(kind, name) ?? optionsError(kind, options);
  }

  /** Throws the bad-name error (inside an async method: rejects with it). */
  protected checkName(): void {
    if (this.bad !== undefined) throw this.bad;
  }
}

/** A handle's options are those of a Value: `initial`. */
const HANDLE_OPTION_KEYS = ['initial'];

function optionsError(kind: string, options: unknown): BadArgumentError | undefined {
  if (options === undefined) return undefined;
  // value(name, 5) must not quietly mean "no initial".
  if (typeof options !== 'object' || options === null)
    return new BadArgumentError(`${kind} options must be an object such as { initial: 0 }`);
  try {
    // value(name, { init: 0 }) neither.
    checkOptionKeys(options, HANDLE_OPTION_KEYS, kind);
    return undefined;
  } catch (err) {
    return err as BadArgumentError;
  }
}

/**
 * Throws BadArgumentError unless `fn` is a function (or absent, when `optional`): a subscriber
 * that is not one would otherwise throw from the first push, outside the caller's reach.
 */
export function checkListener(what: string, fn: unknown, optional = false): void {
  if (typeof fn === 'function' || (optional && fn === undefined)) return;
  throw new BadArgumentError(`${what} must be a function${optional ? ' (or left out)' : ''}, got ${fn === null ? 'null' : typeof fn}`);
}

/** Decodes pushed data; undefined for bytes that do not decode (a push is dropped, never thrown). */
export function decodePushed<T>(bytes: Uint8Array): { value: T } | undefined {
  try {
    return { value: decodeData(bytes) as T };
  } catch {
    return undefined;
  }
}
