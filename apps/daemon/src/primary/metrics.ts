/**
 * The daemon's Prometheus metrics (prom-client), on a registry of their own
 * (never the global one: two daemons in one process, as in tests, must not
 * share series). Counters are plain numbers telemetry.ts keeps as it observes
 * events, copied in when scraped, as gauges are read from the daemon then. Per-client series carry a bounded
 * `client` label (client-labels.ts); every other label has a fixed set of
 * values (causes, state operations, error codes).
 *
 * prom-client is loaded by the first scrape: not on the start's path (it is
 * among the costliest modules the primary loads), and a daemon nobody scrapes
 * runs none of its default metrics' timers (the event-loop delay sampler woke
 * an idle primary 10 times a second). Nothing of corepool's own is lost
 * meanwhile: the counters live in telemetry.ts and the histograms here. The
 * process's default metrics (prom-client's) count from the first scrape on,
 * which waits for the event-loop delay's first samples.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Registry } from 'prom-client';
import { LiteHistogram } from './lite-histogram.js';

/** Counts of one `client` label (every connection under it, past ones included while the label lives). */
export interface ClientTotals {
  done: number;
  failed: number;
  timedOut: number;
  chunks: number;
  retried: number;
  batchesFailed: number;
}

/** What the metrics read when scraped: the counts telemetry.ts keeps as plain numbers (nothing on the hot path goes through prom-client). */
export interface MetricsSource {
  /** Per client label. */
  clientTotals(): ReadonlyMap<string, ClientTotals>;
  /** Per client label: chunks queued and running now (labels shared by several connections summed). */
  clientChunks(): Map<string, { queued: number; running: number }>;
  restarts(): ReadonlyMap<string, number>;
  stateOps(): ReadonlyMap<string, number>;
  refused(): ReadonlyMap<string, number>;
  workers(): { total: number; busy: number };
  clients(): number;
  /** Cluster mode only. */
  cluster?(): { daemons: number; lent: number; borrowed: number };
}

/**
 * Sampling period of the event-loop delay histogram behind the default
 * nodejs_eventloop_lag_* metrics. prom-client's default, 10 ms, is a timer
 * waking the primary 100 times a second for good, idle or not: measured, that
 * was most of an idle primary's CPU, and on a machine whose cores the
 * workers keep busy each wake-up takes a worker off its core (the efficiency
 * bench). At 100 ms a scrape interval still holds hundreds of samples.
 */
const EVENT_LOOP_SAMPLE_MS = 100;

