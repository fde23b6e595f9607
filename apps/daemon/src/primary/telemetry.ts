/**
 * What the daemon measures of itself, in one place: it observes the
 * scheduler (items, chunks, retries, batches: scheduler-observer.ts), worker
 * exits, shared-state operations and refused requests, samples the workers'
 * memory and CPU from /proc once a second, and feeds both the Prometheus
 * metrics (metrics.ts) and the optional figures of `daemon status` (rss, cpu,
 * lastRestart; share, itemsDone; latency, recentErrors). Events only bump
 * plain numbers (the hot path is once per chunk, never per item); anything
 * costlier happens when a status is asked for or the metrics are scraped.
 */
import { ErrorCode, STATE_OPS, type DaemonStatus, type WireError, type WorkerStatus } from '@corepool/protocol/internal';
import { ClientLabels, OTHER } from './client-labels.js';
import type { SchedulerClient } from './client-queues.js';
import { Metrics, type ClientTotals } from './metrics.js';
import { MS_PER_TICK, readRss, readStat } from './procfs.js';
import { RecentErrors } from './recent-errors.js';
import type { SchedulerObserver } from './scheduler-observer.js';
import type { StateStore } from '../state/state-store.js';
import type { WorkerSlot } from './supervisor.js';

/** A client's share of worker time is measured over this many seconds. */
const SHARE_WINDOW_S = 60;
/** ...in buckets of this many seconds (12 numbers a client, not 60). */
const SHARE_BUCKET_S = 5;
const SHARE_BUCKETS = SHARE_WINDOW_S / SHARE_BUCKET_S;
/** Latency percentiles cover the chunks of the last this many milliseconds... */
const LATENCY_WINDOW_MS = 10_000;
/** ...and at most this many of them (the latest). */
const LATENCY_SAMPLES = 4096;
/** Workers' memory and CPU are read this often. */
const USAGE_MS = 1_000;

/** What telemetry reads from the daemon. */
export interface TelemetryHost {
  /** This daemon's worker processes. */
  workers(): readonly WorkerSlot[];
  /** Workers the scheduler places chunks on (the denominator of a client's share). */
  poolSize(): number;
  /** The chunk each worker runs now (`since` on the scheduler's clock, performance.now()). */
  running(): Iterable<{ slot: number; client: SchedulerClient; batch: number; since: number | undefined }>;
  /** The connected clients' queued and running chunks. */
  queues(): Iterable<{ client: SchedulerClient; queuedChunks: number; runningChunks: number }>;
  /** Authenticated connections. */
  clients(): number;
  /** Cluster mode only. */
  cluster?(): { daemons: number; lent: number; borrowed: number };
}

/** One connected client, once it has done something. */
interface ClientRecord {
  readonly name: string;
  readonly label: string;
  /** Its label's counts (shared with every connection under the same label). */
  readonly totals: ClientTotals;
  itemsDone: number;
  /** Worker-milliseconds per bucket of the share window, as a ring indexed by bucket number. */
  readonly busy: Float64Array;
  /** The bucket number (seconds / SHARE_BUCKET_S) each slot of `busy` holds. */
  readonly busyAt: Float64Array;
}

interface Usage {
  rss: number | undefined;
  cpu: number | undefined;
  ticks: number;
  at: number;
}

/** Extra figures of one status (computed once per status). */
export interface StatusFigures {
  worker(w: WorkerSlot): Pick<WorkerStatus, 'rss' | 'cpu' | 'batch' | 'client' | 'lastRestart'>;
  client(c: SchedulerClient): { share?: number; itemsDone: number };
  daemon(): Pick<DaemonStatus, 'latency' | 'recentErrors'>;
}

const KNOWN_OPS = new Set<string>(STATE_OPS);
const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

