/**
 * Source tasks are content-addressed: a worker compiles a source once and
 * runs later chunks by its hash alone. A hash is only as good as the daemon's
 * check of it, or one client could register its own code under the hash of
 * another client's function and have it run in that client's batches. So the
 * primary checks every source against its hash (sha256, base64url, as the SDK
 * computes it) when a batch opens, and trusts a hash-only spec only for a
 * source it has verified itself (kept here, within a byte budget).
 */
import { ModuleHashes } from '../module-hashes.js';
import { moduleVersion } from '../module-version.js';
import { BadTaskError, sourceHash, type TaskSpec } from '@corepool/protocol';
import { SourceLru } from '@corepool/protocol/internal';

/** Verified sources kept for hash-only specs (least recently used dropped first). */
const KEPT = { count: Number.POSITIVE_INFINITY, chars: 16 * 1024 * 1024 };

/**
 * What each kept source counts besides its own characters: what its entry holds of the primary's
 * heap apart from its text (its 43-character hash and the string that hash was cut from, the
 * entry, its map slot; measured after a full GC: ~320 bytes for a one-line source). Counted by its
 * characters alone, the bound let small sources pile up: a raw client opening and closing batches
 * of 800,000 distinct one-line sources (no item run) left 283 MB of the primary's heap after a
 * full GC, for good, where the 16 Mi characters suggest 16 MB. So the bound holds ~32,000 small
 * sources at most (~11 MB), and large ones as before.
 */
export const VERIFIED_ENTRY_CHARS = 512;

/** A module batch's spec once its file is hashed off the primary's thread (module-hashes.ts). */
export interface PendingTask {
  readonly spec: Promise<TaskSpec | BadTaskError>;
  /** The batch no longer waits for it (cancelled, failed, its client gone). */
  cancel(): void;
}

/** Sources whose hash the primary has checked. */
export class VerifiedSources {
  readonly #byHash = new SourceLru<string>(KEPT);
  readonly #hashes = new ModuleHashes();

  /**
   * The spec to run (with its source) if its hash names its source, else BadTaskError; a PendingTask for a
   * module file too large to hash on the primary's thread, hashed in `client`'s turn (module-hashes.ts).
   */
  check(task: TaskSpec, client: string): TaskSpec | BadTaskError | PendingTask {
    // A module batch runs the file as it is now on every worker (module-version.ts).
    if (task.kind !== 'source') {
      const versioned = (version: string | undefined | BadTaskError): TaskSpec | BadTaskError =>
        version instanceof BadTaskError ? version : version === undefined ? task : { ...task, version };
      const version = moduleVersion(task.url);
      if (version !== 'later') return versioned(version);
      const wait = this.#hashes.request(task.url, client);
      return { spec: wait.version.then(versioned), cancel: wait.cancel };
    }
    const known = this.#byHash.peek(task.hash);
    if (task.source === '') {
      if (known === undefined)
        return new BadTaskError(`unknown task hash ${JSON.stringify(task.hash.slice(0, 64))}: send the task's source`);
      this.#byHash.touch(task.hash);
      return { kind: 'source', hash: task.hash, source: known };
    }
    // The same source again (every batch of a function brings it, from the connection's own cache when
    // its client sent only the hash) costs a string compare and a touch: no hash, and no new entry
    // (SourceLru.set replaces the entry and walks the bounds, 1.5 us of a submit's primary CPU in --cpu-prof).
    if (known === task.source) {
      this.#byHash.touch(task.hash);
      return task;
    }
    if (sourceHash(task.source) !== task.hash) {
      return new BadTaskError('the task hash does not match its source (the hash must be the sha256 of the source, base64url)');
    }
    this.#byHash.set(task.hash, task.source.length + VERIFIED_ENTRY_CHARS, task.source);
    return task;
  }
}
