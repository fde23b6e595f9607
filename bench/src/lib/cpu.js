// cpu.js - CPU time spent by a process, to say per operation where a
// scenario's time goes (a client's share, the server's share) next to its
// throughput: on 2 cores shared by 5 processes, CPU per operation is what
// bounds ops/s.

import { readFileSync } from 'node:fs';

/** Microseconds of CPU (user + system) this process has used. */
export function selfCpuUs() {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Microseconds of CPU (user + system) another process has used, from /proc (Linux; NaN elsewhere). */
export function procCpuUs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th fields.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1e6) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/** USER_HZ: 100 on every Linux the bench runs on (getconf CLK_TCK). */
const CLOCK_TICKS = 100;

/** Rows for CPU per operation: each app process's mean, and the server's. */
export function cpuRows(base, { clientUs, serverUs, ops }) {
  const rows = [{ ...base, metric: 'client_cpu_us', value: clientUs / ops, unit: 'us/op' }];
  if (Number.isFinite(serverUs)) rows.push({ ...base, metric: 'server_cpu_us', value: serverUs / ops, unit: 'us/op' });
  return rows;
}

/**
 * CPU (user + system, microseconds) of this process, a server and its workers, read together: two reads
 * around the timed runs give `cpuSplitRows` where a batch's CPU went, process by process.
 */
export function cpuSplit(serverPid, workerPids) {
  return { client: selfCpuUs(), server: procCpuUs(serverPid), workers: workerPids.reduce((sum, pid) => sum + procCpuUs(pid), 0) };
}

/** Rows of CPU per run (ms) for the client, the server and all its workers together, between two cpuSplit reads. */
export function cpuSplitRows(base, before, after, runs) {
  return ['client', 'server', 'workers'].map((k) => ({
    ...base,
    metric: `${k}_cpu_ms`,
    value: (after[k] - before[k]) / 1000 / runs,
    unit: 'ms',
  }));
}
