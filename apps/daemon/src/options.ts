/**
 * Daemon options: defaults in one place, validated once, with the reason in
 * every error. The CLI parses flags (commander); this file decides what they mean.
 */
import { availableParallelism, homedir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import {
  AUTH_DEADLINE_MS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_HOST,
  DEFAULT_MAX_CLIENTS,
  DEFAULT_MAX_PAYLOAD,
  DEFAULT_PORT,
  PRE_AUTH_MAX_PAYLOAD,
  SEND_HARD_CAP,
  SEND_HIGH_WATER,
  SEND_SOFT_CAP_MS,
} from '@corepool/protocol';

/** How often LMDB is flushed to disk (Redis's appendfsync). */
export type FsyncMode = 'always' | 'everysec' | 'no';

/** Everything `corepool daemon start` can be told. */
export interface DaemonOptions {
  host: string;
  port: number;
  workers: number;
  dataDir: string;
  /** Explicit token (required for a non-loopback host); else the data dir's token file. */
  token: string | undefined;
  fsync: FsyncMode;
  allowSource: boolean;
  maxClients: number;
  maxPayload: number;
  preAuthMaxPayload: number;
  authDeadlineMs: number;
  heartbeatMs: number;
  /** V8 old-space limit per worker. */
  workerHeapMb: number;
  /** Chunks a worker holds at once (one running, the rest prefetched). */
  pipelineDepth: number;
  /** Send buffer above which a client gets no new results and coalesced pushes. */
  sendHighWater: number;
  /** Send buffer past which a client is cut off (close 1008 E_SLOW_CONSUMER). */
  sendHardCap: number;
  /** Time a client may stay above the high-water mark before it is cut off. */
  sendSoftCapMs: number;
  /** RSS limit per worker in MiB, enforced by the primary's watchdog; 0 means none. */
  workerRssMb: number;
  /** Replace a worker after it has run this many items; 0 means never. */
  maxTasksPerWorker: number;
}

/** The default data dir: $COREPOOL_DATA_DIR, else ~/.corepool. */
export function defaultDataDir(): string {
  return process.env.COREPOOL_DATA_DIR || join(homedir(), '.corepool');
}

export const DEFAULT_OPTIONS: Omit<DaemonOptions, 'dataDir' | 'workers' | 'workerHeapMb'> = {
  host: DEFAULT_HOST,
  port: DEFAULT_PORT,
  token: undefined,
  fsync: 'everysec',
  allowSource: true,
  maxClients: DEFAULT_MAX_CLIENTS,
  maxPayload: DEFAULT_MAX_PAYLOAD,
  preAuthMaxPayload: PRE_AUTH_MAX_PAYLOAD,
  authDeadlineMs: AUTH_DEADLINE_MS,
  heartbeatMs: DEFAULT_HEARTBEAT_MS,
  pipelineDepth: 2,
  sendHighWater: SEND_HIGH_WATER,
  sendHardCap: SEND_HARD_CAP,
  sendSoftCapMs: SEND_SOFT_CAP_MS,
  workerRssMb: 0,
  maxTasksPerWorker: 0,
};

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** True for a host that only this machine can reach. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}

function int(name: string, v: unknown, min: number, max: number): number {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new TypeError(`--${name} must be an integer, got ${String(v)}`);
  if (n < min || n > max) throw new RangeError(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** Raw option values as the CLI collected them. */
export type RawOptions = Partial<Record<keyof DaemonOptions, unknown>>;

/** Validates raw values and merges them over the defaults. */
export function resolveOptions(raw: RawOptions): DaemonOptions {
  const workers = raw.workers === undefined ? availableParallelism() : int('workers', raw.workers, 1, 1024);
  const fsync = raw.fsync ?? DEFAULT_OPTIONS.fsync;
  if (fsync !== 'always' && fsync !== 'everysec' && fsync !== 'no') {
    throw new RangeError(`--fsync must be always, everysec or no, got ${String(fsync)}`);
  }
  const host = typeof raw.host === 'string' ? raw.host : DEFAULT_OPTIONS.host;
  const token = typeof raw.token === 'string' && raw.token.length > 0 ? raw.token : process.env.COREPOOL_TOKEN || undefined;
  if (!isLoopback(host) && token === undefined) {
    throw new Error(
      `refusing to listen on ${host} without an explicit token: anyone who can reach it could run code as this user. ` +
        'Pass --token (or COREPOOL_TOKEN), or bind 127.0.0.1.',
    );
  }
  const sendHighWater = raw.sendHighWater === undefined ? DEFAULT_OPTIONS.sendHighWater : int('send-high-water', raw.sendHighWater, 1024, 1 << 30);
  const sendHardCap = raw.sendHardCap === undefined ? Math.max(DEFAULT_OPTIONS.sendHardCap, 4 * sendHighWater) : int('send-hard-cap', raw.sendHardCap, 1024, 4 * 1024 ** 3);
  if (sendHardCap <= sendHighWater) throw new RangeError(`--send-hard-cap (${sendHardCap}) must be above --send-high-water (${sendHighWater})`);
  // Leave room for the primary and the OS: 80% of RAM shared by the workers.
  const defaultHeap = Math.max(256, Math.floor((0.8 * totalmem()) / (1024 * 1024) / workers));
  return {
    ...DEFAULT_OPTIONS,
    host,
    token,
    workers,
    fsync,
    port: raw.port === undefined ? DEFAULT_OPTIONS.port : int('port', raw.port, 0, 65535),
    dataDir: resolve(typeof raw.dataDir === 'string' ? raw.dataDir : defaultDataDir()),
    // Function source runs as this user: off by default when others can reach the daemon (--allow-source turns it on).
    allowSource: raw.allowSource === false ? false : raw.allowSource === true || isLoopback(host),
    maxClients: raw.maxClients === undefined ? DEFAULT_OPTIONS.maxClients : int('max-clients', raw.maxClients, 1, 1_000_000),
    maxPayload: raw.maxPayload === undefined ? DEFAULT_OPTIONS.maxPayload : int('max-payload', raw.maxPayload, 64 * 1024, 1024 * 1024 * 1024),
    heartbeatMs: raw.heartbeatMs === undefined ? DEFAULT_OPTIONS.heartbeatMs : int('heartbeat-ms', raw.heartbeatMs, 50, 3_600_000),
    authDeadlineMs: raw.authDeadlineMs === undefined ? DEFAULT_OPTIONS.authDeadlineMs : int('auth-deadline-ms', raw.authDeadlineMs, 50, 600_000),
    workerHeapMb: raw.workerHeapMb === undefined ? defaultHeap : int('worker-heap-mb', raw.workerHeapMb, 16, 1_000_000),
    pipelineDepth: raw.pipelineDepth === undefined ? DEFAULT_OPTIONS.pipelineDepth : int('pipeline-depth', raw.pipelineDepth, 1, 16),
    sendHighWater,
    sendHardCap,
    sendSoftCapMs: raw.sendSoftCapMs === undefined ? DEFAULT_OPTIONS.sendSoftCapMs : int('send-soft-cap-ms', raw.sendSoftCapMs, 10, 3_600_000),
    workerRssMb: raw.workerRssMb === undefined ? DEFAULT_OPTIONS.workerRssMb : int('worker-rss-mb', raw.workerRssMb, 0, 1_000_000),
    maxTasksPerWorker: raw.maxTasksPerWorker === undefined ? DEFAULT_OPTIONS.maxTasksPerWorker : int('max-tasks-per-worker', raw.maxTasksPerWorker, 0, Number.MAX_SAFE_INTEGER),
  };
}
