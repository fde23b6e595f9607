/**
 * inbox.ts - a daemon's inbox: the stream `inbox:<id>` where the others put
 * the messages of worker lending, read here with XREAD BLOCK on a connection
 * of its own (a blocking read would hold up every command behind it), in
 * stream order, and trimmed as it is read. The inbox follows the incarnation:
 * a daemon that rejoins under a new id reads the new id's inbox and drops the
 * old one (whatever was in it was for an incarnation the others gave up on).
 *
 * Entries are flat fields: `t` (kind), `f` (the sender's id), `n` (the
 * grant: the lender's number for the lent worker), `a` (a run's attempt
 * number), `p` (a grant's app) and `m` (a run, abort or worker message,
 * msgpack). Kinds:
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
}

/** How long one XREAD blocks: also how soon a stop or a new incarnation is noticed. */
const BLOCK_MS = 500;
/** Entries read at once. */
const COUNT = 200;

/** Reads this daemon's inbox and hands each entry to `onEntry`, in order, until stopped. */
export class InboxReader {
  readonly #node: ClusterNode;
  readonly #onEntry: (e: InboxEntry) => void;
  readonly #conn: Redis;
  #stopped = false;
  readonly #done: Promise<void>;

  constructor(node: ClusterNode, onEntry: (e: InboxEntry) => void) {
    this.#node = node;
    this.#onEntry = onEntry;
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
    while (!this.#stopped) {
      const now = `${this.#node.prefix}inbox:${this.#node.id}`;
      if (now !== key) {
        if (key !== '') this.#node.redis.del(key).catch(() => {});
        key = now;
        last = '0';
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
          try {
            this.#onEntry(parse(fields));
          } catch {
            /* a malformed entry is nobody's message */
          }
        }
      }
      // Read entries are done with: only the last stays (XTRIM MINID keeps it), so a big run's bytes do not linger.
      this.#node.redis.xtrim(key, 'MINID', last).catch(() => {});
    }
  }
}

function parse(fields: Buffer[]): InboxEntry {
  const e: InboxEntry = { t: '', f: '', n: 0, a: 0, p: '', m: undefined };
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const k = fields[i]!.toString();
    const v = fields[i + 1]!;
    if (k === 'm') e.m = v;
    else if (k === 'n') e.n = Number(v.toString());
    else if (k === 'a') e.a = Number(v.toString());
    else if (k === 't' || k === 'f' || k === 'p') e[k] = v.toString();
  }
  return e;
}

/** XADDs a message without a payload from `from` to `to`'s inbox (on the command connection). */
export function post(node: ClusterNode, from: string, to: string, t: string, n: number): Promise<unknown> {
  return node.redis.xadd(`${node.prefix}inbox:${to}`, 'MAXLEN', '~', String(INBOX_MAXLEN), '*', 't', t, 'f', from, 'n', String(n));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
