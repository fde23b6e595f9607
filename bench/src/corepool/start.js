// start.js - corepool on `start`: `node apps/daemon/bin/corepool.js daemon
// start --port 0 --workers N --data-dir <fresh tmp>` (what `corepool daemon
// start` runs: the bundled CLI), timed from spawn to its "listening" line,
// `starts` times (median), each on a new data dir.
//
// The daemon prints "listening" only once every worker has said it is ready
// (forked, its modules loaded, able to run a chunk: primary/daemon.ts awaits
// that before it listens). The runner checks it: each start's line must name
// the workers asked for, and a first trivial client.submit right after it must
// be answered correctly; `first_task_ms` times that too (spawn to the first
// answer, the client's own connect included), so a daemon that listened
// before its workers could take work would show there. `cpu_ms` is the CPU
// the primary and its workers had used by the line (less skewed than wall time
// on a busy VM). `cli` (a param) times another build instead.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { procCpuUs } from '../lib/cpu.js';
import { profileArgs } from '../lib/profile.js';
import { check, medianMsRows, nowMs, runMain } from '../lib/harness.js';
import { timeStart } from '../lib/starts.js';
import { double } from '../lib/tasks.js';
import { CLI, connectTo, descendants, loadClient } from './daemon.js';

void runMain(async (p) => {
  await loadClient();
  await startOnce(p); // warm-up: the page cache, and the client's first connect
  const starts = [];
  for (let i = 0; i < p.starts; i++) starts.push(await startOnce(p));
  const bad = starts.filter((s) => s.problem !== undefined);
  const ok = check(bad.length === 0, bad.map((s) => s.problem).join('; '));
  const note =
    `median of ${p.starts} starts, ${p.workers} workers, a fresh data dir each; start_ms: spawn -> "listening" (workers ready), ` +
    'first_task_ms: spawn -> first submit answered, cpu_ms: primary + workers CPU by the line';
  return medianMsRows(
    p,
    starts,
    [
      ['start_ms', 'ms'],
      ['first_task_ms', 'firstTaskMs'],
      ['cpu_ms', 'cpuMs'],
    ],
    ok,
    note,
  );
});

/** One start on a fresh data dir: its times, and what was wrong with it, if anything. */
async function startOnce(p) {
  const dataDir = mkdtempSync(join(tmpdir(), 'corepool-bench-start-'));
  const args = [...profileArgs(), p.cli ?? CLI, 'daemon', 'start', '--port', '0', '--workers', String(p.workers), '--data-dir', dataDir];
  let started;
  let client;
  try {
    const t0 = nowMs();
    started = await timeStart(process.execPath, args, { ready: (line) => line.includes('"event":"listening"') });
    const info = JSON.parse(started.line);
    const pid = info.pid ?? started.child.pid;
    const cpuMs = [pid, ...descendants(pid)].reduce((sum, q) => sum + procCpuUs(q), 0) / 1000;
    client = await connectTo({ url: info.url, token: info.token ?? readToken(info.tokenFile ?? join(dataDir, 'token')) });
    const r = await client.submit(double, 21);
    const firstTaskMs = nowMs() - t0;
    const status = await client.status();
    // The reserve worker is forked after "listening".
    const serving = status.workers.filter((w) => w.reserve !== true).length;
    const problem =
      info.workers !== p.workers
        ? `the listening line says ${info.workers} workers`
        : r !== 42
          ? `first submit gave ${r}`
          : serving !== p.workers
            ? `status lists ${serving} workers besides the reserve`
            : undefined;
    return { ms: started.ms, firstTaskMs, cpuMs, problem };
  } finally {
    await client?.close().catch(() => {});
    await started?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** The daemon's token: the listening line names its file, never the token. */
function readToken(file) {
  return readFileSync(file, 'utf8').trim();
}
