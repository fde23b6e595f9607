/**
 * lending-scripts.ts - the Lua scripts of worker lending (docs/cluster.md,
 * "How a chunk flows between daemons"), each one atomic step on Redis:
 *
 *  - `lend`: a lender with an idle worker grants it to the app with demand
 *    (`want`) and the lowest cluster-wide score (`share`), if its own lease
 *    still exists (a zombie lends nothing); writes `slot:<lender>:<n>`, lists
 *    n in `lent:<lender>`, and tells the owner (`grant` in its inbox). Either
 *    side deletes a grant's key when it ends it, the other side's poll when it
 *    finds its peer's lease gone; when both are gone, nobody would: the reaper
 *    deletes a dead lender's keys from its `lent:` list (membership-scripts.ts). Among apps of equal score the one
 *    whose stamp (`wstamp`) is oldest wins: apps with demand take turns.
 *  - `dispatch`: an owner's run or abort for a lent worker reaches the
 *    lender's inbox only while the grant is the owner's and the lender's lease
 *    exists; a run bumps its chunk's attempt number (`att`) and carries it.
 *  - `report`: a lent worker's message about a chunk reaches the owner's inbox
 *    only while the lender's lease exists, the grant is still that owner's and
 *    the chunk's attempt number is the one the lender ran: fencing by attempt
 *    number. Anything else is dropped and counted (`stale`).
 *  - `demand`: an owner publishes its apps' queued chunks into `want`; an app
 *    that enters demand starts in `share` no lower than the least score of the
 *    apps with demand (no credit banked while idle), and at the back of the
 *    turns (`wstamp`); an app withdrawn leaves `want` and `wstamp`. An app with
 *    demand is listed in its owner's `apps:<owner>` (share-ledger.ts), in the
 *    same script that may add it to `share`, so the reaper finds every entry a
 *    dead owner's apps have there.
 *
 * Ties. Charges reach `share` only as chunks finish, and every app entering
 * demand starts at the same least score, so in a burst of grants the apps with
 * demand are often level. Broken by `want`'s HGETALL order (its insertion
 * order, in practice), every lender's idle worker went to the same app. So each
 * app with demand has a stamp in `wstamp`, drawn from the counter `wseq` when
 * it enters demand and again each time it is granted a worker: among equal
 * scores the least stamp wins, which is round-robin between level apps, a new
 * app queueing behind those already waiting (apps made and dropped in a loop
 * cannot keep an older one from its turn). The app's name breaks what is left
 * (apps without a stamp, written by an earlier version), so the choice never
 * rests on the hash's order. A stamp lives exactly as long as its app's entry in
 * `want`: every script that deletes the one deletes the other.
 *
 * Keys a script builds from a member id (an owner's inbox, a lease) share the
 * cluster's hash tag, so every script's keys stay in one Redis Cluster slot.
 */
import type { Redis } from 'ioredis';

/** Most entries an inbox stream keeps (XADD MAXLEN ~): read entries are trimmed as they are read (inbox.ts). */
export const INBOX_MAXLEN = 10_000;

/**
 * KEYS lease(self), want, share, wstamp, wseq. ARGV self, n, prefix, maxlen, chunks a grant takes off the app's demand.
 * Returns {1, owner, app}, {0} (no demand), or {-1} (own lease gone).
 *
 * Picks the least (score, stamp, app) among the apps with demand of the other daemons: one pass
 * over `want`, one ZSCORE and one HGET an app (see "Ties" above for why the stamp).
 */
