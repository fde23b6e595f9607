/**
 * pending-writes.ts - what the journal holds that LMDB does not yet: the
 * last bytes (or delete) of each record written since the last checkpoint.
 * A checkpoint writes each record once however often it changed (a counter
 * added to 10,000 times a second is one put), and a rollback reads LMDB with
 * these applied inside a transaction it then aborts (checkpoints.ts).
 */
import type { Key } from 'lmdb';

import type { Table } from './store.js';

/** The last write of each record since the last checkpoint, by table and key. */
export class PendingWrites {
  readonly #byTable = new Map<Table, Map<string, [Key, Uint8Array | undefined]>>();
  #size = 0;
  #bytes = 0;

  /** Records held. */
  get size(): number {
    return this.#size;
  }

  /** Bytes of the records held (a checkpoint writes about this much). */
  get bytes(): number {
    return this.#bytes;
  }

  /** `value` is the record's latest bytes, undefined for a delete. */
  set(table: Table, key: Key, value: Uint8Array | undefined): void {
    let m = this.#byTable.get(table);
    if (m === undefined) this.#byTable.set(table, (m = new Map()));
    const id = keyId(key);
    const had = m.get(id);
    if (had === undefined) this.#size++;
    else this.#bytes -= had[1]?.length ?? 0;
    this.#bytes += value?.length ?? 0;
    m.set(id, [key, value]);
  }

  /** Writes every record into the current LMDB transaction (inside `transactionSync`). */
  applyTo(): void {
    for (const [table, m] of this.#byTable) {
      for (const [key, value] of m.values()) applySync(table, key, value);
    }
  }

  clear(): void {
    this.#byTable.clear();
    this.#size = 0;
    this.#bytes = 0;
  }
}

/** One write into the current LMDB transaction: a put (bytes) or a delete (undefined). */
export function applySync(table: Table, key: Key, value: Uint8Array | undefined): void {
  if (value === undefined) table.removeSync(key);
  else table.putSync(key, value);
}

/**
 * One string per LMDB key: a string key apart from an array key that prints the same. A reply's
 * key ([owner, rid], one or two a write) is its number, then its string after the first ':'
 * (no number prints one): JSON.stringify was 2% of the primary's CPU in the `counter` bench.
 */
export function keyId(key: Key): string {
  if (typeof key === 'string') return `s${key}`;
  if (Array.isArray(key) && key.length === 2 && typeof key[1] === 'number' && typeof key[0] === 'string') return `r${key[1]}:${key[0]}`;
  return `j${JSON.stringify(key)}`;
}
