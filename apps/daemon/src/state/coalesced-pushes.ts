/**
 * coalesced-pushes.ts - the Value/Dict pushes waiting for a client that reads
 * slowly (outflow.ts), latest wins per kind, name and key, and bounded.
 *
 * A Value waits as one push per name, and a client has at most 10,000
 * subscriptions, each value the state's own bytes. A Dict waits as one push
 * per key, and keys have no such bound: a dict written with ever-new keys
 * (set, then deleted, so the state stays empty) made one stopped subscriber
 * hold 1.2 GB of the primary's memory in 45 s, for as long as the heartbeat
 * and the soft cap took to drop it (up to a minute), and every stopped
 * subscriber as much again. So what a dict's per-key pushes hold (their keys,
 * their values, the entries) is counted, and past `limitBytes` every dict's
 * per-key pushes waiting are replaced by one `resync` push per dict: the
 * subscriber subscribes again and reads the dict's entries, as after a
 * reconnect (or in cluster mode when the daemon lost track), so it ends with
 * the dict as it is, only without each step. While a dict's resync waits, its
 * later changes are dropped too: the read that follows the resync includes
 * them.
 */
import type { Push } from '@corepool/protocol/internal';

/** What one waiting entry costs besides its key and value: the map's entry, its key string's header, the push object. */
const ENTRY_BYTES = 160;

/** The pushes waiting for one connection, oldest first. */
export class CoalescedPushes {
  readonly #limit: number;
  readonly #map = new Map<string, Push>();
  /** What the dicts' per-key pushes waiting hold (an estimate). */
  #bytes = 0;

  /** `limitBytes`: what the dicts' per-key pushes may hold before they are replaced by resyncs. */
  constructor(limitBytes: number) {
    this.#limit = limitBytes;
  }

  get size(): number {
    return this.#map.size;
  }

  /** Adds `p`, in place of the one waiting for the same kind, name and key. */
  add(p: Push): void {
    const map = this.#map;
    // A resync (cluster mode, or one made below) is never replaced by a later change: the subscriber must hear it.
    const resync = `resync\0${p.kind}\0${p.name}`;
    if (p.resync === true) {
      map.delete(resync);
      map.set(resync, p);
      return;
    }
    // A dict whose resync waits: the read that follows it carries this change.
    if (p.kind === 'dict' && map.has(resync)) return;
    // Re-inserted, not replaced in place: coalesced pushes flush in version order (a dict's
    // subscriber drops a push older than one it has, whatever its key).
    // The name's length first: names and keys may hold NULs ("a" with key "b\0c" is not "a\0b" with key "c").
    const key = `${p.kind}\0${p.name.length}\0${p.name}\0${p.key ?? ''}`;
    const old = map.get(key);
    if (old !== undefined) {
      map.delete(key);
      this.#bytes -= cost(old);
    }
    map.set(key, p);
    this.#bytes += cost(p);
    if (this.#bytes > this.#limit) this.#resyncDicts();
  }

  /** Takes the oldest push waiting (undefined when none). */
  shift(): Push | undefined {
    for (const [key, p] of this.#map) {
      this.#map.delete(key);
      this.#bytes -= cost(p);
      return p;
    }
    return undefined;
  }

  clear(): void {
    this.#map.clear();
    this.#bytes = 0;
  }

  /** Every dict's per-key pushes waiting give way to one resync each, after the rest. */
  #resyncDicts(): void {
    const names = new Set<string>();
    for (const [key, p] of this.#map) {
      if (cost(p) === 0) continue;
      this.#map.delete(key);
      names.add(p.name);
    }
    this.#bytes = 0;
    for (const name of names) this.#map.set(`resync\0dict\0${name}`, { type: 'push', kind: 'dict', name, version: 0, resync: true });
  }
}

/** What a dict's per-key push holds, counted against the limit; 0 for the others (a Value's, a dict's keyless delete, a resync). */
function cost(p: Push): number {
  if (p.kind !== 'dict' || p.key === undefined || p.resync === true) return 0;
  // Keys and names at two bytes a character at most; the map's key string holds both again.
  return ENTRY_BYTES + 4 * p.key.length + 2 * p.name.length + (p.value?.length ?? 0);
}