const LEND = `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local self, n, prefix = ARGV[1], ARGV[2], ARGV[3]
local want = redis.call('HGETALL', KEYS[2])
local bestApp, bestOwner, bestQ, bestScore, bestStamp
for i = 1, #want, 2 do
  local app = want[i]
  local owner, q = string.match(want[i + 1], '^(.*):(%d+)$')
  q = tonumber(q)
  if owner ~= nil and owner ~= self and q ~= nil and q > 0 then
    if redis.call('EXISTS', prefix .. 'lease:' .. owner) == 0 then
      redis.call('HDEL', KEYS[2], app)
      redis.call('HDEL', KEYS[4], app)
    else
      local s = tonumber(redis.call('ZSCORE', KEYS[3], app) or '0')
      local stamp = tonumber(redis.call('HGET', KEYS[4], app) or '0')
      if bestScore == nil or s < bestScore or (s == bestScore and (stamp < bestStamp or (stamp == bestStamp and app < bestApp))) then
        bestApp, bestOwner, bestQ, bestScore, bestStamp = app, owner, q, s, stamp
      end
    end
  end
end
if bestApp == nil then return {0} end
-- Its demand used up, it stays at 0, not deleted: its owner's next publication is not an entry
-- (deleted, it re-entered at the least score of the others and lost a lead it had). Its owner
-- withdraws it when its queue empties, the reaper when its owner dies.
local left = math.max(bestQ - tonumber(ARGV[5]), 0)
redis.call('HSET', KEYS[2], bestApp, bestOwner .. ':' .. left)
-- granted: to the back of the turns among apps of its score
redis.call('HSET', KEYS[4], bestApp, redis.call('INCR', KEYS[5]))
redis.call('HSET', prefix .. 'slot:' .. self .. ':' .. n, 'owner', bestOwner, 'app', bestApp)
redis.call('SADD', prefix .. 'lent:' .. self, n)
redis.call('XADD', prefix .. 'inbox:' .. bestOwner, 'MAXLEN', '~', ARGV[4], '*', 't', 'grant', 'f', self, 'n', n, 'p', bestApp)
return {1, bestOwner, bestApp}
`;

/**
 * KEYS slot, lease(lender), att, inbox(lender). ARGV owner, type, n, attempt field ('' for an abort), message, maxlen.
 * Returns {1, attempt}, {0} (the grant is not this owner's any more) or {-1} (the lender's lease is gone).
 */
const DISPATCH = `
if redis.call('EXISTS', KEYS[2]) == 0 then return {-1} end
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then return {0} end
local a = 0
if ARGV[4] ~= '' then a = redis.call('HINCRBY', KEYS[3], ARGV[4], 1) end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 't', ARGV[2], 'f', ARGV[1], 'n', ARGV[3], 'a', a, 'm', ARGV[5])
return {1, a}
`;

/**
 * KEYS slot, lease(self), att, inbox(owner), stale, lease(owner). ARGV owner, n, attempt field ('' for a message about no
 * chunk), attempt, final ('1': the chunk is over, its attempt number goes), message, maxlen, self.
 * Returns 1 (delivered) or 0 (stale: dropped and counted).
 */
const REPORT = `
local ok = redis.call('EXISTS', KEYS[2]) == 1 and redis.call('HGET', KEYS[1], 'owner') == ARGV[1]
-- an owner gone: its inbox would be recreated and never read
if ok and redis.call('EXISTS', KEYS[6]) == 0 then
  redis.call('HDEL', KEYS[3], ARGV[3])
  return 0
end
if ok and ARGV[3] ~= '' then ok = redis.call('HGET', KEYS[3], ARGV[3]) == ARGV[4] end
if not ok then
  redis.call('INCR', KEYS[5])
  return 0
end
if ARGV[5] == '1' then redis.call('HDEL', KEYS[3], ARGV[3]) end
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[7], '*', 't', 'rep', 'f', ARGV[8], 'n', ARGV[2], 'm', ARGV[6])
return 1
`;

/**
 * KEYS want, share, wstamp, wseq, apps(owner). ARGV owner, then app, queued chunks pairs (0: the app has no demand left),
 * apps with demand before those without (Demand.publish).
 * Returns the number of apps with demand.
 *
 * An app entering is stamped from `wseq`, behind every app already waiting (see "Ties" above);
 * one leaving takes its stamp with it.
 *
 * The least score of the apps with demand is read once, at the first app that enters, and kept
 * up to date as apps enter (each starts at it or above, so it only changes from none to the first
 * one's score). Read again for every entering app, it made a publication of N apps entering
 * beside N others cost N x N ZSCOREs: one client's 1,200 connections submitting and cancelling
 * in a loop held Redis ~1 s a publication, and the other daemons lost their leases.
 */
