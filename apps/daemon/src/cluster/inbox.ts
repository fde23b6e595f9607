/**
 * inbox.ts - a daemon's inbox: the stream `inbox:<id>` where the others put
 * the messages of worker lending, read here with XREAD BLOCK on a connection
 * of its own (a blocking read would hold up every command behind it), in
 * stream order, and trimmed as it is read. The inbox follows the incarnation:
 * a daemon that rejoins under a new id reads the new id's inbox and drops the
 * old one (whatever was in it was for an incarnation the others gave up on).
 *
 * Writers XADD with MAXLEN ~ INBOX_MAXLEN, so an inbox read too slowly (its
 * daemon stalled while many lent workers report) loses its oldest unread
 * entries: a `grant`, a `run`, a chunk's `done`. The read entries' trim is
 * one script that also counts: entries ever added (XINFO's `entries-added`)
 * less those still unread must equal those read here; more is a gap, and
 * `onGap` resyncs (cluster-pool.ts), as nothing says which entries went.
 *
 * Entries are flat fields: `t` (kind), `f` (the sender's id), `n` (the
 * grant: the lender's number for the lent worker), `a` (a run's attempt
 * number), `p` (a grant's app), `m` (a run, abort or worker message,
 * msgpack) and `b` ('1' on an `end` no chunk on the worker caused). Kinds:
 *  - to an owner: `grant`, `rep` (a worker's chunk message), `end` (the lender
 *    ended the grant: the worker exited or was taken back), `reclaim` (the
 *    lender wants its worker back between chunks);
 *  - to a lender: `run`, `abort`, `kill`, `release` (the owner gives it back).
 */
import type { Redis } from 'ioredis';
import type { ClusterNode } from './cluster-node.js';
import { INBOX_MAXLEN } from './lending-scripts.js';

export interface InboxEntry {
  t: string;
  f: string;
  n: number;
  a: number;
  p: string;
  m: Buffer | undefined;
  /** On an `end`: the lender took its worker back through no fault of the chunks on it (the owner charges nobody). */
  b: boolean;
}

/** How long one XREAD blocks: also how soon a stop or a new incarnation is noticed. */
const BLOCK_MS = 500;
/** Entries read at once. */
const COUNT = 200;

/** Reads this daemon's inbox and hands each entry to `onEntry`, in order, until stopped. */
export class InboxReader {
  readonly #node: ClusterNode;
  readonly #onEntry: (e: InboxEntry) => void;
  readonly #onGap: (lost: number) => void;
  readonly #conn: Redis;
  #stopped = false;
  readonly #done: Promise<void>;

  constructor(node: ClusterNode, onEntry: (e: InboxEntry) => void, onGap: (lost: number) => void) {
    this.#node = node;
    this.#onEntry = onEntry;
    this.#onGap = onGap;
    this.#conn = node.connection('inbox');
    this.#done = this.#loop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#conn.disconnect();
    await this.#done;
  }

  async #loop(): Promise<void> {
    let key = '';
    let last = '0';
    /** Entries read from this inbox (compared with those added to it), and those known lost or never ours. */
    let read = 0;
    let offset = 0;
    while (!this.#stopped) {
      const now = `${this.#node.prefix}inbox:${this.#node.id}`;
      if (now !== key) {
        if (key !== '') this.#node.redis.del(key).catch(() => {});
        key = now;
        last = '0';
        read = 0;
        offset = 0;
      }
      let reply: [Buffer, [Buffer, Buffer[]][]][] | null;
      try {
        if (this.#conn.status !== 'ready') {
          await sleep(100);
          continue;
        }
        reply = (await this.#conn.xreadBuffer('COUNT', COUNT, 'BLOCK', BLOCK_MS, 'STREAMS', key, last)) as typeof reply;
      } catch {
        if (!this.#stopped) await sleep(100);
        continue;
      }
      if (reply === null || this.#stopped) continue;
      for (const [, entries] of reply) {
        for (const [id, fields] of entries) {
          last = id.toString();
          read++;
          try {
            this.#onEntry(parse(fields));
          } catch {
            /* a malformed entry is nobody's message */
          }
        }
      }
      // Read entries are done with: only the last stays (XTRIM MINID keeps it), so a big run's bytes do not linger.
      const at = key;
      const upTo = read;
      (this.#node.redis.eval(TRIM, 1, key, last) as Promise<number | null>).then(
        (accounted) => {
          if (accounted === null || at !== key) return;
          // More: entries trimmed before they were read; less: the stream was made again under this reader.
          // Replies come in order, so a gap seen by one trim is not seen again by the next, issued before it.
          const excess = accounted - upTo - offset;
          offset += excess;
          if (excess > 0) this.#onGap(excess);
        },
        () => {},
      );
    }
  }
}

function parse(fields: Buffer[]): InboxEntry {
  const e: InboxEntry = { t: '', f: '', n: 0, a: 0, p: '', m: undefined, b: false };
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const k = fields[i]!.toString();
    const v = fields[i + 1]!;
    if (k === 'm') e.m = v;
    else if (k === 'n') e.n = Number(v.toString());
    else if (k === 'a') e.a = Number(v.toString());
    else if (k === 'b') e.b = v.toString() === '1';
    else if (k === 't' || k === 'f' || k === 'p') e[k] = v.toString();
  }
  return e;
}

/**
 * KEYS inbox. ARGV the last id read. Trims the entries read but the last, and returns the entries ever
 * added less those still unread (what the reader should have read by now), or nil if there is no inbox.
 */
const TRIM = `
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local added = 0
for i = 1, #info, 2 do
  if info[i] == 'entries-added' then added = info[i + 1] end
end
redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
local unread = redis.call('XLEN', KEYS[1]) - #redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
return added - unread
`;

/** XADD to an inbox only while its member's lease exists: a message to a member gone would recreate its inbox, never read. */
const POST = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 't', ARGV[2], 'f', ARGV[3], 'n', ARGV[4], unpack(ARGV, 5))
return 1
`;

/**
 * XADDs a message without a payload from `from` to `to`'s inbox (on the command connection), if `to` is still
 * a member. `blameless` marks an `end` no chunk caused (a daemon that does not know the field reads a plain end).
 */
export function post(node: ClusterNode, from: string, to: string, t: string, n: number, blameless = false): Promise<unknown> {
  const more = blameless ? ['b', '1'] : [];
  return node.redis.eval(POST, 2, `${node.prefix}lease:${to}`, `${node.prefix}inbox:${to}`, INBOX_MAXLEN, t, from, n, ...more);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