/** Round trips and item times, in seconds: from a fraction of a millisecond to a minute. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class Metrics {
  readonly roundTrip = new LiteHistogram({
    name: 'corepool_chunk_round_trip_seconds',
    help: 'From a chunk sent to its worker to its result back.',
    buckets: BUCKETS,
  });
  readonly itemDuration = new LiteHistogram({
    name: 'corepool_item_duration_seconds',
    help: "Items' run time as their worker measured it (one observation per chunk: the mean of its items).",
    buckets: BUCKETS,
  });
  readonly #source: MetricsSource;
  #registry: Promise<Registry> | undefined;

  constructor(source: MetricsSource) {
    this.#source = source;
  }

  /** Loads prom-client and registers every series (once, on the first scrape); resolves with the registry. */
  load(): Promise<Registry> {
    return (this.#registry ??= this.#build());
  }

  async #build(): Promise<Registry> {
    const { Counter, Gauge, Registry, collectDefaultMetrics } = await import('prom-client');
    const source = this.#source;
    const registry = new Registry();
    const registers = [registry];
    // Counters are kept by telemetry and copied in at scrape time, gauges read then: a series dropped there (its client left) is gone here too.
    const series = (
      kind: 'counter' | 'gauge',
      name: string,
      help: string,
      label: string,
      read: () => Iterable<readonly [string, number]>,
    ): void => {
      const config = {
        name,
        help,
        labelNames: [label],
        registers,
        collect(this: { reset(): void; inc(labels: Record<string, string>, value: number): void }) {
          this.reset();
          for (const [value, n] of read()) this.inc({ [label]: value }, n);
        },
      };
      if (kind === 'counter') new Counter(config);
      else new Gauge(config);
    };
    const perClient = (name: string, help: string, pick: (t: ClientTotals) => number): void =>
      series('counter', name, help, 'client', () => mapped(source.clientTotals(), pick));
    perClient('corepool_items_done_total', 'Items whose outcome (result or error) was delivered.', (t) => t.done);
    perClient('corepool_items_failed_total', 'Items delivered as errors (task threw, timeout, crash).', (t) => t.failed);
    perClient('corepool_items_timed_out_total', 'Items that ran past their timeout (their worker was replaced).', (t) => t.timedOut);
    perClient('corepool_chunks_done_total', 'Chunks whose worker finished them.', (t) => t.chunks);
    perClient('corepool_chunks_retried_total', 'Chunks run again after their worker died while running them.', (t) => t.retried);
    perClient('corepool_batches_failed_total', 'Batches that failed as a whole (task could not run, refused).', (t) => t.batchesFailed);
    series(
      'counter',
      'corepool_worker_restarts_total',
      'Worker processes replaced, by cause (crash, timeout, memory, cancel, uncaught, recycle, retired, stopped, corrupt, exit).',
      'cause',
      () => source.restarts(),
    );
    series('counter', 'corepool_state_ops_total', 'Shared-state operations, by operation.', 'op', () => source.stateOps());
    series('counter', 'corepool_refused_total', 'Requests and connections refused, by error code.', 'code', () => source.refused());
    this.roundTrip.register(registry);
    this.itemDuration.register(registry);
    series('gauge', 'corepool_queued_chunks', 'Chunks waiting for a worker.', 'client', () =>
      mapped(source.clientChunks(), (c) => c.queued),
    );
    series('gauge', 'corepool_running_chunks', 'Chunks held by workers (running or in their pipeline).', 'client', () =>
      mapped(source.clientChunks(), (c) => c.running),
    );
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(read());
        },
      });
    };
    gauge('corepool_workers', 'Worker processes of this daemon.', () => source.workers().total);
    gauge('corepool_busy_workers', 'Workers running a chunk.', () => source.workers().busy);
    gauge('corepool_clients', 'Authenticated client connections.', () => source.clients());
    const cluster = source.cluster;
    if (cluster !== undefined) {
      gauge('corepool_cluster_daemons', 'Daemons of the cluster, as of their last heartbeats.', () => cluster().daemons);
      gauge('corepool_cluster_workers_lent', 'Workers of this daemon lent to others.', () => cluster().lent);
      gauge('corepool_cluster_workers_borrowed', 'Workers of other daemons lent to this one.', () => cluster().borrowed);
    }
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
    // prom-client's event-loop delay histogram starts empty: a scrape then says a minimum of 2^63 ns and a NaN
    // mean. Its gauges cannot tell (they read 0 until a scrape collects, and a collect empties the histogram), so
    // a probe of our own, armed just after it with the same period, says when the sampling timer has fired:
    // twice, for the other to have fired at least once. On a loaded machine that can take seconds (waiting two
    // periods flatly failed a CI run's first scrape); 3 s at most, then the first scrape shows what it has.
    const probe = monitorEventLoopDelay({ resolution: EVENT_LOOP_SAMPLE_MS });
    probe.enable();
    for (let waited = 0; probe.count < 2 && waited < 30 * EVENT_LOOP_SAMPLE_MS; waited += EVENT_LOOP_SAMPLE_MS) {
      await sleep(EVENT_LOOP_SAMPLE_MS);
    }
    probe.disable();
    return registry;
  }

  /** The exposition text and its content type. */
  async render(): Promise<{ body: string; contentType: string }> {
    const registry = await this.load();
    return { body: await registry.metrics(), contentType: registry.contentType };
  }
}

/** A map's entries with their values turned into numbers by `pick`. */
function* mapped<T>(m: ReadonlyMap<string, T>, pick: (t: T) => number): Iterable<readonly [string, number]> {
  for (const [key, value] of m) yield [key, pick(value)];
}
