/**
 * The task sources this client sent on its current connection, so that a
 * function submitted again goes as its hash alone: the daemon keeps what each
 * connection sent (its welcome says `sourcesByHash`), in an LRU updated by the
 * same messages in the same order with larger bounds (CONNECTION_SOURCES
 * against CLIENT_SOURCES), so every hash this sends alone is there. Made anew
 * with each welcome: a new socket starts with nothing known.
 *
 * The daemon can miss a message this counted: a `batch.open` it cannot parse
 * (an option this SDK let through and the daemon refuses), or a source it
 * keeps no record of because its hash does not match (a lone surrogate does
 * not survive UTF-8). So a source that is not well-formed UTF-16 is not
 * counted, and any refused batch makes this forget everything (`forget`): an
 * empty list is always within the daemon's, and the next batches send their
 * sources whole again.
 */
import { CLIENT_SOURCES, MAX_KEPT_SOURCE_CHARS, SourceLru, type TaskSpec } from '@corepool/protocol/internal';

/** A UTF-16 surrogate without its pair: the source's UTF-8, and so the daemon's hash of it, differ from this one's. */
const LONE_SURROGATE = /\p{Surrogate}/u;

/** The sources sent on one connection, by hash. */
export class SentSources {
  #lru = new SourceLru(CLIENT_SOURCES);

  /**
   * What to put in the `batch.open` about to be sent: `spec` itself the first time (and
   * counted as sent), its hash alone (`source: ''`) once the daemon has it. Call once per
   * open sent, in sending order: the daemon counts each one as it arrives.
   */
  wire(spec: TaskSpec): TaskSpec {
    if (spec.kind !== 'source' || spec.source.length > MAX_KEPT_SOURCE_CHARS) return spec;
    if (this.#lru.touch(spec.hash)) return { kind: 'source', hash: spec.hash, source: '' };
    // Scanned once, when first counted: a source kept was scanned then.
    if (LONE_SURROGATE.test(spec.source)) return spec;
    this.#lru.set(spec.hash, spec.source.length, undefined);
    return spec;
  }

  /** Counts nothing as sent any more: a batch was refused, and the daemon may not have counted its open. */
  forget(): void {
    this.#lru = new SourceLru(CLIENT_SOURCES);
  }
}
