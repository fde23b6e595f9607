// scenarios.js - what `npm run bench` measures: for each scenario, the systems
// (one runner file each, started in its own process), their parameters in
// full and --quick runs, and the goals corepool is held to.
//
// Parameters reach a runner as JSON argv; `params(quick)` gives the shared
// ones, a system's `params` adds or overrides its own. A `note` says when
// --quick shrinks a size.

const NODE = process.execPath;
const PYTHON = process.env.PYTHON ?? 'python3';

const node = (file) => ({ cmd: NODE, file });
// The same corepool runner with its daemon alone in a cluster on REDIS_URL: beside `corepool`, what cluster mode costs.
const inCluster = (file) => ({ system: 'corepool-cluster', ...node(file), params: () => ({ cluster: true }) });
const py = (file) => ({ cmd: PYTHON, file });

/** Scenario name -> { title, params(quick), systems: [{ system, cmd, file, params? }], goals, derive? }. */
export const SCENARIOS = {
  cpu: {
    title: '8 equal CPU-bound tasks (s += i % 4), 2 workers',
    params: (q) => ({ tasks: 8, n: 3, workers: 2, iters: q ? 60e6 : 300e6, note: q ? 'quick: 60M iterations per task' : undefined }),
    systems: [
      { system: 'sequential', ...node('anchors/sequential.js') },
      { system: 'corepool', ...node('corepool/cpu.js') },
      inCluster('corepool/cpu.js'),
      {
        system: 'python-pool',
        ...py('anchors/cpu.py'),
        params: (q) => ({ iters: q ? 2e6 : 8e6, note: q ? 'quick: 2M iterations per task' : undefined }),
      },
      { system: 'piscina', ...node('anchors/piscina.js') },
    ],
    // Node pools: speedup against sequential.js measured in the same round.
    derive: deriveCpuSpeedup,
    goals: [{ system: 'corepool', metric: 'speedup', op: '>=', value: 1.9, text: 'cpu speedup >= 1.9' }],
  },

  efficiency: {
    title: 'tasks of 1 ms busy work, 2 workers; efficiency = (total work / workers) / wall',
    // Every system warms up with a batch as large as the measured one: in a daemon just started, the first
    // 10,000-task map also pays the primary's first full GC (its heap growing past its startup size) and
    // the JIT of its per-chunk code (measured: 0.978, then 0.986 and 0.990 on the next two maps).
    params: (q) => ({ tasks: q ? 2000 : 10_000, warmupTasks: q ? 2000 : 10_000, workers: 2, note: q ? 'quick: 2,000 tasks' : undefined }),
    systems: [
      { system: 'corepool', ...node('corepool/efficiency.js') },
      { system: 'python-pool', ...py('anchors/efficiency.py') },
      { system: 'piscina', ...node('anchors/piscina.js') },
      // The floor: a bare node:cluster pool chunking as corepool does, nothing else on the path.
      { system: 'node-cluster-pool', ...node('anchors/cluster-pool.js') },
      // The same pool behind a ws server in its own process, fed by a client process: corepool's four processes
      // on the two cores (client, primary, two workers), with nothing else on the path.
      { system: 'ws-cluster-pool', ...node('anchors/ws-cluster-pool.js') },
    ],
    goals: [{ system: 'corepool', metric: 'efficiency', op: '>=', value: 0.98, text: 'efficiency >= 0.98' }],
  },

  trivial: {
    title: '1,000,000 items of x * 2, 2 workers',
    // Three warm-up runs at full size for every system: corepool's three V8 processes (SDK, primary,
    // workers) are still tiering up and growing their heaps on the second (measured: 4.1M, 9.2M, then
    // 12.2-12.8M items/s on the third to fifth run of one daemon).
    // Then the median of five timed runs: one timed run swung 102-132 ms on one daemon (BENCHMARKS.md, twenty-first session).
    params: () => ({ items: 1e6, workers: 2, batch: 1000, window: 8, warmups: 3, timed: 5 }),
    systems: [
      { system: 'corepool', ...node('corepool/trivial.js') },
      inCluster('corepool/trivial.js'),
      { system: 'python-pool', ...py('anchors/trivial.py') },
      { system: 'piscina-batched', ...node('anchors/piscina.js') },
      { system: 'cluster-ipc', ...node('anchors/cluster-ipc.js') },
      // The floor with corepool's processes: the items start in a client process and cross a primary that only forwards bytes.
      { system: 'ws-ipc-forward', ...node('anchors/ws-ipc-forward.js') },
    ],
    goals: [
      {
        system: 'corepool',
        metric: 'items_per_s',
        op: '>=',
        anchor: 'python-pool',
        ratio: 1.0,
        text: 'trivial >= Python Pool.map items/s',
      },
      {
        system: 'corepool',
        metric: 'items_per_s',
        op: '>=',
        anchor: 'cluster-ipc',
        ratio: 0.95,
        text: 'trivial >= 0.95x the raw node:cluster IPC floor',
      },
    ],
  },

  latency: {
    title: 'one trivial task, 2,000 times in sequence',
    // 6,000 warm-up round trips: three V8 processes (client, primary, worker) need about that many to reach steady state.
    params: (q) => ({ count: 2000, warmup: q ? 2000 : 6000, workers: 2 }),
    systems: [
      { system: 'corepool', ...node('corepool/latency.js') },
      inCluster('corepool/latency.js'),
      { system: 'python-pool', ...py('anchors/latency.py') },
      { system: 'piscina', ...node('anchors/piscina.js') },
      { system: 'ws-msgpack-echo', ...node('anchors/ws-echo.js') },
      { system: 'cluster-ipc-echo', ...node('anchors/ipc-echo.js') },
      // The same two hops chained as a submit makes them, with nothing else on the path.
      { system: 'ws-ipc-chain', ...node('anchors/ws-ipc-chain.js') },
    ],
    // The two hops a submit cannot avoid, summed per round; and corepool's p99 over its own p50.
    derive: deriveLatencyFloor,
    goals: [
      { system: 'corepool', metric: 'p50_us', op: '<=', value: 180, text: 'latency p50 <= 180 us' },
      { system: 'corepool', metric: 'p99_us', op: '<=', value: 400, text: 'latency p99 <= 400 us' },
      {
        system: 'corepool',
        metric: 'p50_us',
        op: '<=',
        anchor: 'ws+ipc-echo',
        ratio: 1.0,
        text: 'latency p50 <= ws echo + cluster IPC echo',
      },
      { system: 'corepool', metric: 'p99_over_p50', op: '<=', value: 3, text: 'latency p99 <= 3x its p50' },
    ],
  },

  counter: {
    title: '4 app processes, each awaiting add(1) one at a time',
    params: (q) => ({
      procs: 4,
      ops: q ? 5000 : 25_000,
      warmup: q ? 2000 : 6000,
      workers: 2,
      note: q ? 'quick: 5,000 ops per process' : undefined,
    }),
    systems: [
      { system: 'corepool', ...node('corepool/counter.js') },
      inCluster('corepool/counter.js'),
      // The same apps awaiting get() instead of add(1): the daemon's path without a write to commit.
      { system: 'corepool-get', ...node('corepool/counter.js'), params: () => ({ op: 'get' }) },
      { system: 'redis-ioredis', ...node('anchors/redis.js') },
      { system: 'ws-msgpack-counter', ...node('anchors/ws-echo.js') },
      // The same server with the least a durable write needs: each turn's writes appended to a file before their replies.
      { system: 'ws-msgpack-counter-journal', ...node('anchors/ws-echo.js'), params: () => ({ journal: true }) },
      {
        system: 'python-value',
        ...py('anchors/counter.py'),
        params: (q) => ({ ops: q ? 50_000 : 100_000, warmup: 1000, note: q ? 'quick: 50,000 ops per process' : undefined }),
      },
    ],
    goals: [
      { system: 'corepool', metric: 'ops_per_s', op: '>=', anchor: 'redis-ioredis', ratio: 1.0, text: 'counter >= 1.0x Redis (ioredis)' },
      {
        system: 'corepool',
        metric: 'ops_per_s',
        op: '>=',
        anchor: 'ws-msgpack-counter',
        ratio: 0.95,
        text: 'counter >= 0.95x the bare ws + msgpack counter',
      },
      {
        system: 'corepool',
        metric: 'server_cpu_us',
        op: '<=',
        anchor: 'ws-msgpack-counter',
        ratio: 1.0,
        text: 'counter: daemon CPU per op <= the bare ws server',
      },
    ],
  },

  pipelined: {
    title: 'one client, 10,000 add(1) in flight',
    params: () => ({ ops: 10_000, warmup: 1000, workers: 2 }),
    systems: [
      { system: 'corepool', ...node('corepool/pipelined.js') },
      inCluster('corepool/pipelined.js'),
      { system: 'redis-pipeline', ...node('anchors/redis.js') },
    ],
    goals: [],
  },

  inflight: {
    title: 'one client, 100,000 add(1) in flight at once (Promise.all), CPU per op',
    params: (q) => ({ ops: q ? 20_000 : 100_000, warmup: 10_000, workers: 2, note: q ? 'quick: 20,000 ops' : undefined }),
    systems: [
      { system: 'corepool', ...node('corepool/inflight.js') },
      inCluster('corepool/inflight.js'),
      { system: 'redis-ioredis', ...node('anchors/redis.js') },
    ],
    goals: [
      { system: 'corepool', metric: 'ops_per_s', op: '>=', anchor: 'redis-ioredis', ratio: 1.0, text: 'inflight >= 1.0x Redis (ioredis)' },
      {
        system: 'corepool',
        metric: 'server_cpu_us',
        op: '<=',
        anchor: 'redis-ioredis',
        ratio: 1.0,
        text: 'inflight: daemon CPU per op <= Redis CPU per op',
      },
    ],
  },

  notify: {
    title: 'a change reaching a subscriber in another process (update -> notify)',
    // Warm-up as for latency: three V8 processes (updater, primary, subscriber) reach steady state after thousands of round trips.
    params: (q) => ({ count: q ? 1000 : 2000, warmup: q ? 2000 : 6000, workers: 2, note: q ? 'quick: 1,000 updates' : undefined }),
    systems: [
      { system: 'corepool', ...node('corepool/notify.js') },
      { system: 'redis-pubsub', ...node('anchors/redis.js') },
      // Node floors: a bare ws + msgpack server pushing each set, and the same appending each turn's writes before the reply and the push.
      { system: 'ws-msgpack-notify', ...node('anchors/ws-echo.js') },
      { system: 'ws-msgpack-notify-journal', ...node('anchors/ws-echo.js'), params: () => ({ journal: true }) },
    ],
    goals: [
      { system: 'corepool', metric: 'p99_us', op: '<=', anchor: 'redis-pubsub', ratio: 1.0, text: 'notify p99 <= Redis pub/sub p99' },
    ],
  },

  memory: {
    title: 'daemon RSS: at rest, with 1,000 idle clients, while streaming 1,000,000 items',
    params: () => ({ workers: 2, idleClients: 1000, idleProcs: 2, streamItems: 1e6 }),
    systems: [{ system: 'corepool', ...node('corepool/memory.js') }],
    goals: [
      { system: 'corepool', metric: /^rss_mb_.*_primary$/, op: '<', value: 250, text: 'memory primary < 250 MB (every phase)' },
      { system: 'corepool', metric: 'rss_mb_stream_primary', op: '<', value: 150, text: 'memory streaming primary < 150 MB' },
      { system: 'corepool', metric: 'kb_per_idle_client', op: '<', value: 10, text: 'memory < 10 KB per idle client' },
    ],
  },

  neighbours: {
    title: "a healthy app's 1,000 x 1 ms batch alone, and beside an app whose items crash, time out or spin; 2 workers",
    // A healthy batch still running at deadlineS is stopped there (the check fails): before fairness held under faults, beside crashes it never finished.
    params: (q) => ({ items: 1000, workers: 2, kinds: ['crash', 'timeout', 'spin'], deadlineS: q ? 15 : 60 }),
    systems: [{ system: 'corepool', ...node('corepool/neighbours.js') }],
    goals: ['crash', 'timeout', 'spin'].map((kind) => ({
      system: 'corepool',
      metric: `ratio_${kind}`,
      op: '<=',
      value: 2.5,
      text: `beside ${kind}: <= 2.5x the time alone`,
    })),
  },

  floodNeighbour: {
    title: 'awaited increments alone, then beside a client keeping 4 frames of 1,000 in flight; 1 worker',
    params: (q) => ({ workers: 1, windowMs: q ? 2000 : 4000 }),
    systems: [
      { system: 'corepool', ...node('corepool/flood-neighbour.js') },
      { system: 'redis-ioredis', ...node('anchors/redis.js') },
    ],
    goals: [],
  },

  newcomer: {
    title: 'one 1 ms task at a time from a second app, beside a lone 10,000 x 1 ms map: its wait for a worker; 2 workers',
    params: (q) => ({ tasks: q ? 4000 : 10_000, workers: 2, probes: q ? 10 : 20, note: q ? 'quick: 4,000 tasks' : undefined }),
    systems: [
      { system: 'corepool', ...node('corepool/newcomer.js') },
      { system: 'python-pool', ...py('anchors/newcomer.py') },
    ],
    goals: [],
  },

  longitems: {
    title: 'one 1 ms task at a time from a second app, beside an app whose 200 ms items hold both workers: its wait; 2 workers',
    params: (q) => ({ workers: 2, itemMs: 200, hogLoops: 4, probes: q ? 30 : 100, gapMs: 20, note: q ? 'quick: 30 probes' : undefined }),
    systems: [
      { system: 'corepool', ...node('corepool/longitems.js') },
      { system: 'corepool-no-reserve', ...node('corepool/longitems.js'), params: () => ({ reserve: false }) },
      { system: 'python-pool', ...py('anchors/longitems.py') },
    ],
    goals: [
      // A quarter of one long item: waiting one out (no reserve) is half an item at the median.
      { system: 'corepool', metric: 'wait_p99_ms', op: '<', value: 50, text: 'beside long items: wait p99 < 50 ms (a quarter of an item)' },
    ],
  },

  weights: {
    title: 'apps of weights 1, 2 and 3 side by side: worker time of each against weight 1 while all have work; 2 workers',
    params: (q) => ({
      weights: [1, 2, 3],
      workers: 2,
      itemMs: 5,
      items: q ? 300 : 600,
      slices: 4,
      note: q ? 'quick: 300 items per app' : undefined,
    }),
    systems: [{ system: 'corepool', ...node('corepool/weights.js') }],
    goals: [2, 3].map((w) => ({
      system: 'corepool',
      metric: `ratio_w${w}`,
      op: '>=',
      value: Math.round(7 * w) / 10,
      text: `weight ${w}: >= ${(0.7 * w).toFixed(1)}x the worker time of weight 1`,
    })),
  },

  isolation: {
    title: 'the cost of keeping apps apart on a shared worker: per item, and per switch between two apps, 1 worker',
    params: (q) => ({
      items: q ? 50_000 : 200_000,
      chunks: q ? 1000 : 4000,
      rounds: q ? 2 : 5,
      note: q ? 'quick: 50,000 items, 1,000 chunks' : undefined,
    }),
    systems: [{ system: 'corepool', ...node('corepool/isolation.js') }],
    goals: [],
  },

  cluster: {
    title: 'cluster mode on Redis: 20 ms sleeping items on 1, 2, 3 daemons of 2 workers; recovery after kill -9; Redis per chunk',
    params: (q) => ({
      workers: 2,
      daemonCounts: [1, 2, 3],
      items: q ? 120 : 240,
      sleepMs: 20,
      // Recovery: 1 item per chunk, long enough that the killed daemon is mid-chunk.
      recoveryItems: q ? 24 : 48,
      recoverySleepMs: 250,
      recoveryDeadlineMs: q ? 30_000 : 60_000, // a batch not complete by then fails its check (run.js stops a quick runner at 90 s)
      // Redis per chunk: a map of a known chunk count (items / chunkSize) on 2 daemons.
      costItems: q ? 120 : 240,
      costChunkSize: 2,
      note: q ? 'quick: 120 items per map, 24 in the recovery map' : undefined,
    }),
    systems: [{ system: 'corepool-cluster', ...node('corepool/cluster.js') }],
    goals: [2, 3].map((n) => ({
      system: 'corepool-cluster',
      metric: `scaling_${n}`,
      op: '>=',
      value: 0.9,
      text: `cluster scaling on ${n} daemons >= 0.9x linear`,
    })),
  },

  start: {
    title: '`daemon start` (fresh data dir) to listening with its workers ready; 2 workers',
    params: (q) => ({ workers: 2, starts: q ? 3 : 5, note: q ? 'quick: 3 starts' : undefined }),
    systems: [
      { system: 'corepool', ...node('corepool/start.js') },
      // COREPOOL_BENCH_BEFORE_CLI=<another build's dist/cli.js>: that build too, in the same rounds (before/after on a noisy VM).
      ...(process.env.COREPOOL_BENCH_BEFORE_CLI
        ? [{ system: 'corepool-before', ...node('corepool/start.js'), params: () => ({ cli: process.env.COREPOOL_BENCH_BEFORE_CLI }) }]
        : []),
      { system: 'node-cluster', ...node('anchors/process-start.js'), params: () => ({ kind: 'cluster' }) },
      // The floor of any daemon on corepool's libraries: node:cluster plus loading ws, msgpackr and lmdb, an LMDB env opened, a ws server listening.
      { system: 'node-cluster-deps', ...node('anchors/process-start.js'), params: () => ({ kind: 'deps' }) },
      { system: 'node-e-0', ...node('anchors/process-start.js'), params: () => ({ kind: 'node' }) },
      // Where the environment names extra CA certificates, every Node process (corepool's three, and every floor's) parses them at boot.
      ...(process.env.NODE_EXTRA_CA_CERTS
        ? [{ system: 'node-e-0-no-extra-ca', ...node('anchors/process-start.js'), params: () => ({ kind: 'node', noExtraCa: true }) }]
        : []),
    ],
    goals: [{ system: 'corepool', metric: 'start_ms', op: '<=', value: 250, text: 'start <= 250 ms' }],
  },

  scaling: {
    title: 'trivial at 10k, 100k, 1M items; 1 and 2 workers',
    params: (q) => ({ sizes: [1e4, 1e5, 1e6], workerCounts: [1, 2], warmupSize: q ? 1e5 : 1e6 }),
    systems: [{ system: 'corepool', ...node('corepool/scaling.js') }],
    goals: [],
  },
};

