/**
 * Fair share of the workers between clients, by worker time rather than by
 * chunk count, so that it holds under faults. Each client accrues virtual
 * time: the worker-milliseconds its chunks hold a worker (a chunk is charged
 * its expected cost when handed out and corrected to what it took when it
 * leaves; a running chunk past its estimate counts as it runs), plus what a
 * worker restart costs when one of its items killed the worker (crash,
 * timeout, cancel, memory limit): the slot stays empty from the exit to the
 * replacement's ready, and the new process burns a core about as long while
 * it boots, taken from everyone's workers, so the client pays that time twice.
 * A free worker takes the next chunk from the active client with the least
 * virtual time; a client that becomes active starts no lower than the least
 * of the active ones (as Linux's CFS does), so it has banked no credit while
 * idle, and keeps the debt it ran up while others waited.
 *
 * Virtual time alone would still let a client whose items kill workers take
 * several slots at once whenever it is owed them, or while it is alone: a
 * burst of restarts that empties the pool, and a client arriving then waits
 * for a restart. So such a client, for KILLER_MEMORY_MS after its last kill,
 * holds at most one worker (its chunks placed on workers and the slots
 * restarting for it count), alone or not.
 *
 * Weights: virtual time is worker time divided by the client's weight, so a
 * client of weight 2 is owed twice the worker time of one of weight 1 while
 * both have work (weighted fair queueing); idle, it banks nothing either.
 */

/** A client as the fair share sees it (the scheduler's per-client queue). */
export interface Tenant {
  /** Worker-milliseconds charged so far, divided by the weight. */
  vtime: number;
  /**
   * The part of vtime charged ahead: the expected cost of its chunks placed and not yet settled, and what the
   * rests of its chunks cut short carry (prepay). vtime less this only grows: it is what a returning client is
   * levelled with. Undefined: 0.
   */
  ahead?: number;
  /** Share of worker time against other clients (1 or more): each worker-millisecond costs it 1/weight. */
  readonly weight: number;
  /** When (Clock.now()) one of its items last killed a worker; -Infinity if never. */
  killedAt: number;
  /** Worker slots being refilled after its items killed their worker. */
  restarting: number;
  /** False until a chunk of it has run to its end (a newcomer: FairShare's probation); undefined: not tracked. */
  served?: boolean;
}

/** A chunk placed on a worker (running or waiting in its pipeline), as the fair share sees it. */
export interface Placed {
  readonly tenant: Tenant;
  /** When it became its worker's running chunk (Clock.now()); undefined while it waits in the worker's pipeline. */
  readonly headAt: number | undefined;
  /** Virtual time charged for it so far. */
  charged: number;
  /** Charged before it was placed (the unrun part of a chunk cut short, whose rest it is): taken off its charge when placed. */
  prepaid?: number;
}

/** What the fair share reads from the scheduler. */
export interface PoolView<T extends Tenant> {
  /** The chunks running on the workers (each worker's first). */
  heads(): Iterable<Placed>;
  /** Chunks of `t` placed on workers (running or waiting in a worker's pipeline). */
  holds(t: T): number;
  /**
   * True while `t` holds as many workers as its cap allows (worker-cap.ts). Such a client is
   * passed over however little it has used, so its virtual time lags: it must not hold back
   * where a newcomer starts, or the newcomer would start far below the others and take the
   * pool from them until it caught up. Where only clients at their cap compete, the least of
   * them does: they lag behind nobody. Left out then too, the floor stayed where it was when
   * the capped client began alone, and a newcomer started that far below it: a client capped
   * at one worker of two, alone for 30 s, then got no item for 15 s (hostile review).
   */
  atCap?(t: T): boolean;
  /**
   * False while `t` does not read what it was sent (over its send high-water mark): placement passes
   * it over, so its virtual time lags as a capped one's does, behind clients it never competed with.
   * It says nothing of where a newcomer starts (a raw client that queued work and stopped reading held
   * the floor where it stopped: a newcomer 20 s later took both workers from a busy neighbour, which
   * ran no item for 12 s and more), and it is levelled when it reads again (rejoin).
   */
  reads?(t: T): boolean;
}

/** What a chunk is expected to cost before its batch has a measured item time. */
export const UNMEASURED_CHUNK_MS = 20;
/** A client whose item killed a worker is limited to one worker this long after the kill. */
export const KILLER_MEMORY_MS = 5_000;
/** Time to replace a worker, charged at the kill before the replacement is measured. */
const FIRST_RESTART_ESTIMATE_MS = 150;
/** A restart is charged this many times its duration: its empty slot, and the core its boot takes from the others. */
const RESTART_WEIGHT = 2;

