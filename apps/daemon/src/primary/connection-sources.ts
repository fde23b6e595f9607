/**
 * The task sources one connection sent, so that its client sends each source
 * once and then only its hash: a 10 KB function submitted in a loop crossed
 * the socket, was decoded and compared on every submit (measured: ~25 us of
 * the primary's CPU per submit for 12 KB, against none for its hash).
 *
 * Kept in a SourceLru bounded by CONNECTION_SOURCES and updated by every
 * source `batch.open` this connection sends, in the order they arrive, and by
 * nothing else; the SDK keeps the same LRU with smaller bounds (CLIENT_SOURCES),
 * updated by the same messages as it sends them, so a hash it sends alone is
 * always here. Only a source that matches its hash is kept (every source the
 * SDK sends does: a forged one is refused and never named here), and the
 * scheduler checks the spec this returns as if it had come whole
 * (VerifiedSources). A hash this connection did not send is left to the
 * scheduler, which knows the sources it verified for any connection.
 * Made at the connection's first source task: an idle client holds nothing.
 */
import { CONNECTION_SOURCES, MAX_KEPT_SOURCE_CHARS, SourceLru, sourceHash, type TaskSpec } from '@corepool/protocol/internal';

/** One connection's sources, by hash. */
export class ConnectionSources {
  #lru: SourceLru<string> | undefined;

  /**
   * The spec `task` stands for: itself, once kept, when it carries its source; with the
   * source this connection sent before, when it carries only the hash (source ''). A hash
   * this connection never sent is returned as it is, for the scheduler's own lookup.
   */
  resolve(task: TaskSpec): TaskSpec {
    // As the SDK does: a source over MAX_KEPT_SOURCE_CHARS is no event in either LRU.
    if (task.kind !== 'source' || task.source.length > MAX_KEPT_SOURCE_CHARS) return task;
    const lru = (this.#lru ??= new SourceLru<string>(CONNECTION_SOURCES));
    if (task.source === '') {
      if (!lru.touch(task.hash)) return task;
      return { kind: 'source', hash: task.hash, source: lru.peek(task.hash)! };
    }
    // As the SDK's side does: a hash already kept is touched, a new one kept (with this source, if it is this hash's).
    if (!lru.touch(task.hash) && sourceHash(task.source) === task.hash) lru.set(task.hash, task.source.length, task.source);
    return task;
  }
}