/** cpu: adds `speedup` = sequential wall / this wall for the Node pools of one round. */
/**
 * latency: a `ws+ipc-echo` system whose p50 and p99 are the ws echo's plus the
 * cluster IPC echo's of the same round (the floor of a submit's two hops), and
 * corepool's p99 over its p50.
 */
function deriveLatencyFloor(roundRows) {
  const find = (system, metric) => roundRows.find((r) => r.system === system && r.metric === metric && r.value != null);
  const out = [];
  for (const metric of ['p50_us', 'p99_us']) {
    const ws = find('ws-msgpack-echo', metric);
    const ipc = find('cluster-ipc-echo', metric);
    if (!ws || !ipc) continue;
    out.push({
      scenario: ws.scenario,
      system: 'ws+ipc-echo',
      metric,
      value: ws.value + ipc.value,
      unit: 'us',
      check: ws.check === 'ok' ? ipc.check : ws.check,
      note: 'ws-msgpack-echo + cluster-ipc-echo of the same round: the two hops of a submit',
    });
  }
  const p50 = find('corepool', 'p50_us');
  const p99 = find('corepool', 'p99_us');
  if (p50 && p99 && p50.value > 0)
    out.push({
      scenario: p50.scenario,
      system: 'corepool',
      metric: 'p99_over_p50',
      value: p99.value / p50.value,
      unit: 'x',
      check: p99.check,
    });
  return out;
}

function deriveCpuSpeedup(roundRows) {
  const seq = roundRows.find((r) => r.system === 'sequential' && r.metric === 'wall_ms' && r.value != null);
  if (!seq) return [];
  return roundRows
    .filter((r) => r.metric === 'wall_ms' && r.value != null && r.system !== 'sequential' && !r.system.startsWith('python'))
    .map((r) => ({
      scenario: r.scenario,
      system: r.system,
      metric: 'speedup',
      value: seq.value / r.value,
      unit: 'x',
      check: seq.check === 'ok' ? r.check : `FAIL: sequential check: ${seq.check}`,
      note: 'vs sequential.js in the same round',
    }));
}
