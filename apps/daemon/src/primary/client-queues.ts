/**
 * The per-client queues: each client's jobs with their waiting chunks, the
 * clients that have work queued (active), and the choice of the next chunk:
 * the client owed the most worker time (fair-share.ts), then, among that
 * client's jobs of the highest priority, round-robin, so a small job never
 * waits behind the same client's million items of equal priority. Priority
 * orders one client's own jobs only: the share between clients stays by
 * worker time, so no priority of one client can starve another.
 */
import { randomBytes } from 'node:crypto';
import type { ServerMessage } from '@corepool/protocol';
import type { FairShare, Tenant } from './fair-share.js';
import type { Chunk, Job } from './job.js';
import type { TurnPayer } from './turn-share.js';

/** What the scheduler needs from a connection. */
export interface SchedulerClient {
  readonly id: number;
  /** The name the client gave in its hello (for status and metrics). */
  readonly name?: string;
  send(m: ServerMessage): void;
  /** False while the client's send buffer is above its high-water mark. */
  canReceive(): boolean;
  /** The bytes of its results waiting in the scheduler for it to read, now (results.ts); its send side counts them. */
  resultsWaiting?(bytes: number): void;
  /** Share of worker time against other clients (fair-share.ts); default 1. Fixed once the client has queued work. */
  readonly weight?: number;
  /** Most workers the client may hold at once (placement.ts); default no cap. */
  readonly maxWorkers?: number | undefined;
  /** Most workers the connections of its name may hold together (the operator's cap for the name); default no cap. */
  readonly nameMaxWorkers?: number | undefined;
  /** Its connection's share of the primary's turns, which its tasks' state requests are charged to (worker-state-link.ts). */
  readonly turns?: TurnPayer;
}

export interface ClientQueue extends Tenant {
  readonly client: SchedulerClient;
  /** Names the client's app to workers, unique beyond this daemon (RunMessage.realm, worker-pool.ts). */
  readonly realm: string;
  readonly jobs: Map<number, Job>;
  /** Jobs with queued chunks, served round-robin among those of the highest priority. */
  readonly ready: Job[];
  /** Most workers it may hold at once; undefined: no cap. */
  readonly maxWorkers: number | undefined;
  /** The connections of its name, under the operator's cap for it, which they hold together (worker-cap.ts); undefined: no such cap. */
  readonly nameCap: NameCap | undefined;
  rr: number;
  active: boolean;
  queuedChunks: number;
  queuedBytes: number;
  /** Chunks (and their bytes) held while their batch's task module is read (Job.held): within the same limits. */
  heldChunks: number;
  heldBytes: number;
  /** A chunk of it has run to its end (placement.ts: after a reserve worker's death, the reserve goes to such clients first). */
  served: boolean;
}

/** The connections of one name that the operator capped (--client-max-workers), and the cap they share. */
export interface NameCap {
  readonly max: number;
  readonly members: Set<ClientQueue>;
}

/** Chunks of the client held by workers. */
export function runningOf(cq: ClientQueue): number {
  let n = 0;
  for (const job of cq.jobs.values()) n += job.running.size;
  return n;
}

/** Figures of one client for `daemon status`. */
export interface ClientFigures {
  batches: number;
  queuedChunks: number;
  runningChunks: number;
}

/** The clients' queues, and which of them wait for a worker. */
export class ClientQueues {
  readonly #fair: FairShare<ClientQueue>;
  readonly #byId = new Map<number, ClientQueue>();
  /** The operator's caps by name, each shared by the connections of that name while any is here. */
  readonly #nameCaps = new Map<string, NameCap>();
  /** Starts this scheduler's realms: random, so no other daemon's realm is the same. */
  readonly #realmPrefix = `${randomBytes(9).toString('base64url')}:`;
  /** Clients with queued chunks. */
  readonly active: ClientQueue[] = [];

  constructor(fair: FairShare<ClientQueue>) {
    this.#fair = fair;
  }

  get(client: SchedulerClient): ClientQueue | undefined {
    return this.#byId.get(client.id);
  }