const DEMAND = `
local owner = ARGV[1]
local n = 0
local min, known = nil, false
for i = 2, #ARGV, 2 do
  local app, q = ARGV[i], tonumber(ARGV[i + 1])
  if q > 0 then
    n = n + 1
    redis.call('SADD', KEYS[5], app)
    if redis.call('HEXISTS', KEYS[1], app) == 0 then
      if not known then
        known = true
        for _, other in ipairs(redis.call('HKEYS', KEYS[1])) do
          local s = redis.call('ZSCORE', KEYS[2], other)
          if s then
            s = tonumber(s)
            if min == nil or s < min then min = s end
          end
        end
      end
      if min == nil then redis.call('ZADD', KEYS[2], 'NX', 0, app) else redis.call('ZADD', KEYS[2], 'GT', min, app) end
      if min == nil then min = tonumber(redis.call('ZSCORE', KEYS[2], app)) end
      redis.call('HSET', KEYS[3], app, redis.call('INCR', KEYS[4]))
    end
    redis.call('HSET', KEYS[1], app, owner .. ':' .. q)
  else
    redis.call('HDEL', KEYS[1], app)
    redis.call('HDEL', KEYS[3], app)
  end
end
return n
`;

/** Outcome of `lend`. */
export type LendResult = { granted: true; owner: string; app: string } | { granted: false; zombie: boolean };

/** Outcome of `dispatch`: the attempt number it carried (0 for an abort), or why it was refused. */
export type DispatchResult = { ok: true; attempt: number } | { ok: false; why: 'not-granted' | 'lender-gone' };

/** The lending scripts, bound to one cluster's keys on one connection. */
export class LendingScripts {
  readonly #redis: Redis;
  readonly #p: string;

  constructor(redis: Redis, prefix: string) {
    this.#redis = redis;
    this.#p = prefix;
  }

  /** The key of grant `n` of `lender`. */
  slotKey(lender: string, n: number): string {
    return `${this.#p}slot:${lender}:${n}`;
  }

  inboxKey(id: string): string {
    return `${this.#p}inbox:${id}`;
  }

  leaseKey(id: string): string {
    return `${this.#p}lease:${id}`;
  }

  /** The grant numbers of `lender`'s `slot:` keys: what the reaper deletes when it dies (membership-scripts.ts). */
  lentKey(lender: string): string {
    return `${this.#p}lent:${lender}`;
  }

  /** Dropped reports, cluster-wide. */
  get staleKey(): string {
    return `${this.#p}stale`;
  }

  /** Member `id`'s apps in `share`: what the reaper removes from it when `id` dies (share-ledger.ts). */
  appsKey(id: string): string {
    return `${this.#p}apps:${id}`;
  }

  get shareKey(): string {
    return `${this.#p}share`;
  }

  get wantKey(): string {
    return `${this.#p}want`;
  }

  /** App with demand -> its stamp: the least wins a tie of scores (see "Ties" above). */
  get stampKey(): string {
    return `${this.#p}wstamp`;
  }

  /** The counter stamps are drawn from; it only grows. */
  get stampSeqKey(): string {
    return `${this.#p}wseq`;
  }

