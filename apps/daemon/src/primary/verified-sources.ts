/**
 * Source tasks are content-addressed: a worker compiles a source once and
 * runs later chunks by its hash alone. A hash is only as good as the daemon's
 * check of it, or one client could register its own code under the hash of
 * another client's function and have it run in that client's batches. So the
 * primary checks every source against its hash (sha256, base64url, as the SDK
 * computes it) when a batch opens, and trusts a hash-only spec only for a
 * source it has verified itself (kept here, within a byte budget).
 */
import { createHash } from 'node:crypto';
import { BadTaskError, type TaskSpec } from '@corepool/protocol';

/** Characters of verified sources kept for hash-only specs (oldest dropped first). */
const KEPT_SOURCE_CHARS = 16 * 1024 * 1024;

/** The hash of a task source, as the SDK computes it. */
export function sourceHash(source: string): string {
  return createHash('sha256').update(source).digest('base64url');
}

/** Sources whose hash the primary has checked. */
export class VerifiedSources {
  /** Hash -> source, least recently used first. */
  readonly #byHash = new Map<string, string>();
  #chars = 0;

  /** The spec to run (with its source) if its hash names its source, else BadTaskError. */
  check(task: TaskSpec): TaskSpec | BadTaskError {
    if (task.kind !== 'source') return task;
    const known = this.#byHash.get(task.hash);
    if (task.source === '') {
      if (known === undefined) return new BadTaskError(`unknown task hash ${JSON.stringify(task.hash.slice(0, 64))}: send the task's source`);
      this.#keep(task.hash, known);
      return { kind: 'source', hash: task.hash, source: known };
    }
    // The same source again (every batch of a function sends it) costs a string compare, not a hash.
    if (known !== task.source && sourceHash(task.source) !== task.hash) {
      return new BadTaskError('the task hash does not match its source (the hash must be the sha256 of the source, base64url)');
    }
    this.#keep(task.hash, task.source);
    return task;
  }

  #keep(hash: string, source: string): void {
    const old = this.#byHash.get(hash);
    if (old !== undefined) {
      this.#byHash.delete(hash);
      this.#chars -= old.length;
    }
    this.#byHash.set(hash, source);
    this.#chars += source.length;
    for (const [h, s] of this.#byHash) {
      if (this.#chars <= KEPT_SOURCE_CHARS || h === hash) break;
      this.#byHash.delete(h);
      this.#chars -= s.length;
    }
  }
}
