/**
 * change-feed.ts - one reader per daemon of the `chg` stream, where every
 * committed state write leaves a record in commit order. It hands the
 * entries to the store in stream order (so a name's versions reach this
 * daemon's subscribers in order, whichever daemon wrote them), and tells it
 * to resync every subscriber when it cannot prove it saw every entry since
 * its last: an entry after its last id was trimmed, Redis lost its data (the
 * epoch marker changed), or the stream's entries-added went backwards.
 *
 * Each round reads with one script (feed-script.ts) on the command
 * connection, atomically with the proof; a blocking XREAD on a connection of
 * its own only waits for the next entry, and times out after `pollMs`, so a
 * Redis that came back without the entries is noticed within that time. No
 * entry is lost while Redis is unreachable: the reader picks up where it was.
 *
 * The values a round's entries need read first (big-reads.ts) are read
 * together, before the entries are handed on, and not one by one in between:
 * handing on then never waits on Redis, so the entries of one app writing big
 * values delay the others' by a round trip per group at most, not per entry.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

import type { ClusterNode } from '../cluster-node.js';
import { readPlan } from './big-reads.js';
import { FEED_READ } from './feed-script.js';
import { Script } from './scripts.js';
import type { StateKeys } from './state-keys.js';

/** Entries read per round at most. */
const BATCH = 256;

const READ = new Script(FEED_READ);

/** One committed change, as the write scripts recorded it. */
export interface ChangeEntry {
  /** v value, d dict, q queue put, l lock released. */
  kind: string;
  name: string;
  /** The value's or dict's version after the change (0 for q and l). */
  version: number;
  /** A dict change's key. */
  key?: string;
  /** The value written, when small enough to be recorded inline. */
  value?: Uint8Array;
  /** Set when the value was too large to record: read it from its key. */
  big: boolean;
  /** The size of that value, as recorded (undefined in an older daemon's record, which did not say). */
  bigBytes?: number;
  /** A dict key deleted; without `key`, the whole value or dict deleted. */
  deleted: boolean;
}

/** What reads the values of the changes too large to be recorded inline. */
export interface BigReads<T> {
  /** Whether `e` must be read before it is handed on. */
  wants(e: ChangeEntry): boolean;
  /** Reads it; what it resolves to is handed on with `e`. */
  read(e: ChangeEntry): Promise<T>;
}

export interface ChangeFeedOptions<T> {
  node: ClusterNode;
  keys: StateKeys;
  bigs: BigReads<T>;
  /** Each entry, in stream order, with what its read got (undefined if it was not read). */
  onEntry(e: ChangeEntry, got: T | undefined): void;
  /** Continuity is lost: `why` says how. */
  onResync(why: string): void;
  pollMs: number;
}

/** The change-stream reader. */
export class ChangeFeed<T> {
  readonly #o: ChangeFeedOptions<T>;
  #epoch = '';
  #lastId = '0-0';
  #added = 0;
  #stopped = false;
  #blocker: Redis | undefined;
  #loop: Promise<void> | undefined;

  constructor(opts: ChangeFeedOptions<T>) {
    this.#o = opts;
  }

