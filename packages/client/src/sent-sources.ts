/**
 * The task sources this client sent on its current connection, so that a
 * function submitted again goes as its hash alone: the daemon keeps what each
 * connection sent (its welcome says `sourcesByHash`), in an LRU updated by the
 * same messages in the same order with larger bounds (CONNECTION_SOURCES
 * against CLIENT_SOURCES), so every hash this sends alone is there. Made anew
 * with each welcome: a new socket starts with nothing known.
 */
import { CLIENT_SOURCES, MAX_KEPT_SOURCE_CHARS, SourceLru, type TaskSpec } from '@corepool/protocol/internal';

/** The sources sent on one connection, by hash. */
export class SentSources {
  readonly #lru = new SourceLru(CLIENT_SOURCES);

  /**
   * What to put in the `batch.open` about to be sent: `spec` itself the first time (and
   * counted as sent), its hash alone (`source: ''`) once the daemon has it. Call once per
   * open sent, in sending order: the daemon counts each one as it arrives.
   */
  wire(spec: TaskSpec): TaskSpec {
    if (spec.kind !== 'source' || spec.source.length > MAX_KEPT_SOURCE_CHARS) return spec;
    if (this.#lru.touch(spec.hash)) return { kind: 'source', hash: spec.hash, source: '' };
    this.#lru.set(spec.hash, spec.source.length, undefined);
    return spec;
  }
}