/** Virtual-time accounts of the clients, and the choice of the next one to serve. */
export class FairShare<T extends Tenant> {
  readonly #pool: PoolView<T>;
  /** The least virtual time of the active clients, last seen: where a returning client starts. */
  #floor = 0;
  /** Round-robin start among clients tied on virtual time. */
  #turn = 0;
  #restartEstimate = FIRST_RESTART_ESTIMATE_MS;
  /** Worker slots being refilled, with the client charged for it. */
  readonly #refilling = new Map<number, { tenant: Tenant; at: number; charged: number }>();
  /**
   * Newcomers' probation. A client's memory of its kill dies with its connection: an app that
   * connected, killed a worker and left, over and over, was never limited nor charged, and took
   * every worker each time (a hostile run on a 2-worker daemon: a neighbour's map of 100 items of
   * 2 ms took ~50 s, against 4,200 such items in 6 s alone). So once two clients that have had no
   * chunk run to its end (`served` false) each kill a worker within KILLER_MEMORY_MS of each other,
   * such clients together hold at most one worker until KILLER_MEMORY_MS after the last such kill.
   * One newcomer's kills alone hold back no other newcomer, and a client that has had a chunk run is
   * never held back by this.
   */
  #newcomerKilledAt = -Infinity;
  #newcomerKilledBefore = -Infinity;
  #newcomerKiller: Tenant | undefined;
  /** Newcomers that may hold workers or restarting slots (charged or blamed while `served` was false); swept as it grows. */
  readonly #newcomers = new Set<Tenant>();
  #newcomersSwept = 0;
  /**
   * When `pick` last saw a client that has had a chunk run (one probation protects) with work queued.
   * Probation holds newcomers back only within KILLER_MEMORY_MS of it: with no such client about,
   * holding them to one worker would leave the others idle for nobody (many genuine apps of one
   * connection each, two of whose items failed, would share one worker of the pool).
   */
  #servedWaitingAt = -Infinity;

  constructor(pool: PoolView<T>) {
    this.#pool = pool;
  }