  /** Starts reading from the stream's end as it is now (earlier changes are in what subscribers read first). */
  async start(): Promise<void> {
    const r = await this.#read('0-0', 1);
    this.#epoch = r.epoch;
    this.#lastId = r.last;
    this.#added = r.added;
    const blocker = this.#o.node.connection('changes');
    this.#blocker = blocker;
    // Its first XREAD would fail before it is connected (it queues nothing) and cost a poll interval of pushes.
    if (blocker.status !== 'ready') {
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          blocker.off('ready', done);
          resolve();
        };
        const timer = setTimeout(done, this.#o.pollMs);
        blocker.once('ready', done);
      });
    }
    this.#loop = this.#run();
  }

  /** Stops reading and closes the blocking connection. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#blocker?.disconnect();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        const r = await this.#read(this.#lastId, BATCH);
        if (this.#stopped) return;
        const why = this.#gap(r);
        if (why !== undefined) {
          this.#epoch = r.epoch;
          this.#lastId = r.last;
          this.#added = r.added;
          this.#o.onResync(why);
          continue;
        }
        if (!(await this.#handOn(r.entries))) return;
        if (r.entries.length === BATCH) continue;
        // Read to the end at one instant: the count there is the one to compare with next time.
        this.#added = r.added;
        await this.#blocker!.call('XREAD', 'BLOCK', this.#o.pollMs, 'COUNT', 1, 'STREAMS', this.#o.keys.chg, this.#lastId);
      } catch {
        if (this.#stopped) return;
        await new Promise((r) => setTimeout(r, this.#o.pollMs));
      }
    }
  }

  /**
   * Hands a round's entries on in order, each group of reads started before
   * the entries that need none of it are handed on, and awaited before the
   * first that does. Past an entry only once it is handed on: if a read
   * fails, the round is read again from there. False once stopped.
   */
  async #handOn(raw: [string, Buffer[]][]): Promise<boolean> {
    const entries = raw.map(([, fields]) => parseEntry(fields));
    const got = new Map<number, T>();
    let next = 0;
    const pass = (end: number): void => {
      for (; next < end; next++) {
        this.#o.onEntry(entries[next]!, got.get(next));
        got.delete(next);
        this.#lastId = raw[next]![0];
      }
    };
    for (const group of readPlan(entries, (e) => this.#o.bigs.wants(e))) {
      const reads = Promise.all(group.map((i) => this.#o.bigs.read(entries[i]!)));
      // Should handing on throw (onEntry), the reads are never awaited: their failure must not be an unhandled rejection.
      void reads.catch(() => {});
      pass(group[0]!);
      const values = await reads;
      if (this.#stopped) return false;
      group.forEach((i, k) => got.set(i, values[k]!));
      pass(group[group.length - 1]! + 1);
    }
    pass(entries.length);
    return true;
  }

  /** Why continuity cannot be proven, or undefined when it can. */
  #gap(r: FeedRead): string | undefined {
    if (r.epoch !== this.#epoch) return 'Redis lost its data (restarted empty or flushed)';
    if (r.added < this.#added) return `Redis lost writes: its change stream went back from ${this.#added} to ${r.added} entries`;
    if (compareIds(r.maxDeleted, this.#lastId) > 0) return 'changes were trimmed from the stream before this daemon read them';
    return undefined;
  }

  async #read(after: string, count: number): Promise<FeedRead> {
    const fresh = randomBytes(8).toString('hex');
    const raw = (await READ.run(this.#o.node.redis, [this.#o.keys.chg, this.#o.keys.epoch], [after, count, fresh])) as [
      Buffer,
      Buffer,
      number | Buffer,
      Buffer,
      [Buffer, Buffer[]][],
    ];
    return {
      epoch: raw[0].toString(),
      maxDeleted: raw[1].toString(),
      added: Number(raw[2].toString()),
      last: raw[3].toString(),
      entries: raw[4].map(([id, f]) => [id.toString(), f]),
    };
  }
}

interface FeedRead {
  epoch: string;
  maxDeleted: string;
  added: number;
  last: string;
  entries: [string, Buffer[]][];
}

function parseEntry(fields: Buffer[]): ChangeEntry {
  const e: ChangeEntry = { kind: '', name: '', version: 0, big: false, deleted: false };
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const v = fields[i + 1]!;
    switch (fields[i]!.toString()) {
      case 'k':
        e.kind = v.toString();
        break;
      case 'n':
        e.name = v.toString();
        break;
      case 'ver':
        e.version = Number(v.toString());
        break;
      case 'key':
        e.key = v.toString();
        break;
      case 'val':
        e.value = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
        break;
      case 'big': {
        e.big = true;
        // '1' is what an older daemon recorded for any size (or a real size of 1 byte: taken as unknown, the safe side).
        const size = Number(v.toString());
        if (size !== 1 && Number.isSafeInteger(size) && size >= 0) e.bigBytes = size;
        break;
      }
      case 'del':
        e.deleted = true;
        break;
    }
  }
  return e;
}

/** Orders two stream ids (`ms-seq`). */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}
