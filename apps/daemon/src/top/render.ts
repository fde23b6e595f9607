/**
 * `corepool top`'s screen as plain text: a pure function of the daemon's
 * status, the figures kept over time and the terminal's size, so it is tested
 * at any width without a terminal. Each line fits the width; tables drop their
 * least useful columns first when it is narrow, and lists end with "… N more"
 * when the height is short. A figure an older daemon does not send shows "–".
 */
import type { ClientStatus, DaemonStatus, WorkerStatus } from '@corepool/protocol';

import { printable } from '../printable.js';

/** What top keeps between refreshes: one sample per refresh, oldest first. */
export interface TopHistory {
  /** Items per second. */
  throughput: number[];
  /** p99 chunk round trip in ms (absent samples: the daemon does not report latency). */
  p99: number[];
}

export interface TopFrame {
  /** Absent until the first status arrives. */
  status?: DaemonStatus | undefined;
  history: TopHistory;
  /** Said on the lines below the header: why the figures are stale ("reconnecting …", then the error). */
  notice?: string | undefined;
  width: number;
  height: number;
  /** The wall clock (ms since the epoch), for ages. */
  now: number;
}

export const DASH = '–';
const SPARKS = '▁▂▃▄▅▆▇█';

/** The screen, one string per line, none wider than `width`, at most `height` lines. */
export function renderTop(f: TopFrame): string[] {
  const width = Math.max(20, f.width);
  const height = Math.max(5, f.height);
  const s = f.status;
  const top: string[] = [];
  top.push(
    s === undefined ? 'corepool top' : `corepool top  pid ${s.pid}  ${s.url}  v${s.version}  up ${duration(s.uptimeMs)}  ${clock(f.now)}`,
  );
  if (f.notice !== undefined) top.push(...f.notice.split('\n').map((l, i) => (i === 0 ? `! ${l}` : `  ${l}`)));
  if (s === undefined) {
    top.push('', 'waiting for the daemon…');
    return fit([...top, ...footer()], width, height);
  }
  top.push(
    `items done ${s.itemsDone}  queued ${s.queuedItems}  running ${s.runningItems}  ` +
      `worker restarts ${s.workerRestarts}  clients ${s.clients.length}`,
  );
  const lat = s.latency;
  top.push(
    `throughput ${s.throughput}/s  latency p50 ${lat === undefined ? DASH : ms(lat.p50Ms)}  p99 ${lat === undefined ? DASH : ms(lat.p99Ms)}`,
  );
  const sparkWidth = Math.max(0, Math.min(60, width - 16));
  top.push(`items/s    ${sparkline(f.history.throughput.slice(-sparkWidth), sparkWidth)}`);
  if (f.history.p99.length > 0) top.push(`p99 ms     ${sparkline(f.history.p99.slice(-sparkWidth), sparkWidth)}`);

  const reserve = s.reserveWorkers ?? [];
  const workers = table(WORKER_COLUMNS, [...s.workers, ...reserve], width, f.now);
  const clients = table(CLIENT_COLUMNS, s.clients, width, f.now);
  const cluster = clusterLines(s, f.now);
  const errors = (s.recentErrors ?? [])
    .slice(-3)
    .map((e) => printable(`  ${clock(e.at)} ${e.code}${e.client === undefined ? '' : ` (${e.client})`}: ${e.message}`));

  // Rows left for the lists once the fixed lines are placed; workers get theirs first.
  const fixed = top.length + 2 /* blank + workers title */ + 1 /* header */ + 2 + 1 + (cluster.length > 0 ? 1 : 0) + footer().length;
  let room = height - fixed - (errors.length > 0 ? errors.length + 2 : 0);
  const workerRows = Math.max(1, Math.min(workers.rows.length, room - Math.min(clients.rows.length, 3) - cluster.length));
  room -= workerRows;
  const clientRows = Math.max(1, Math.min(clients.rows.length, room - cluster.length));
  room -= clientRows;

  const out = [
    ...top,
    '',
    `WORKERS (${s.workers.length}${reserve.length === 0 ? '' : ` + ${reserve.length} reserve`})`,
    workers.header,
    ...clip(workers.rows, workerRows),
  ];
  out.push('', `CLIENTS (${s.clients.length})`);
  if (s.clients.length === 0) out.push('  (no client connected)');
  else out.push(clients.header, ...clip(clients.rows, clientRows));
  if (cluster.length > 0) out.push('', ...clip(cluster, Math.max(1, room)));
  if (errors.length > 0) out.push('', 'RECENT ERRORS', ...errors);
  return fit([...out, ...footer()], width, height);
}

function footer(): string[] {
  return ['', 'q quit'];
}

/** A column of a table: its title, its cell text, its width (or the text's), and whether it goes first when narrow. */
interface Column<R> {
  title: string;
  cell(r: R, now: number): string;
  width: number;
  /** Lower goes first when the terminal is narrow (1: always shown). */
  keep: number;
  right?: boolean;
}

