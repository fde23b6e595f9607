/**
 * The module files hashed off the primary's thread (module-version.ts: over
 * SYNC_HASH_BYTES), one at a time, as a queue shared by the clients whose
 * batches wait for them.
 *
 * It was one FIFO of every hash asked, each entry kept until its turn, and a
 * batch cancelled or a client gone left its entry in line: a client opening
 * and cancelling batches of ever-new spellings of one 64 MiB file queued a
 * read and a hash of ~0.1 s per open, faster than they drained, and another
 * app's batch of a large module waited behind all of them. So:
 * - one path in one state (its stamp) is hashed once, every wait for it
 *   sharing the hash, and the version is then kept for that state whatever
 *   path names it (module-version.ts); two paths are two hashes, so that no
 *   client's wait is answered by a path another client named (a link it
 *   could point elsewhere before its turn);
 * - the clients take turns: the next hash is the oldest of the client
 *   whose last hash is the oldest, so a client waits for at most one hash of
 *   each other client with a hash waiting, not for their whole line;
 * - a wait cancelled (its batch cancelled or failed, its client gone) leaves
 *   the line, and a hash nobody waits for any more is not made.
 */
import { statSync, type BigIntStats } from 'node:fs';
import type { BadTaskError } from '@corepool/protocol';
import { hashOffThread, keptVersion, pathOf, refused, stampOf } from './module-version.js';

type Version = string | undefined | BadTaskError;

/** A batch's wait for its module's version. */
export interface VersionWait {
  readonly version: Promise<Version>;
  /** The batch no longer needs it (cancelled, failed, its client gone); resolves `version` undefined if not resolved. Idempotent. */
  cancel(): void;
}

interface Entry {
  readonly path: string;
  /** Its file's stamp and its path: its key. */
  readonly key: string;
  readonly version: Promise<Version>;
  readonly resolve: (v: Version) => void;
  /** Waits not cancelled. */
  waiters: number;
  /** The clients in whose line it stands (every client that waits for it, until it runs). */
  readonly lines: Set<string>;
  running: boolean;
}

/** Clients whose last turn is remembered once their line is empty (a client that waits again is not new). */
const MAX_REMEMBERED = 1024;

const settled = (v: Version): VersionWait => ({ version: Promise.resolve(v), cancel() {} });

/** The hashes waiting, by client, and the one being made. */
export class ModuleHashes {
  /** Entries waiting or running, by key. */
  readonly #entries = new Map<string, Entry>();
  /** Each client's line, oldest first. */
  readonly #lines = new Map<string, Set<Entry>>();
  /** When each client last had a hash made (a count of hashes), kept while its line is empty too, within a bound. */
  readonly #servedAt = new Map<string, number>();
  #served = 0;
  #running = false;

  /** How many hashes wait (not counting the one being made). */
  get waiting(): number {
    let n = 0;
    for (const e of this.#entries.values()) if (!e.running) n++;
    return n;
  }

  /** The version of the file at `url`, for a batch of `client`: kept, or hashed in its turn. */
  request(url: string, client: string): VersionWait {
    const path = pathOf(url);
    if (path === undefined) return settled(undefined);
    let st: BigIntStats;
    try {
      st = statSync(path, { bigint: true });
    } catch {
      return settled(undefined);
    }
    const no = refused(path, st);
    if (no !== undefined) return settled(no);
    const known = keptVersion(stampOf(st));
    if (known !== undefined) return settled(known);
    const key = `${stampOf(st)}\0${path}`;
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      let resolve!: (v: Version) => void;
      const version = new Promise<Version>((r) => (resolve = r));
      entry = { path, key, version, resolve, waiters: 0, lines: new Set(), running: false };
      this.#entries.set(key, entry);
    }
    entry.waiters++;
    if (!entry.running && !entry.lines.has(client)) {
      entry.lines.add(client);
      let line = this.#lines.get(client);
      if (line === undefined) this.#lines.set(client, (line = new Set()));
      line.add(entry);
    }
    const e = entry;
    let cancelled = false;
    const wait: VersionWait = {
      version: e.version,
      cancel: () => {
        if (cancelled) return;
        cancelled = true;
        if (--e.waiters > 0 || e.running) return;
        this.#leave(e);
        this.#entries.delete(e.key);
        e.resolve(undefined);
      },
    };
    this.#next();
    return wait;
  }

  /** Takes the entry out of every line it stands in. */
  #leave(e: Entry): void {
    for (const client of e.lines) {
      const line = this.#lines.get(client);
      line?.delete(e);
      if (line?.size === 0) this.#lines.delete(client);
    }
    e.lines.clear();
  }

  /** Starts the next hash, if none runs: the oldest of the client whose last hash is the oldest (never: first). */
  #next(): void {
    if (this.#running) return;
    let pick: [string, Set<Entry>] | undefined;
    let oldest = Infinity;
    for (const [client, line] of this.#lines) {
      const at = this.#servedAt.get(client) ?? -1;
      if (at < oldest) [pick, oldest] = [[client, line], at];
    }
    if (pick === undefined) return;
    const [client, line] = pick;
    const e = line.values().next().value!;
    this.#leave(e);
    this.#servedAt.delete(client);
    this.#servedAt.set(client, ++this.#served);
    // Clients that no longer wait are forgotten, oldest first, past a bound (one entry per client met).
    for (const c of this.#servedAt.keys()) {
      if (this.#servedAt.size <= MAX_REMEMBERED) break;
      if (!this.#lines.has(c)) this.#servedAt.delete(c);
    }
    e.running = true;
    this.#running = true;
    void hashOffThread(e.path).then((v) => {
      this.#running = false;
      this.#entries.delete(e.key);
      e.resolve(v);
      this.#next();
    });
  }
}
