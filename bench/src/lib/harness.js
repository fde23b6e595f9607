// harness.js - what every benchmark runner shares: its parameters, its clock,
// percentiles, and the one line of JSON it hands back to run.js.
//
// A runner is started by run.js as `node <runner> '<json params>'`, does its
// own warm-up, measures once, and prints exactly one line
// `@@ROWS [{ scenario, system, metric, value, unit, check?, note?, error? }]`.
// A runner that throws still prints that line, with an error row, so one
// broken system never hides the others.

import { doubledSum, heavyExpected } from './tasks.js';

export const ROWS_MARKER = '@@ROWS ';

/** The JSON object run.js passed as the first argument (or {}). */
export function readParams() {
  const raw = process.argv[2];
  return raw ? JSON.parse(raw) : {};
}

/** Prints the rows line run.js looks for. */
export function emitRows(rows) {
  process.stdout.write(`${ROWS_MARKER}${JSON.stringify(rows)}\n`);
}

/**
 * Runs `body(params)` (which returns rows), prints them, and exits. On a throw
 * it prints one error row for the scenario/system instead.
 */
export async function runMain(body) {
  let params = {};
  try {
    params = readParams();
    const rows = await body(params);
    emitRows(rows);
    process.exit(0);
  } catch (err) {
    emitRows([errorRow(params.scenario ?? '?', params.system ?? '?', err)]);
    process.exit(1);
  }
}

/** The row a failed runner reports: value null, the error's message kept. */
export function errorRow(scenario, system, err) {
  const message = err instanceof Error ? err.message : String(err);
  return { scenario, system, metric: 'error', value: null, unit: '', error: message.split('\n').slice(0, 4).join(' | ') };
}

/** Microseconds on CLOCK_MONOTONIC: comparable between processes on Linux. */
export function nowUs() {
  return Number(process.hrtime.bigint()) / 1000;
}

/** Milliseconds on the same monotonic clock. */
export function nowMs() {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Nearest-rank percentile (p in 0..100) of an unsorted array of numbers. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1];
}

/** The p50_us and p99_us rows of a runner's timed samples (microseconds), each with the runner's check and note. */
export function percentileRows(p, lat, checked, note) {
  return [50, 99].map((q) => ({
    scenario: p.scenario,
    system: p.system,
    metric: `p${q}_us`,
    value: percentile(lat, q),
    unit: 'us',
    check: checked,
    note,
  }));
}

/** Median of an array of numbers (NaN when empty). */
export function median(values) {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** 'ok' when cond holds, else 'FAIL: <what>' (a failed check is never dropped). */
export function check(cond, what) {
  return cond ? 'ok' : `FAIL: ${what}`;
}

/**
 * The check of a `cpu` run: `p.tasks` sums of heavy({ n, iters }), each its closed form.
 * @param {unknown[]} out
 * @param {{ tasks: number, n: number, iters: number }} p
 */
export function checkHeavy(out, p) {
  const want = heavyExpected(p.n, p.iters);
  return check(out.length === p.tasks && out.every((v) => v === want), `sums ${out.slice(0, 2)}..., want ${want}`);
}

/**
 * Times p.timed runs (1 by default) of `run(input)`, each answering 0..p.items-1 doubled, with
 * `input` made before its run's clock starts: the median wall (ms), how many runs, and the first
 * failed check ('ok' if none).
 * @template I
 * @param {{ items: number, timed?: number }} p
 * @param {(input: I) => Promise<number[]>} run
 * @param {() => I} [input]
 */
export async function timeDoubledRuns(p, run, input = () => /** @type {I} */ (undefined)) {
  const walls = [];
  let ok = 'ok';
  for (let r = 0; r < (p.timed ?? 1); r++) {
    const made = input();
    const t0 = nowMs();
    const out = await run(made);
    walls.push(nowMs() - t0);
    let sum = 0;
    for (const v of out) sum += v;
    if (ok === 'ok') ok = check(out.length === p.items && sum === doubledSum(p.items), `sum ${sum}`);
  }
  return { wall: median(walls), runs: walls.length, ok };
}

/** Resolves after ms milliseconds. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Busy-waits ms milliseconds (keeps a core hot; used to settle a fresh process). */
export function spin(ms) {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    /* spin */
  }
}

/** Concatenates arrays of results (Array.prototype.flat is ~4x slower on 1M items). */
export function concat(arrays, total) {
  const out = new Array(total);
  let k = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) out[k++] = a[i];
  out.length = k;
  return out;
}

/**
 * `warmup` then `count` timed steps, one at a time, through one code path:
 * step(i) resolves to its sample, which goes to lat[i % count], so the last
 * `count` (the timed ones) are what is left. A separate timed loop, or a
 * branch taken from the first timed step on, was code V8 met only then: it
 * deoptimised and recompiled the runner's loop inside the timed window
 * (10.9 ms of TurboFan on a helper thread, measured with --trace-opt in the
 * notify runner), which on 2 cores delays the samples beside it.
 */
export async function timeSteps(warmup, count, step) {
  const lat = new Float64Array(count);
  for (let i = 0; i < warmup + count; i++) lat[i % count] = await step(i);
  return lat;
}

/**
 * The echo anchors' timing: `warmup` then `count` sequential round trips of
 * call(i, i), each reply checked to be { id: i, value: 2i }. Resolves to the
 * latencies (us) of the timed ones and how many replies were wrong.
 */
export async function timeEchoes(call, warmup, count) {
  let bad = 0;
  const lat = await timeSteps(warmup, count, async (i) => {
    const t0 = nowUs();
    const reply = await call(i, i);
    const us = nowUs() - t0;
    if (reply.id !== i || reply.value !== 2 * i) bad++;
    return us;
  });
  return { lat, bad };
}

/** One row per [metric, key]: the median over `samples` of sample[key], in ms. */
export function medianMsRows(p, samples, metrics, checked, note) {
  return metrics.map(([metric, key]) => ({
    scenario: p.scenario,
    system: p.system,
    metric,
    value: median(samples.map((s) => s[key])),
    unit: 'ms',
    check: checked,
    note,
  }));
}