const WORKER_COLUMNS: Column<WorkerStatus>[] = [
  { title: 'ID', cell: (w) => String(w.id), width: 4, keep: 1, right: true },
  { title: 'PID', cell: (w) => String(w.pid), width: 8, keep: 1, right: true },
  // A reserve worker (--reserve-workers) says so while it waits: it is idle on purpose.
  { title: 'STATE', cell: (w) => (w.busy ? 'busy' : w.reserve === true ? 'reserve' : 'idle'), width: 7, keep: 1 },
  { title: 'ITEMS', cell: (w) => String(w.tasksDone), width: 9, keep: 1, right: true },
  { title: 'CPU', cell: (w) => (w.cpu === undefined ? DASH : `${Math.round(w.cpu * 100)}%`), width: 5, keep: 2, right: true },
  { title: 'RSS', cell: (w) => (w.rss === undefined ? DASH : bytes(w.rss)), width: 8, keep: 2, right: true },
  { title: 'CLIENT', cell: (w) => w.client ?? DASH, width: 16, keep: 3 },
  { title: 'BATCH', cell: (w) => (w.batch === undefined ? DASH : String(w.batch)), width: 7, keep: 4, right: true },
  { title: 'RESTARTS', cell: (w) => String(w.restarts), width: 8, keep: 3, right: true },
  { title: 'CHUNKS', cell: (w) => String(w.chunksDone), width: 8, keep: 5, right: true },
  {
    title: 'LAST RESTART',
    cell: (w, now) => (w.lastRestart === undefined ? DASH : `${w.lastRestart.cause} ${duration(now - w.lastRestart.at)} ago`),
    width: 30,
    keep: 6,
  },
];

const CLIENT_COLUMNS: Column<ClientStatus>[] = [
  { title: 'ID', cell: (c) => String(c.id), width: 4, keep: 1, right: true },
  { title: 'NAME', cell: (c) => c.name || DASH, width: 20, keep: 1 },
  { title: 'BATCHES', cell: (c) => String(c.batches), width: 7, keep: 2, right: true },
  { title: 'QUEUED', cell: (c) => String(c.queuedChunks), width: 7, keep: 1, right: true },
  { title: 'RUNNING', cell: (c) => String(c.runningChunks), width: 7, keep: 1, right: true },
  { title: 'SHARE', cell: (c) => (c.share === undefined ? DASH : `${Math.round(c.share * 100)}%`), width: 6, keep: 2, right: true },
  { title: 'WEIGHT', cell: (c) => (c.weight === undefined ? DASH : String(c.weight)), width: 6, keep: 3, right: true },
  { title: 'ITEMS', cell: (c) => (c.itemsDone === undefined ? DASH : String(c.itemsDone)), width: 9, keep: 4, right: true },
  {
    title: 'SEND BUF',
    cell: (c) => (c.sendBuffered === undefined ? DASH : bytes(c.sendBuffered)),
    width: 8,
    keep: 5,
    right: true,
  },
];

/** The columns that fit `width` (by `keep`, in their own order), as a header and rows. */
function table<R>(columns: Column<R>[], rows: R[], width: number, now: number): { header: string; rows: string[] } {
  const byKeep = [...columns].sort((a, b) => a.keep - b.keep);
  const shown = new Set<Column<R>>();
  let used = 2; // indent
  for (const c of byKeep) {
    if (used + c.width + 1 > width && shown.size > 0) break;
    shown.add(c);
    used += c.width + 1;
  }
  const cols = columns.filter((c) => shown.has(c));
  const line = (cells: string[]): string => `  ${cells.map((t, i) => pad(t, cols[i]!.width, cols[i]!.right === true)).join(' ')}`.trimEnd();
  return {
    header: line(cols.map((c) => c.title)),
    rows: rows.map((r) => line(cols.map((c) => c.cell(r, now)))),
  };
}

function clusterLines(s: DaemonStatus, now: number): string[] {
  const c = s.cluster;
  if (c === undefined) return [];
  return [
    `CLUSTER ${c.name} on ${c.redis} (${c.daemons.length} daemons)`,
    ...c.daemons.map(
      (d) =>
        `  ${d.id === c.id ? '*' : ' '} ${d.host} pid ${d.pid}  ${d.url}  workers ${d.busy} busy / ${d.idle} idle  ` +
        `beat ${duration(Math.max(0, now - d.lastHeartbeat))} ago${d.alive ? '' : '  LEASE LAPSED'}`,
    ),
  ];
}

/** A sparkline of `values` in `width` cells, scaled to their maximum (blank cells before the first sample). */
export function sparkline(values: number[], width: number): string {
  if (width <= 0) return '';
  const v = values.slice(-width);
  const max = Math.max(0, ...v);
  const cells = v.map((x) => (max === 0 ? SPARKS[0]! : SPARKS[Math.min(SPARKS.length - 1, Math.round((x / max) * (SPARKS.length - 1)))]!));
  return ' '.repeat(width - v.length) + cells.join('');
}

function clip(rows: string[], n: number): string[] {
  if (rows.length <= n) return rows;
  return [...rows.slice(0, Math.max(0, n - 1)), `  … ${rows.length - n + 1} more`];
}

/** Lines cut to `width` and to `height` lines (the footer kept last). */
function fit(lines: string[], width: number, height: number): string[] {
  const cut = lines.map((l) => (l.length > width ? `${l.slice(0, width - 1)}…` : l));
  if (cut.length <= height) return cut;
  return [...cut.slice(0, height - 1), cut[cut.length - 1]!];
}

function pad(cell: string, width: number, right: boolean): string {
  // Names and errors come from apps: no control character reaches the terminal.
  const text = printable(cell);
  const t = text.length > width ? `${text.slice(0, width - 1)}…` : text;
  return right ? t.padStart(width) : t.padEnd(width);
}

function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(0)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(0)} MB`;
  return `${(n / 1024 ** 3).toFixed(1)} GB`;
}

function ms(n: number): string {
  return n < 10 ? `${n.toFixed(1)} ms` : `${Math.round(n)} ms`;
}

function duration(msLeft: number): string {
  const s = Math.floor(msLeft / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor(s / 3600) % 24).padStart(2, '0')}h`;
}

function clock(at: number): string {
  return new Date(at).toTimeString().slice(0, 8);
}