export class Telemetry implements SchedulerObserver {
  readonly metrics: Metrics;
  readonly #host: TelemetryHost;
  readonly #clients = new Map<SchedulerClient, ClientRecord>();
  readonly #totals = new Map<string, ClientTotals>();
  readonly #labels = new ClientLabels((label) => this.#totals.delete(label));
  readonly #restarts = new Map<string, number>();
  readonly #stateOps = new Map<string, number>();
  readonly #refused = new Map<string, number>();
  readonly #errors = new RecentErrors();
  /** Per worker slot: why it last got a new process. */
  readonly #lastRestart = new Map<number, { cause: string; at: number }>();
  /** Per worker pid. */
  readonly #usage = new Map<number, Usage>();
  readonly #rtAt = new Float64Array(LATENCY_SAMPLES);
  readonly #rtMs = new Float64Array(LATENCY_SAMPLES);
  #rtNext = 0;
  #rtCount = 0;
  readonly #startedAt = performance.now();
  readonly #timer: NodeJS.Timeout;

  constructor(host: TelemetryHost) {
    this.#host = host;
    this.metrics = new Metrics({
      clientTotals: () => this.#totals,
      clientChunks: () => this.#clientChunks(),
      restarts: () => this.#restarts,
      stateOps: () => this.#stateOps,
      refused: () => this.#refused,
      workers: () => this.#workerCounts(),
      clients: () => host.clients(),
      ...(host.cluster === undefined ? {} : { cluster: host.cluster }),
    });
    this.#timer = setInterval(() => this.#sampleUsage(), USAGE_MS);
    this.#timer.unref();
  }

