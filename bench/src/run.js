// run.js - `npm run bench`: every scenario for corepool and its anchors,
// interleaved round by round, each runner in its own process; prints medians
// [min-max], corepool/anchor ratios and the goals, and writes
// bench/results/latest.json.
//
//   node bench/src/run.js [--quick] [--rounds N] [--only cpu,latency,...] [--verbose]
//
// --quick: 1 round (each runner still warms up first) and smaller sizes where
// the metric stays meaningful (rows say so in `note`); under a minute.

import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import { ROWS_MARKER, errorRow, median } from './lib/harness.js';
import { SCENARIOS } from './scenarios.js';

const SRC = dirname(fileURLToPath(import.meta.url));
const RESULTS = join(SRC, '..', 'results', 'latest.json');
const LOWER_IS_BETTER = /(_us|_ms|^rss_mb|^kb_)/;

function parseArgs(argv) {
  const opts = { quick: false, rounds: null, only: null, verbose: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--verbose') opts.verbose = true;
    else if (a === '--rounds' || a.startsWith('--rounds=')) {
      const v = a.includes('=') ? a.split('=')[1] : argv[++i];
      opts.rounds = Number(v);
      if (!Number.isInteger(opts.rounds) || opts.rounds < 1) throw new RangeError('--rounds must be a positive integer');
    } else if (a === '--only' || a.startsWith('--only=')) {
      const v = a.includes('=') ? a.split('=')[1] : argv[++i];
      opts.only = String(v ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const unknown = opts.only.filter((s) => !SCENARIOS[s]);
      if (unknown.length) throw new RangeError(`unknown scenario(s): ${unknown.join(', ')} (known: ${Object.keys(SCENARIOS).join(', ')})`);
    } else if (a === '--help' || a === '-h') {
      console.log('usage: node bench/src/run.js [--quick] [--rounds N] [--only scenario,...] [--verbose]');
      console.log(`scenarios: ${Object.keys(SCENARIOS).join(', ')}`);
      process.exit(0);
    } else throw new RangeError(`unknown option ${a}`);
  }
  opts.rounds ??= opts.quick ? 1 : 5;
  return opts;
}

/** Runs one runner in its own process group; resolves with its rows (an error row if it printed none). */
function runRunner(scenario, sys, params, timeoutMs, verbose) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const child = spawn(sys.cmd, [join(SRC, sys.file), JSON.stringify(params)], {
      cwd: join(SRC, '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' }, // no __pycache__ in the tree
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      err = (err + d).slice(-20_000);
      if (verbose) process.stderr.write(d);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, timeoutMs);
    const finish = (code, signal, spawnError) => {
      clearTimeout(timer);
      // A runner's helpers (daemon, forked clients) share its process group.
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* all gone */
      }
      const secs = (performance.now() - t0) / 1000;
      const line = out
        .split('\n')
        .reverse()
        .find((l) => l.startsWith(ROWS_MARKER));
      let rows = null;
      if (line) {
        try {
          rows = JSON.parse(line.slice(ROWS_MARKER.length));
        } catch (e) {
          rows = [errorRow(scenario, sys.system, new Error(`bad rows line: ${e.message}`))];
        }
      }
      if (!rows || rows.length === 0) {
        const why = spawnError
          ? spawnError.message
          : timedOut
            ? `timed out after ${timeoutMs / 1000} s`
            : `exited (code ${code}, signal ${signal}) without rows${err ? `: ${err.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
        rows = [errorRow(scenario, sys.system, new Error(why))];
      }
      for (const r of rows) {
        r.scenario ??= scenario;
        r.system ??= sys.system;
        if (params.note && !(r.note ?? '').includes(params.note)) r.note = r.note ? `${r.note}; ${params.note}` : params.note;
      }
      resolve({ rows, secs });
    };
    child.on('error', (e) => finish(null, null, e));
    child.on('close', (code, signal) => finish(code, signal));
  });
}