  async lend(self: string, n: number, take: number): Promise<LendResult> {
    const r = (await this.#redis.eval(
      LEND,
      5,
      this.leaseKey(self),
      this.wantKey,
      this.shareKey,
      this.stampKey,
      this.stampSeqKey,
      self,
      n,
      this.#p,
      INBOX_MAXLEN,
      take,
    )) as [number, string?, string?];
    if (r[0] === 1) return { granted: true, owner: r[1]!, app: r[2]! };
    return { granted: false, zombie: r[0] === -1 };
  }

  /** `field` names the chunk (`<owner>:<key>`) for a run; '' for an abort. */
  async dispatch(
    owner: string,
    lender: string,
    n: number,
    type: 'run' | 'abort',
    field: string,
    message: Uint8Array,
  ): Promise<DispatchResult> {
    const r = (await this.#redis.eval(
      DISPATCH,
      4,
      this.slotKey(lender, n),
      this.leaseKey(lender),
      `${this.#p}att`,
      this.inboxKey(lender),
      owner,
      type,
      n,
      field,
      Buffer.from(message),
      INBOX_MAXLEN,
    )) as [number, number?];
    if (r[0] === 1) return { ok: true, attempt: r[1]! };
    return { ok: false, why: r[0] === 0 ? 'not-granted' : 'lender-gone' };
  }

  /** True if delivered to the owner; false if fenced off (and counted). */
  async report(
    self: string,
    owner: string,
    n: number,
    field: string,
    attempt: number,
    final: boolean,
    message: Uint8Array,
  ): Promise<boolean> {
    const r = await this.#redis.eval(
      REPORT,
      6,
      this.slotKey(self, n),
      this.leaseKey(self),
      `${this.#p}att`,
      this.inboxKey(owner),
      this.staleKey,
      this.leaseKey(owner),
      owner,
      n,
      field,
      attempt,
      final ? '1' : '0',
      Buffer.from(message),
      INBOX_MAXLEN,
      self,
    );
    return r === 1;
  }

  /**
   * Which grants are still alive: grant i is alive unless `slot:<lender>:<n>`
   * is gone or member `peers[i]`'s lease is. A reply that did not come counts
   * as alive (the next poll asks again).
   */
  async alive(grants: { peer: string; lender: string; n: number }[]): Promise<boolean[]> {
    if (grants.length === 0) return [];
    const pipe = this.#redis.pipeline();
    for (const g of grants) pipe.exists(this.leaseKey(g.peer), this.slotKey(g.lender, g.n));
    const replies = (await pipe.exec()) ?? [];
    return grants.map((_, i) => {
      const [err, n] = replies[i] ?? [null, 2];
      return err !== null || n === 2;
    });
  }

  /**
   * Ends grant `n` of `lender` in Redis: its key goes (and leaves the lender's
   * `lent:` list, in the same transaction), so nothing more is
   * dispatched or reported for it, and the other side's poll (alive) sees it
   * ended even if the message telling it was lost. Retried a few times: a
   * grant whose key stayed would hold a worker (or a chunk) until a lease lapses.
   */
  async endGrant(lender: string, n: number): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await this.#redis.multi().del(this.slotKey(lender, n)).srem(this.lentKey(lender), n).exec();
        const refused = r?.find(([err]) => err !== null)?.[0];
        if (r === null || refused) throw refused ?? new Error('grant end discarded');
        return;
      } catch (err) {
        if (attempt >= 5) throw err;
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }

  /**
   * Drops the attempt numbers of chunks an owner stopped waiting for on a grant
   * that ended (killed, lender gone, released): no final report will delete them,
   * and `att` would otherwise grow with every chunk ever lost or abandoned. A rerun
   * under the same key starts again at 1; a late report of the old attempt is still
   * refused, as its grant's key is gone.
   */
  async forgetAttempts(owner: string, keys: Iterable<number>): Promise<void> {
    const fields = [...keys].map((k) => `${owner}:${k}`);
    if (fields.length > 0) await this.#redis.hdel(`${this.#p}att`, ...fields);
  }

  /** Publishes `owner`'s demand: queued chunks per app (0 withdraws an app). */
  async demand(owner: string, queued: Iterable<[string, number]>): Promise<void> {
    const args: (string | number)[] = [owner];
    for (const [app, q] of queued) args.push(app, q);
    if (args.length === 1) return;
    await this.#redis.eval(DEMAND, 5, this.wantKey, this.shareKey, this.stampKey, this.stampSeqKey, this.appsKey(owner), ...args);
  }
}