  /** Stops sampling. */
  close(): void {
    clearInterval(this.#timer);
  }

  // --- What the scheduler tells (scheduler-observer.ts) ---

  items(client: SchedulerClient, count: number, errors: readonly WireError[]): void {
    const r = this.#record(client);
    r.itemsDone += count;
    r.totals.done += count;
    if (errors.length === 0) return;
    r.totals.failed += errors.length;
    const last = errors[errors.length - 1]!;
    this.#errors.add(last.code, last.message, r.name, errors.length);
  }

  itemFailed(client: SchedulerClient, error: WireError): void {
    const r = this.#record(client);
    r.itemsDone++;
    r.totals.done++;
    r.totals.failed++;
    if (error.code === ErrorCode.E_TIMEOUT) r.totals.timedOut++;
    this.#errors.add(error.code, error.message, r.name);
  }

  batchFailed(client: SchedulerClient, error: WireError): void {
    const r = this.#record(client);
    r.totals.batchesFailed++;
    this.#errors.add(error.code, error.message, r.name);
  }

  chunkDone(client: SchedulerClient, roundTripMs: number, workMs: number, items: number): void {
    const r = this.#record(client);
    r.totals.chunks++;
    const now = performance.now();
    const bucket = Math.floor(now / (SHARE_BUCKET_S * 1000));
    const i = bucket % SHARE_BUCKETS;
    if (r.busyAt[i] !== bucket) {
      r.busyAt[i] = bucket;
      r.busy[i] = 0;
    }
    r.busy[i]! += Math.min(workMs, SHARE_WINDOW_S * 1000);
    this.#rtAt[this.#rtNext] = now;
    this.#rtMs[this.#rtNext] = roundTripMs;
    this.#rtNext = (this.#rtNext + 1) % LATENCY_SAMPLES;
    if (this.#rtCount < LATENCY_SAMPLES) this.#rtCount++;
    this.metrics.roundTrip.observe(roundTripMs / 1000);
    if (workMs > 0 && items > 0) this.metrics.itemDuration.observe(workMs / items / 1000);
  }

  chunkRetried(client: SchedulerClient): void {
    this.#record(client).totals.retried++;
  }

  clientGone(client: SchedulerClient): void {
    const r = this.#clients.get(client);
    if (r === undefined) return;
    this.#clients.delete(client);
    this.#labels.release(r.label);
  }

  // --- What the daemon tells ---

  /** A worker exited and is being replaced (not during a stop). */
  workerExit(w: WorkerSlot, code: number | null, signal: string | null): void {
    const cause = causeOf(w.killedFor, code, signal);
    this.#restarts.set(cause, (this.#restarts.get(cause) ?? 0) + 1);
    this.#lastRestart.set(w.slot, { cause, at: Date.now() });
    this.#usage.delete(w.pid);
    // Timeouts and uncaught exceptions are already there as their item's error; a retired worker is no error.
    if (cause === 'crash' || cause === 'memory' || cause === 'stopped' || cause === 'corrupt') {
      const how = signal !== null ? `signal ${signal}` : `code ${code}`;
      this.#errors.add(ErrorCode.E_WORKER_CRASHED, `worker ${w.pid} (slot ${w.slot}) exited (${how}, cause: ${cause}); replaced`);
    }
  }

  /** The daemon refused a request or a connection with `code` (`client`: the name of an authenticated client). */
  refused(code: string, message: string, client?: string): void {
    const key = KNOWN_CODES.has(code) ? code : 'other';
    this.#refused.set(key, (this.#refused.get(key) ?? 0) + 1);
    this.#errors.add(key, message, client);
  }

  /** Counts every operation `store` handles, clients' and tasks' alike (the one door both go through). */
  watchState(store: Pick<StateStore, 'handle'>): void {
    const handle = store.handle.bind(store);
    store.handle = (owner, req, key) => {
      const op = KNOWN_OPS.has(req.op) ? req.op : 'other';
      this.#stateOps.set(op, (this.#stateOps.get(op) ?? 0) + 1);
      return handle(owner, req, key);
    };
  }

  // --- What status reads ---

  /** The optional figures of one `daemon status`. */
  status(): StatusFigures {
    const now = performance.now();
    const running = new Map<number, { client: SchedulerClient; batch: number }>();
    const runningMs = new Map<SchedulerClient, number>();
    const windowMs = Math.max(1, Math.min(SHARE_WINDOW_S * 1000, now - this.#startedAt));
    for (const r of this.#host.running()) {
      running.set(r.slot, r);
      if (r.since !== undefined) runningMs.set(r.client, (runningMs.get(r.client) ?? 0) + Math.min(windowMs, now - r.since));
    }
    const busy = new Map<SchedulerClient, number>();
    let total = 0;
    for (const [client, r] of this.#clients) {
      const ms = busyMs(r, now) + (runningMs.get(client) ?? 0);
      busy.set(client, ms);
      total += ms;
    }
    for (const [client, ms] of runningMs) {
      if (!this.#clients.has(client)) {
        busy.set(client, ms);
        total += ms;
      }
    }
    // Chunks are counted when they end, so a burst of long ones can add up past the window: shares then sum to 1.
    const capacity = Math.max(total, this.#host.poolSize() * windowMs);
    return {
      worker: (w) => {
        const u = this.#usage.get(w.pid);
        const r = running.get(w.slot);
        const last = this.#lastRestart.get(w.slot);
        return {
          ...(u?.rss === undefined ? {} : { rss: u.rss }),
          ...(u?.cpu === undefined ? {} : { cpu: u.cpu }),
          ...(r === undefined ? {} : { batch: r.batch, client: r.client.name ?? '' }),
          ...(last === undefined ? {} : { lastRestart: { ...last } }),
        };
      },
      client: (c) => {
        const ms = busy.get(c);
        return { itemsDone: this.#clients.get(c)?.itemsDone ?? 0, ...(capacity > 0 ? { share: (ms ?? 0) / capacity } : {}) };
      },
      daemon: () => {
        const latency = this.#latency(now);
        return { ...(latency === undefined ? {} : { latency }), recentErrors: this.#errors.list() };
      },
    };
  }

  #record(client: SchedulerClient): ClientRecord {
    let r = this.#clients.get(client);
    if (r !== undefined) return r;
    const name = client.name ?? '';
    const label = this.#labels.take(name);
    let totals = this.#totals.get(label);
    if (totals === undefined) {
      totals = { done: 0, failed: 0, timedOut: 0, chunks: 0, retried: 0, batchesFailed: 0 };
      this.#totals.set(label, totals);
    }
    r = { name, label, totals, itemsDone: 0, busy: new Float64Array(SHARE_BUCKETS), busyAt: new Float64Array(SHARE_BUCKETS).fill(-1) };
    this.#clients.set(client, r);
    return r;
  }

  /** This daemon's workers, and those of them running a chunk (in cluster mode the pool also holds borrowed ones). */
  #workerCounts(): { total: number; busy: number } {
    const local = new Set(this.#host.workers().map((w) => w.slot));
    let busy = 0;
    for (const r of this.#host.running()) if (local.has(r.slot)) busy++;
    return { total: local.size, busy };
  }

  #clientChunks(): Map<string, { queued: number; running: number }> {
    const out = new Map<string, { queued: number; running: number }>();
    for (const q of this.#host.queues()) {
      if (q.queuedChunks + q.runningChunks === 0 && !this.#clients.has(q.client)) continue;
      const label = this.#record(q.client).label;
      const c = out.get(label) ?? { queued: 0, running: 0 };
      c.queued += q.queuedChunks;
      c.running += q.runningChunks;
      out.set(label, c);
    }
    if (!out.has(OTHER) && this.#totals.has(OTHER)) out.set(OTHER, { queued: 0, running: 0 });
    return out;
  }

  /** Median and 99th percentile of the recent round trips, if any. */
  #latency(now: number): { p50Ms: number; p99Ms: number } | undefined {
    const recent: number[] = [];
    for (let i = 0; i < this.#rtCount; i++) if (now - this.#rtAt[i]! <= LATENCY_WINDOW_MS) recent.push(this.#rtMs[i]!);
    if (recent.length === 0) return undefined;
    recent.sort((a, b) => a - b);
    const at = (q: number): number => Math.round(recent[Math.min(recent.length - 1, Math.floor(q * recent.length))]! * 10) / 10;
    return { p50Ms: at(0.5), p99Ms: at(0.99) };
  }

  #sampleUsage(): void {
    const now = performance.now();
    const live = new Set<number>();
    for (const w of this.#host.workers()) {
      if (w.dead || w.pid === 0) continue;
      live.add(w.pid);
      const stat = readStat(w.pid);
      if (stat === undefined) continue;
      const prev = this.#usage.get(w.pid);
      const cpu =
        prev === undefined || now <= prev.at ? undefined : Math.min(1, ((stat.cpuTicks - prev.ticks) * MS_PER_TICK) / (now - prev.at));
      this.#usage.set(w.pid, {
        // The RSS watchdog reads it ten times a second already; /proc is read here only while it is off.
        rss: w.rss ?? readRss(w.pid),
        cpu: cpu === undefined ? undefined : Math.round(cpu * 1000) / 1000,
        ticks: stat.cpuTicks,
        at: now,
      });
    }
    for (const pid of this.#usage.keys()) if (!live.has(pid)) this.#usage.delete(pid);
  }
}

/** Worker-milliseconds of a client in the share window. */
function busyMs(r: ClientRecord, now: number): number {
  const bucket = Math.floor(now / (SHARE_BUCKET_S * 1000));
  let ms = 0;
  for (let i = 0; i < SHARE_BUCKETS; i++) if (r.busyAt[i]! > bucket - SHARE_BUCKETS) ms += r.busy[i]!;
  return ms;
}

/** Why a worker left, as a restart cause (a fixed set: it is a metric label). */
export function causeOf(killedFor: string | undefined, code: number | null, signal: string | null): string {
  switch (killedFor) {
    case undefined:
      return code === 0 && signal === null ? 'exit' : 'crash';
    case 'rss':
      return 'memory';
    case 'corrupt channel':
      return 'corrupt';
    case 'send refused':
    case 'abort refused':
      return 'send-refused';
    case 'cluster lease lost':
      return 'lease-lost';
    case 'timeout':
    case 'cancel':
    case 'uncaught':
    case 'recycle':
    case 'retired':
    case 'stopped':
    case 'reload':
      return killedFor;
    default:
      return 'other';
  }
}
