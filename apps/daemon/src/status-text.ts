/**
 * status-text.ts - `corepool daemon status` as a person reads it: the daemon's
 * status (what `--json` prints whole) as lines, the newest errors, and the
 * cluster's daemons in cluster mode.
 */
import type { DaemonStatus } from '@corepool/protocol';
import { printable } from './printable.js';

/** Recent errors the text status shows (--json has them all). */
const RECENT_SHOWN = 5;

/** A worker's optional figures, as a status line's tail. */
function workerFigures(w: DaemonStatus['workers'][number]): string {
  let out = '';
  if (w.rss !== undefined) out += `  rss ${(w.rss / 1048576).toFixed(0)} MB`;
  if (w.cpu !== undefined) out += `  cpu ${(w.cpu * 100).toFixed(0)}%`;
  if (w.client !== undefined) out += `  running ${printable(w.client) || '-'} batch ${w.batch ?? '?'}`;
  if (w.lastRestart !== undefined)
    out += `  last restart: ${w.lastRestart.cause} ${((Date.now() - w.lastRestart.at) / 1000).toFixed(0)} s ago`;
  return out;
}

/** One worker's status line. */
function workerLine(w: DaemonStatus['workers'][number]): string {
  return `  pid ${w.pid}  ${w.busy ? 'busy' : 'idle'}  tasks ${w.tasksDone}  chunks ${w.chunksDone}${workerFigures(w)}${w.generation === undefined ? '' : `  gen ${w.generation}`}${w.initError === undefined ? '' : `  INIT FAILED: ${printable(w.initError.split('\n')[0]!)}`}`;
}

/** Bytes as MiB for status lines; Infinity (no bound) as "unbounded". */
function mib(n: number): string {
  return Number.isFinite(n) ? `${(n / 1048576).toFixed(1)} MiB` : 'unbounded';
}

/** The status as the text `daemon status` prints. */
export function formatStatus(s: DaemonStatus): string {
  const lines = [
    `corepool ${s.version}  pid ${s.pid}  ${s.url}  up ${(s.uptimeMs / 1000).toFixed(0)} s`,
    `throughput ${s.throughput} items/s (last 5 s)  done ${s.itemsDone}  queued ${s.queuedItems}  running ${s.runningItems}  worker restarts ${s.workerRestarts}` +
      (s.latency === undefined ? '' : `  latency p50 ${s.latency.p50Ms} ms p99 ${s.latency.p99Ms} ms`),
    `state: ${s.values} values, ${s.queues} queues, ${s.dicts} dicts, ${s.locks} locks; waiting: ${s.blockedGets ?? 0} queue gets, ${s.lockWaiters ?? 0} lock acquires` +
      (s.stateBytes === undefined
        ? ''
        : `; memory ${mib(s.stateBytes)} of ${mib(s.maxStateBytes ?? Infinity)}, connections' entries ${mib(s.stateEntryBytes ?? 0)}, kept replies ${mib(s.stateReplyBytes ?? 0)}`),
    `workers (${s.workers.length}):`,
    ...s.workers.map(workerLine),
    ...(s.reserveWorkers === undefined ? [] : [`reserve workers (${s.reserveWorkers.length}):`, ...s.reserveWorkers.map(workerLine)]),
    ...(s.reload === undefined
      ? []
      : [`reloading: ${s.reload.replaced}/${s.reload.total} workers replaced (generation ${s.reload.generation})`]),
    `clients (${s.clients.length}):`,
    ...s.clients.map(
      (c) =>
        `  #${c.id} ${printable(c.name) || '-'}  batches ${c.batches}  queued chunks ${c.queuedChunks}  running chunks ${c.runningChunks}` +
        (c.share === undefined ? '' : `  share ${(c.share * 100).toFixed(0)}%`) +
        (c.itemsDone === undefined ? '' : `  done ${c.itemsDone}`) +
        (c.primaryMs === undefined ? '' : `  primary ${c.primaryMs} ms`),
    ),
  ];
  const errors = s.recentErrors ?? [];
  if (errors.length > 0) {
    lines.push(`recent errors (${Math.min(errors.length, RECENT_SHOWN)} of ${errors.length}, newest last):`);
    for (const e of errors.slice(-RECENT_SHOWN)) {
      const when = new Date(e.at).toISOString().slice(11, 19);
      const times = e.repeats === undefined ? '' : ` x${e.repeats}`;
      lines.push(
        `  ${when} ${e.code}${times}${e.client === undefined ? '' : ` [${printable(e.client)}]`} ${printable(e.message).slice(0, 120)}`,
      );
    }
  }
  if (s.cluster !== undefined) {
    const c = s.cluster;
    lines.push(`cluster ${c.name} on ${c.redis}  this daemon: ${c.id}`, `daemons (${c.daemons.length}):`);
    for (const d of c.daemons) {
      const ago = ((Date.now() - d.lastHeartbeat) / 1000).toFixed(1);
      lines.push(
        `  ${d.id}${d.id === c.id ? ' (this)' : ''}  ${d.url}  pid ${d.pid}  workers ${d.busy} busy / ${d.idle} idle  heartbeat ${ago} s ago${d.alive ? '' : '  LEASE LAPSED'}`,
        ...d.clients.map((cl) => `    ${cl.name || '-'}  queued chunks ${cl.queuedChunks}  running chunks ${cl.runningChunks}`),
      );
    }
  }
  return lines.join('\n');
}
