/**
 * state-keys.ts - the Redis keys of the shared state, all under the cluster's
 * prefix (one hash tag, so every script's keys share a slot). A state name
 * comes last, after a prefix of its type that no other type's starts with, so
 * no two names of any types share a key; a name or dict key that is not
 * well-formed UTF-16 (a lone surrogate) is refused (E_BAD_NAME), since its
 * UTF-8 bytes could not tell it from the name with U+FFFD in its place.
 */
import { BadNameError } from '@corepool/protocol';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Throws E_BAD_NAME for a string with a lone surrogate; `what` names it in the message. */
export function checkWellFormed(s: string, what: string): void {
  if (LONE_SURROGATE.test(s)) throw new BadNameError(`${what} must be well-formed Unicode in cluster mode (no lone surrogates)`);
}

/** The keys of one cluster's shared state. */
export class StateKeys {
  readonly chg: string;
  readonly epoch: string;
  readonly fence: string;
  readonly stat: string;
  readonly #p: string;

  constructor(prefix: string) {
    this.#p = prefix;
    this.chg = `${prefix}chg`;
    this.epoch = `${prefix}chg:epoch`;
    this.fence = `${prefix}fence`;
    this.stat = `${prefix}stat`;
  }

  value(name: string): string {
    return `${this.#p}v:${name}`;
  }
  queue(name: string): string {
    return `${this.#p}q:${name}`;
  }
  lock(name: string): string {
    return `${this.#p}lock:${name}`;
  }
  dict(name: string): string {
    return `${this.#p}dict:${name}`;
  }
  dictOrder(name: string): string {
    return `${this.#p}dord:${name}`;
  }
  dictMeta(name: string): string {
    return `${this.#p}dver:${name}`;
  }
  /** A dict's three keys, as its scripts take them (KEYS[5..7]): entries, order, version. */
  dictKeys(name: string): string[] {
    return [this.dict(name), this.dictOrder(name), this.dictMeta(name)];
  }
  /** The queue items daemon `id`'s owners took and keep as replies: what goes back if it dies (orphan-sweep.ts). */
  held(id: string): string {
    return `${this.#p}held:${id}`;
  }
  /** Dead daemons with an `orphan:<id>` list (their `held:`, renamed by the reaper), by when they were declared dead (ms, Redis TIME). */
  get orphans(): string {
    return `${this.#p}orphans`;
  }
  /** Kept replies of a client instance; `rep:` alone (never written) for a request without one. */
  replies(instance: string | undefined): string {
    return `${this.#p}rep:${instance ?? ''}`;
  }
}