  /** A client becomes active: it starts no lower than the active ones. */
  enter(t: T, active: Iterable<T>, now: number): void {
    // Queued work again while its chunks still run: it never left, and keeps what it is owed.
    if (this.#pool.holds(t) > 0) return;
    this.rejoin(t, active, now);
  }

  /**
   * A client passed over while it did not read reads again: it starts no lower than the active ones, as a
   * returning client does, whatever it still holds. Else it kept what it was owed for the time it took nothing,
   * and then took every worker from the clients that had run meanwhile, for as long again.
   */
  rejoin(t: T, active: Iterable<T>, now: number): void {
    let min = Infinity;
    let minCapped = Infinity;
    const ran = runningFor(this.#pool.heads(), now);
    // What each has taken (its running chunks as far as they ran), not what it was charged ahead: levelled with an
    // account charged ahead, a client sat above it once those charges came down (chunks that left early or were cut
    // short), by up to a chunk, with every return it made meanwhile; not owed a worker, its one item waited behind
    // the whole chunk (a submit beside map after map of 1 ms items: p99 100-220 ms, max 0.9-1.1 s).
    const consider = (a: Tenant): void => {
      if (a === t || this.#pool.reads?.(a as T) === false) return;
      const v = a.vtime - (a.ahead ?? 0) + (ran.get(a) ?? 0);
      if (this.#pool.atCap?.(a as T) === true) minCapped = Math.min(minCapped, v);
      else min = Math.min(min, v);
    };
    for (const a of active) consider(a);
    for (const h of this.#pool.heads()) consider(h.tenant);
    // Only clients at their cap compete: their lag is behind nobody, so the least of them is where a newcomer starts.
    if (min === Infinity) min = minCapped;
    if (min < Infinity) this.#floor = Math.max(this.#floor, min);
    // Level with the least active client as it stands now: the floor may have passed it, as accounts charged
    // ahead (a chunk's expected cost when placed) come down when chunks leave early or are cut short.
    t.vtime = Math.max(t.vtime, min < Infinity ? min : this.#floor);
  }

  /** A chunk handed to a worker: charged its expected cost now, so the next choice already sees it. */
  charge(chunk: Placed, expectedMs: number): void {
    if (chunk.tenant.served === false) this.#newcomer(chunk.tenant);
    chunk.charged = expectedMs;
    const more = (expectedMs - (chunk.prepaid ?? 0)) / chunk.tenant.weight;
    chunk.tenant.vtime += more;
    chunk.tenant.ahead = (chunk.tenant.ahead ?? 0) + more;
    chunk.prepaid = 0;
  }

  /**
   * `rest` is what was left of a chunk cut short, back in the queue: what that chunk was
   * charged for it stays charged, as if it had stayed placed. Refunded when it left its
   * worker, it would drop its client below a newcomer started level with it, and the
   * newcomer would not be owed a worker again until that client's next chunk was placed.
   */
  prepay(rest: Placed, ms: number): void {
    if (!(ms > 0)) return;
    rest.prepaid = (rest.prepaid ?? 0) + ms;
    rest.tenant.vtime += ms / rest.tenant.weight;
    rest.tenant.ahead = (rest.tenant.ahead ?? 0) + ms / rest.tenant.weight;
  }

  /** `rest`, prepaid (prepay), will never run (its batch was cancelled): what it was charged comes back. */
  refund(rest: Placed): void {
    const ms = rest.prepaid ?? 0;
    if (!(ms > 0)) return;
    rest.prepaid = 0;
    rest.tenant.vtime -= ms / rest.tenant.weight;
    rest.tenant.ahead = Math.max(0, (rest.tenant.ahead ?? 0) - ms / rest.tenant.weight);
  }

  /**
   * A chunk leaves its worker (done, failed, moved, or its worker died): its charge becomes what it took. Returns what
   * was charged and not taken. `ran` false: it never began there (its worker gave it back unbegun), so it took nothing,
   * however long it sat at the head of a worker whose main thread something else held (another app's leftover spin).
   */
  settle(chunk: Placed, now: number, ran = true): number {
    const took = chunk.headAt === undefined || !ran ? 0 : now - chunk.headAt;
    const unused = chunk.charged - took;
    chunk.tenant.vtime -= unused / chunk.tenant.weight;
    chunk.tenant.ahead = Math.max(0, (chunk.tenant.ahead ?? 0) - chunk.charged / chunk.tenant.weight);
    chunk.charged = 0;
    return unused;
  }

  /** One of `t`'s items killed the worker in `slot`: it is charged the replacement, and limited to one worker for a while. */
  blame(t: Tenant, slot: number, now: number): void {
    this.#refilled(slot); // a replacement that died before it was ready: its charge stands as estimated
    t.killedAt = now;
    t.restarting++;
    if (t.served === false) {
      // Registered once its restarting slot counts: a sweep now would drop a killer that holds only that.
      this.#newcomer(t);
      if (t !== this.#newcomerKiller) [this.#newcomerKilledBefore, this.#newcomerKiller] = [this.#newcomerKilledAt, t];
      this.#newcomerKilledAt = now;
    }
    const charged = RESTART_WEIGHT * this.#restartEstimate;
    t.vtime += charged / t.weight;
    this.#refilling.set(slot, { tenant: t, at: now, charged });
  }

  /** The worker in `slot` is ready: the client that caused its replacement is charged what it took. */
  ready(slot: number, now: number): void {
    const r = this.#refilled(slot);
    if (r === undefined) return;
    const took = now - r.at;
    r.tenant.vtime += (RESTART_WEIGHT * took - r.charged) / r.tenant.weight;
    this.#restartEstimate = 0.75 * this.#restartEstimate + 0.25 * took;
  }

  /**
   * The pool dropped `slot` for good (a shrinking pool: a remote daemon lost):
   * a restart it was refilling for a client never comes, so that client stops
   * counting it (or it would be limited to no worker at all after each later
   * kill); its charge stands as estimated.
   */
  slotRemoved(slot: number): void {
    this.#refilled(slot);
  }

  /** Slots being refilled (to notice their workers' ready). */
  refilling(): Iterable<number> {
    return this.#refilling.keys();
  }

  #refilled(slot: number): { tenant: Tenant; at: number; charged: number } | undefined {
    const r = this.#refilling.get(slot);
    if (r === undefined) return undefined;
    this.#refilling.delete(slot);
    r.tenant.restarting--;
    return r;
  }

  /**
   * The client owed the next chunk: the least virtual time (counting its
   * running chunks' overrun) among those `eligible` allows and not limited
   * as a recent killer; ties go round-robin.
   */
  pick(active: readonly T[], now: number, eligible: (t: T) => boolean): T | undefined {
    const n = active.length;
    if (n === 0) return undefined;
    const over = overage(this.#pool.heads(), now);
    if (this.#onProbation(now) && active.some((t) => t.served !== false)) this.#servedWaitingAt = now;
    let best: T | undefined;
    let bestAt = 0;
    let bestV = Infinity;
    let min = Infinity;
    let minCapped = Infinity;
    for (let k = 0; k < n; k++) {
      const i = (this.#turn + k) % n;
      const t = active[i]!;
      const v = t.vtime + (over.get(t) ?? 0);
      if (this.#pool.reads?.(t) === false) {
        // Passed over: where it stands says nothing of the others (PoolView.reads).
      } else if (this.#pool.atCap?.(t) !== true) min = Math.min(min, v);
      else minCapped = Math.min(minCapped, v);
      if (v >= bestV || !eligible(t)) continue;
      if (this.limited(t, now)) continue;
      best = t;
      bestAt = i;
      bestV = v;
    }
    // Every client at its cap: the least of them says where the floor is, as in enter.
    const least = min < Infinity ? min : minCapped;
    if (least < Infinity) this.#floor = Math.max(this.#floor, least);
    if (best !== undefined) this.#turn = bestAt + 1;
    return best;
  }

  /**
   * True if `t` is owed the next chunk as much as any active client (for placing a newcomer's
   * chunk ahead), within `slackMs` of worker time: the others' accounts move by whole chunks
   * (charged when placed, corrected when they leave), so a client with nothing running may sit
   * a fraction of one above them for as long as a chunk runs.
   */
  owed(t: T, active: readonly T[], now: number, slackMs = 0): boolean {
    if (this.limited(t, now)) return false;
    const over = overage(this.#pool.heads(), now);
    const v = t.vtime + (over.get(t) ?? 0) - slackMs / t.weight;
    for (const a of active) if (a.vtime + (over.get(a) ?? 0) < v) return false;
    return true;
  }

  /**
   * True if `t` may go ahead of a chunk of `other` waiting in a worker's pipeline (for placing a newcomer's
   * chunk ahead): `other` does not stand below it, within `slackMs`, as in `owed`. The rest of a chunk cut
   * short for `other` comes back to its own client's queue, often its only queued work while `other`'s
   * chunks are all placed: owed by the clients in the queues, it went ahead of the chunks it was cut for.
   */
  mayPass(t: T, other: Tenant, now: number, slackMs = 0): boolean {
    if (other === t) return true;
    const over = overage(this.#pool.heads(), now);
    return other.vtime + (over.get(other) ?? 0) >= t.vtime + (over.get(t) ?? 0) - slackMs / t.weight;
  }

  /**
   * True while `t` may take no more workers: a recent killer holding one already (its slot restarting for it
   * counts). Cluster mode leaves it out of the demand it offers other daemons (Scheduler.queuedChunksByRealm).
   */
  limited(t: T, now: number): boolean {
    if (now - t.killedAt < KILLER_MEMORY_MS && this.#pool.holds(t) + t.restarting >= 1) return true;
    return t.served === false && this.#onProbation(now) && now - this.#servedWaitingAt < KILLER_MEMORY_MS && this.#newcomersHold() >= 1;
  }

  /** True while newcomers together hold at most one worker (#newcomerKilledAt). */
  #onProbation(now: number): boolean {
    return this.#newcomerKilledAt - this.#newcomerKilledBefore < KILLER_MEMORY_MS && now - this.#newcomerKilledAt < KILLER_MEMORY_MS;
  }

  /** Workers held and slots restarting for newcomers, all of them together. */
  #newcomersHold(): number {
    let n = 0;
    for (const t of this.#newcomers) {
      const held = t.served === false ? this.#pool.holds(t as T) + t.restarting : 0;
      if (held === 0) this.#newcomers.delete(t);
      n += held;
    }
    this.#newcomersSwept = this.#newcomers.size;
    return n;
  }

  #newcomer(t: Tenant): void {
    this.#newcomers.add(t);
    // Those that hold nothing go now and then, so that a stream of newcomers never grows the set.
    if (this.#newcomers.size > 2 * this.#newcomersSwept + 64) this.#newcomersHold();
  }
}

/** No running chunk has overrun its charge (the usual case: no map is made for it). */
const NONE: ReadonlyMap<Tenant, number> = new Map();

/** How long each client's running chunks have run, in its virtual time. */
function runningFor(heads: Iterable<Placed>, now: number): ReadonlyMap<Tenant, number> {
  let out: Map<Tenant, number> | undefined;
  for (const h of heads) {
    if (h.headAt !== undefined) (out ??= new Map()).set(h.tenant, (out.get(h.tenant) ?? 0) + (now - h.headAt) / h.tenant.weight);
  }
  return out ?? NONE;
}

/** Per client, how far its running chunks have overrun what they were charged, in virtual time (divided by its weight). */
function overage(heads: Iterable<Placed>, now: number): ReadonlyMap<Tenant, number> {
  let out: Map<Tenant, number> | undefined;
  for (const h of heads) {
    if (h.headAt === undefined) continue;
    const over = now - h.headAt - h.charged;
    if (over > 0) (out ??= new Map()).set(h.tenant, (out.get(h.tenant) ?? 0) + over / h.tenant.weight);
  }
  return out ?? NONE;
}