/** Groups per-round rows into one summary row per (system, metric). */
function summarize(scenario, allRows) {
  const groups = new Map();
  for (const r of allRows) {
    const key = `${r.system}\u0000${r.metric}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  const out = [];
  for (const rows of groups.values()) {
    const first = rows[0];
    if (first.metric === 'error') {
      const errors = [...new Set(rows.map((r) => r.error))];
      out.push({ scenario, system: first.system, metric: 'error', value: null, unit: '', error: errors.join(' || '), rounds: rows.length });
      continue;
    }
    const values = rows.map((r) => r.value).filter((v) => typeof v === 'number' && Number.isFinite(v));
    const fails = [...new Set(rows.map((r) => r.check ?? 'ok').filter((c) => c !== 'ok'))];
    const row = {
      scenario,
      system: first.system,
      metric: first.metric,
      value: median(values),
      unit: first.unit,
      min: Math.min(...values),
      max: Math.max(...values),
      rounds: rows.length,
      samples: values,
      check: fails.length ? fails.join(' || ') : 'ok',
    };
    if (first.note) row.note = first.note;
    if ('final' in first) row.final = rows.map((r) => r.final);
    out.push(row);
  }
  return out;
}

/** corepool/anchor ratio rows for every metric both report (same scenario). */
function ratios(scenario, summary) {
  const out = [];
  const core = summary.filter((r) => r.system === 'corepool' && r.metric !== 'error');
  for (const c of core) {
    for (const a of summary) {
      if (a.system === 'corepool' || a.metric !== c.metric || !(a.value > 0) || !Number.isFinite(c.value)) continue;
      if (c.unit === 'count') continue; // final values are checks, not figures
      if (c.unit === 'ms' && a.system.startsWith('python')) continue; // cross-language times are not comparable

      out.push({
        scenario,
        system: `corepool/${a.system}`,
        metric: c.metric,
        value: c.value / a.value,
        unit: 'ratio',
        lowerIsBetter: LOWER_IS_BETTER.test(c.metric),
      });
    }
  }
  return out;
}

/** Evaluates a scenario's goals against the summary: one row each, pass true/false. */
function goals(scenario, def, summary) {
  return (def.goals ?? []).map((g) => {
    const matches = summary.filter(
      (r) => r.system === g.system && (g.metric instanceof RegExp ? g.metric.test(r.metric) : r.metric === g.metric),
    );
    const row = { scenario, system: 'goal', metric: g.text, value: null, unit: '', pass: false };
    if (matches.length === 0) {
      const err = summary.find((r) => r.system === g.system && r.metric === 'error');
      row.reason = `no ${g.system} figure${err ? ' (runner error, see its row)' : ''}`;
      return row;
    }
    const cmp = (x, y) => ({ '>=': x >= y, '<=': x <= y, '<': x < y, '>': x > y })[g.op];
    const failedCheck = matches.find((m) => m.check !== 'ok');
    if (g.anchor) {
      const c = matches[0];
      const a = summary.find((r) => r.system === g.anchor && r.metric === c.metric);
      if (!a || !(a.value > 0)) {
        row.reason = `no ${g.anchor} figure`;
        return row;
      }
      row.value = c.value / a.value;
      row.unit = `x ${g.anchor}`;
      row.pass = cmp(row.value, g.ratio) && !failedCheck && a.check === 'ok';
      row.reason = `${c.metric}: corepool ${fmt(c.value)} vs ${g.anchor} ${fmt(a.value)} ${c.unit}, needs ${g.op} ${g.ratio}x`;
    } else {
      const worst = matches.reduce(
        (w, m) => (w === null || !cmp(m.value, g.value) || (g.op.startsWith('<') ? m.value > w.value : m.value < w.value) ? m : w),
        null,
      );
      row.value = worst.value;
      row.unit = worst.unit;
      row.pass = matches.every((m) => cmp(m.value, g.value)) && !failedCheck;
      row.reason = `${worst.metric} = ${fmt(worst.value)} ${worst.unit}, needs ${g.op} ${g.value}`;
    }
    if (failedCheck) row.reason += `; check failed: ${failedCheck.check}`;
    return row;
  });
}

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs >= 1e6) return `${(v / 1e6).toFixed(2)}M`;
  if (abs >= 1e4) return `${(v / 1e3).toFixed(1)}k`;
  if (abs >= 100) return v.toFixed(0);
  if (abs >= 10) return v.toFixed(1);
  return v.toFixed(abs >= 1 ? 2 : 3);
}

function printScenario(name, def, summary, ratioRows, goalRows) {
  console.log(`\n== ${name}: ${def.title}`);
  const lines = [['system', 'metric', 'median', '[min-max]', 'unit', 'corepool/this', 'check / goal']];
  for (const r of summary) {
    if (r.metric === 'error') {
      lines.push([r.system, 'ERROR', '', '', '', '', r.error.slice(0, 160)]);
      continue;
    }
    const ratio = ratioRows.find((x) => x.system === `corepool/${r.system}` && x.metric === r.metric);
    const goal = goalRows.find((g) => g.sourceSystem === r.system && g.sourceMetric === r.metric);
    const range = r.rounds > 1 ? `[${fmt(r.min)}-${fmt(r.max)}]` : '';
    const notes = [r.check === 'ok' ? 'ok' : `CHECK ${r.check}`];
    if (goal) notes.push(`goal ${goal.metric}: ${goal.pass ? 'PASS' : 'FAIL'}`);
    lines.push([
      r.system,
      r.metric,
      fmt(r.value),
      range,
      r.unit,
      ratio ? `${fmt(ratio.value)}x${ratio.lowerIsBetter ? ' (lower=better)' : ''}` : '',
      notes.join('; '),
    ]);
  }
  const widths = lines[0].map((_, i) => Math.max(...lines.map((l) => String(l[i]).length)));
  for (const l of lines) console.log('  ' + l.map((c, i) => (i === l.length - 1 ? c : String(c).padEnd(widths[i]))).join('  '));
  for (const g of goalRows) console.log(`  GOAL ${g.metric}: ${g.pass ? 'PASS' : 'FAIL'} (${g.reason})`);
  const notes = [...new Set(summary.filter((r) => r.note).map((r) => `${r.system}: ${r.note}`))];
  for (const n of notes) console.log(`  - ${n}`);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const names = opts.only ?? Object.keys(SCENARIOS);
  const started = performance.now();
  console.log(`corepool bench: ${opts.quick ? 'quick, ' : ''}${opts.rounds} round(s), scenarios: ${names.join(', ')}`);
  console.log(
    `machine: ${os.cpus().length} x ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.type()} ${os.release()}, Node ${process.version}, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const results = [];
  const printed = [];
  for (const name of names) {
    const def = SCENARIOS[name];
    const shared = def.params(opts.quick);
    const roundRows = [];
    for (let round = 1; round <= opts.rounds; round++) {
      const thisRound = [];
      for (const sys of def.systems) {
        const params = { ...shared, ...(sys.params?.(opts.quick) ?? {}), scenario: name, system: sys.system, round };
        const timeoutMs = (opts.quick ? 90 : 600) * 1000;
        const { rows, secs } = await runRunner(name, sys, params, timeoutMs, opts.verbose);
        const status = rows.some((r) => r.metric === 'error')
          ? `ERROR ${rows.find((r) => r.metric === 'error').error.slice(0, 100)}`
          : rows.some((r) => r.check && r.check !== 'ok')
            ? 'CHECK FAILED'
            : 'ok';
        console.log(`  [${name} ${round}/${opts.rounds}] ${sys.system.padEnd(16)} ${secs.toFixed(1).padStart(5)} s  ${status}`);
        thisRound.push(...rows);
      }
      roundRows.push(...thisRound, ...(def.derive?.(thisRound) ?? []));
    }
    const order = (sys) => {
      const i = def.systems.findIndex((x) => x.system === sys);
      return i < 0 ? def.systems.length : i;
    };
    const summary = summarize(name, roundRows).sort((a, b) => order(a.system) - order(b.system));
    const ratioRows = ratios(name, summary);
    const goalRows = goals(name, def, summary).map((g, i) => {
      // Where to print the goal in the table: the anchor's row (relative) or corepool's (absolute).
      const spec = def.goals[i];
      const metricName = spec.metric instanceof RegExp ? null : spec.metric;
      return { ...g, sourceSystem: spec.anchor ?? spec.system, sourceMetric: metricName };
    });
    printed.push([name, def, summary, ratioRows, goalRows]);
    printScenario(name, def, summary, ratioRows, goalRows);
    results.push(...summary, ...ratioRows, ...goalRows.map(({ sourceSystem, sourceMetric, ...g }) => g));
  }

  console.log(`\n== goals (corepool)`);
  for (const [, , , , goalRows] of printed) {
    for (const g of goalRows) console.log(`  ${g.pass ? 'PASS' : 'FAIL'}  ${g.metric.padEnd(40)} ${g.reason}`);
  }
  const failedChecks = results.filter((r) => r.check && r.check !== 'ok');
  const errors = results.filter((r) => r.metric === 'error');
  console.log(
    `\n${failedChecks.length} failed check(s), ${errors.length} runner error(s); ${((performance.now() - started) / 1000).toFixed(1)} s total; load average now ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')} (a busy machine skews every figure)`,
  );
  mkdirSync(dirname(RESULTS), { recursive: true });
  writeFileSync(RESULTS, JSON.stringify(results, null, 2) + '\n');
  console.log(`wrote ${RESULTS}`);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(2);
});