  /** The client a realm names, if it is one of this scheduler's. */
  byRealm(realm: string): ClientQueue | undefined {
    if (!realm.startsWith(this.#realmPrefix)) return undefined;
    const cq = this.#byId.get(Number(realm.slice(this.#realmPrefix.length)));
    return cq?.realm === realm ? cq : undefined;
  }

  all(): Iterable<ClientQueue> {
    return this.#byId.values();
  }

  /** The client's queue, made on first use. */
  of(client: SchedulerClient): ClientQueue {
    let cq = this.#byId.get(client.id);
    if (cq === undefined) {
      cq = {
        client,
        realm: `${this.#realmPrefix}${client.id}`,
        jobs: new Map(),
        ready: [],
        rr: 0,
        active: false,
        queuedChunks: 0,
        queuedBytes: 0,
        heldChunks: 0,
        heldBytes: 0,
        served: false,
        vtime: 0,
        killedAt: -Infinity,
        restarting: 0,
        weight: client.weight ?? 1,
        maxWorkers: client.maxWorkers,
        nameCap: this.#nameCap(client),
      };
      cq.nameCap?.members.add(cq);
      this.#byId.set(client.id, cq);
    }
    return cq;
  }

  #nameCap(client: SchedulerClient): NameCap | undefined {
    const max = client.nameMaxWorkers;
    if (max === undefined) return undefined;
    const name = client.name ?? '';
    let group = this.#nameCaps.get(name);
    if (group === undefined) this.#nameCaps.set(name, (group = { max, members: new Set() }));
    return group;
  }

  /** Forgets a client (its jobs must be abandoned first). */
  delete(cq: ClientQueue): void {
    this.#byId.delete(cq.client.id);
    const group = cq.nameCap;
    if (group !== undefined && group.members.delete(cq) && group.members.size === 0) this.#nameCaps.delete(cq.client.name ?? '');
    this.#deactivate(cq);
  }

  /** Queues a chunk last (new work) or first (work coming back from a worker). */
  enqueue(chunk: Chunk, front: boolean, now: number): void {
    const job = chunk.job;
    const cq = job.client;
    if (front) job.queue.unshift(chunk);
    else job.queue.push(chunk);
    cq.queuedChunks++;
    cq.queuedBytes += chunk.payload.length;
    if (job.queue.length === 1) cq.ready.push(job);
    if (!cq.active) {
      this.#fair.enter(cq, this.active, now);
      cq.active = true;
      this.active.push(cq);
    }
  }

  /** The next chunk of the client owed it, among those `eligible` allows. */
  next(now: number, eligible: (cq: ClientQueue) => boolean, fit?: (job: Job) => boolean): Chunk | undefined {
    const cq = this.#fair.pick(this.active, now, fit === undefined ? eligible : (c) => eligible(c) && c.ready.some(fit));
    return cq === undefined ? undefined : this.take(cq, fit);
  }

  /**
   * The next chunk of an active client, round-robin over its jobs of the highest priority; during
   * a reload only among the jobs `fit` lets this worker run (its code generation, job.ts fits).
   */
  take(cq: ClientQueue, fit?: (job: Job) => boolean): Chunk {
    const job = nextJob(cq, fit);
    const chunk = job.queue.shift()!;
    cq.queuedChunks--;
    cq.queuedBytes -= chunk.payload.length;
    if (job.queue.length === 0) cq.ready.splice(cq.ready.indexOf(job), 1);
    if (cq.ready.length === 0) this.#deactivate(cq);
    return chunk;
  }

  /** Drops a job's queued chunks; those prepaid (the rest of a chunk cut short, a withdrawn copy) are refunded. */
  drop(job: Job): void {
    const cq = job.client;
    for (const c of job.queue) {
      cq.queuedChunks--;
      cq.queuedBytes -= c.payload.length;
      this.#fair.refund(c);
    }
    job.queue.length = 0;
    const r = cq.ready.indexOf(job);
    if (r >= 0) cq.ready.splice(r, 1);
    if (cq.ready.length === 0) this.#deactivate(cq);
  }

  /** Queue figures for `daemon status`. */
  stats(): { queuedItems: number; runningItems: number; perClient: Map<number, ClientFigures> } {
    let queuedItems = 0;
    let runningItems = 0;
    const perClient = new Map<number, ClientFigures>();
    for (const cq of this.#byId.values()) {
      let running = 0;
      for (const job of cq.jobs.values()) {
        for (const c of job.queue) queuedItems += c.count;
        for (const c of job.running) runningItems += c.count;
        running += job.running.size;
      }
      perClient.set(cq.client.id, { batches: cq.jobs.size, queuedChunks: cq.queuedChunks, runningChunks: running });
    }
    return { queuedItems, runningItems, perClient };
  }

  /** Clients competing for the workers, as this client sees it (itself included). */
  load(cq: ClientQueue): number {
    return this.active.length + (cq.active ? 0 : 1);
  }

  #deactivate(cq: ClientQueue): void {
    if (!cq.active) return;
    cq.active = false;
    const i = this.active.indexOf(cq);
    if (i >= 0) this.active.splice(i, 1);
    cq.ready.length = 0;
  }
}

/** The client's next job to serve: round-robin (from cq.rr) among its ready jobs of the highest priority. */
function nextJob(cq: ClientQueue, fit?: (job: Job) => boolean): Job {
  const n = cq.ready.length;
  let top = -Infinity;
  for (const job of cq.ready) if (job.priority > top && (fit === undefined || fit(job))) top = job.priority;
  for (let k = 0; k < n; k++) {
    const i = (cq.rr + k) % n;
    const job = cq.ready[i]!;
    if (job.priority !== top || (fit !== undefined && !fit(job))) continue;
    cq.rr = i + 1;
    return job;
  }
  throw new Error('unreachable: an active client has a ready job');
}
