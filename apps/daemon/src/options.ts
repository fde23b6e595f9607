/**
 * Daemon options: defaults in one place, validated once, with the reason in
 * every error. The CLI parses flags (commander); this file decides what they mean.
 * Over 400 lines on purpose: one place for every option's default, bound and
 * error, as the help and the docs read them.
 */
import { availableParallelism, homedir, totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import { statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connectionBudget, openFilesLimit } from './fd-limit.js';
import { checkTokenLength, readTokenFile } from './primary/token.js';
import { DEFAULT_FSYNC, FSYNC_MODES, type FsyncMode } from './state/fsync-modes.js';
import {
  AUTH_DEADLINE_MS,
  DEFAULT_HEARTBEAT_MS,
  DEFAULT_HOST,
  DEFAULT_MAX_CLIENTS,
  DEFAULT_MAX_PAYLOAD,
  ENVELOPE_BYTES,
  LARGEST_MAX_PAYLOAD,
  DEFAULT_PORT,
  PRE_AUTH_MAX_PAYLOAD,
  SEND_HARD_CAP,
  SEND_HIGH_WATER,
  SEND_SOFT_CAP_MS,
  MAX_WEIGHT,
  MAX_CLIENT_WORKERS,
  DEFAULT_INIT_TIMEOUT_MS,
  BadArgumentError,
} from '@corepool/protocol/internal';

/** Everything `corepool daemon start` can be told. */
export interface DaemonOptions {
  host: string;
  port: number;
  workers: number;
  dataDir: string;
  /** Explicit token (required for a non-loopback host); else the data dir's token file. */
  token: string | undefined;
  /** Where an explicit token came from, for the log (never the token itself). */
  tokenSource: 'flag' | 'file' | 'env' | undefined;
  /** The --token-file the token was read from (an absolute path), for the log. */
  tokenFile?: string;
  fsync: FsyncMode;
  allowSource: boolean;
  maxClients: number;
  /** Connections still in their HTTP upgrade at once; past it the oldest is dropped. */
  maxPreUpgrade: number;
  /** The soft open-files limit the client caps were derived from (undefined: unknown). */
  openFilesLimit: number | undefined;
  maxPayload: number;
  preAuthMaxPayload: number;
  authDeadlineMs: number;
  heartbeatMs: number;
  /** V8 old-space limit per worker. */
  workerHeapMb: number;
  /** Chunks sent to a worker at once (one running, the rest prefetched). */
  pipelineDepth: number;
  /**
   * Worker processes beyond `workers`, kept for clients stuck behind other clients' long chunks
   * (primary/placement.ts): a running chunk cannot be preempted, so the cores are shared with one
   * more process for as long as such a client's chunk runs.
   */
  reserveWorkers: number;
  /** Send buffer above which a client gets no new results and coalesced pushes. */
  sendHighWater: number;
  /** Send buffer past which a client is cut off (close 1008 E_SLOW_CONSUMER). */
  sendHardCap: number;
  /** Time a client may stay above the high-water mark before it is cut off. */
  sendSoftCapMs: number;
  /**
   * How long a client instance's kept replies outlive its last connection (hidden `--replay-window-ms`,
   * for tests; absent: two minutes, primary/replay-table.ts): past it an item it never acknowledged goes back.
   */
  replayWindowMs?: number;
  /** RSS limit per worker in MiB, enforced by the primary's watchdog; 0 means none. */
  workerRssMb: number;
  /** Replace a worker after it has run this many items; 0 means never. */
  maxTasksPerWorker: number;
  /** Most weight a client may give itself (connect({ weight })); a larger ask is clamped (client-steering.ts). */
  maxClientWeight: number;
  /** Weights by client name (--client-weight name=N), over the client's own ask. */
  clientWeights: ReadonlyMap<string, number>;
  /** Caps on workers held at once by client name (--client-max-workers name=N). */
  clientMaxWorkers: ReadonlyMap<string, number>;
  /** Things the daemon should say at start (a risky setting), one line each. */
  warnings: string[];
  /** Cluster mode (`--cluster`): the Redis the daemons of cluster `name` share. Absent: a standalone daemon on LMDB. */
  cluster?: ClusterOptions;
  /** `--init`: the file: URL of the worker initializer module, run once in each worker before its first task (initializer.ts). */
  init?: string;
  /** How long a worker's initializer may take before the worker is marked failed. */
  initTimeoutMs: number;
  /**
   * Most MiB values, queues and dicts may hold in the primary's memory (state/state-memory.ts);
   * a write past it is refused with E_LIMIT. 0: no bound. Not used in cluster mode (Redis holds the state).
   */
  maxStateMb: number;
}

/** Where a daemon's cluster lives. */
export interface ClusterOptions {
  /** redis:// or rediss:// URL (a password in it is never logged). */
  redisUrl: string;
  /** The cluster's name; daemons of one name share work and state. */
  name: string;
}

/**
 * The frame limit of a daemon in a cluster unless --max-payload says otherwise: the
 * per-chunk budget. Chunks, results and state values cross Redis there, and an item,
 * result or value over it fails alone with E_TOO_LARGE (the SDK learns the limit from
 * the welcome) instead of growing Redis by megabytes per message.
 */
export const CLUSTER_MAX_PAYLOAD = 1024 * 1024;

/** The cluster a daemon joins when `--cluster` names no other. */
export const DEFAULT_CLUSTER_NAME = 'default';
/** A cluster name becomes part of every Redis key: short and plain. */
export const CLUSTER_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

const DATA_DIR_ENV = 'COREPOOL_DATA_DIR';
const DATA_DIR_NAME = '.corepool';

/** The default data dir: $COREPOOL_DATA_DIR, else ~/.corepool. */
export function defaultDataDir(): string {
  return process.env[DATA_DIR_ENV] || join(homedir(), DATA_DIR_NAME);
}

/** Most weight a client may give itself unless --max-client-weight says otherwise: a few times a plain client's share, never the pool. */
export const DEFAULT_MAX_CLIENT_WEIGHT = 4;

/** Most reserve workers: each is a process that may share the cores with the rest. */
const MAX_RESERVE_WORKERS = 16;

/** The defaults that do not depend on the machine (the CLI's help shows them from here). */
export const DEFAULT_OPTIONS: Omit<
  DaemonOptions,
  'dataDir' | 'workers' | 'workerHeapMb' | 'workerRssMb' | 'maxPreUpgrade' | 'openFilesLimit' | 'warnings' | 'maxStateMb'
> = {
  host: DEFAULT_HOST,
  port: DEFAULT_PORT,
  token: undefined,
  tokenSource: undefined,
  fsync: DEFAULT_FSYNC,
  allowSource: true,
  maxClients: DEFAULT_MAX_CLIENTS,
  maxPayload: DEFAULT_MAX_PAYLOAD,
  preAuthMaxPayload: PRE_AUTH_MAX_PAYLOAD,
  authDeadlineMs: AUTH_DEADLINE_MS,
  heartbeatMs: DEFAULT_HEARTBEAT_MS,
  pipelineDepth: 2,
  reserveWorkers: 1,
  sendHighWater: SEND_HIGH_WATER,
  sendHardCap: SEND_HARD_CAP,
  sendSoftCapMs: SEND_SOFT_CAP_MS,
  maxTasksPerWorker: 0,
  maxClientWeight: DEFAULT_MAX_CLIENT_WEIGHT,
  clientWeights: new Map(),
  clientMaxWorkers: new Map(),
  initTimeoutMs: DEFAULT_INIT_TIMEOUT_MS,
};

/** Largest default V8 heap per worker: a leaking task dies in seconds, not minutes. */
export const MAX_DEFAULT_HEAP_MB = 2048;

/** Share of RAM the workers' default heaps add up to. */
const HEAP_SHARE_OF_RAM = 0.8;

/**
 * The default V8 heap limit per worker: 80% of RAM shared by the workers, at
 * least 256 MB and at most MAX_DEFAULT_HEAP_MB.
 */
export function defaultWorkerHeapMb(workers: number, totalBytes = totalmem()): number {
  return Math.min(MAX_DEFAULT_HEAP_MB, Math.max(256, Math.floor((HEAP_SHARE_OF_RAM * totalBytes) / (1024 * 1024) / workers)));
}

/** Lowest --worker-rss-mb other than 0 (off): about twice what a fresh worker takes. */
export const MIN_WORKER_RSS_MB = 128;

/** The default RSS limit per worker, as a multiple of its heap limit. */
const RSS_PER_HEAP = 1.5;

/**
 * The default RSS limit per worker: 1.5x the heap (at least 128 MB above it)
 * for code, stacks and young generation; beyond that it is off-heap memory
 * (Buffers, native addons) that the heap limit never sees.
 */
export function defaultWorkerRssMb(heapMb: number): number {
  return Math.max(Math.round(RSS_PER_HEAP * heapMb), heapMb + 128);
}

/** Share of the primary's V8 heap limit the shared state may fill by default; the rest is for connections, batches and replies. */
const STATE_SHARE_OF_HEAP = 0.5;

/**
 * The default --max-state-mb: half the primary's V8 heap limit (which Node sizes from RAM, up
 * to 4 GiB), so a client writing without end is refused with E_LIMIT before the primary runs
 * out of heap and dies for every client.
 */
export function defaultMaxStateMb(heapLimitBytes = getHeapStatistics().heap_size_limit): number {
  return Math.max(16, Math.floor((STATE_SHARE_OF_HEAP * heapLimitBytes) / (1024 * 1024)));
}

/**
 * The defaults worked out at start, in words, next to the code that works
 * them out: the CLI's help shows these, so it cannot drift from it.
 */
export const MACHINE_DEFAULTS = {
  workers: 'one per core',
  dataDir: `$${DATA_DIR_ENV} or ~/${DATA_DIR_NAME}`,
  tokenFile: '$COREPOOL_TOKEN, else <data-dir>/token',
  maxClients: `${DEFAULT_MAX_CLIENTS}, or fewer to fit the open-files limit, ulimit -n`,
  workerHeapMb: `${HEAP_SHARE_OF_RAM * 100}% of RAM / (workers + reserve workers), at most ${MAX_DEFAULT_HEAP_MB}`,
  workerRssMb: `${RSS_PER_HEAP}x the heap`,
  maxStateMb: `${STATE_SHARE_OF_HEAP * 100}% of the daemon's V8 heap limit, here ${defaultMaxStateMb()}`,
} as const satisfies Partial<Record<keyof DaemonOptions, string>>;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** True for a host that only this machine can reach. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}

function int(name: string, v: unknown, min: number, max: number): number {
  // Digits only from the command line: Number() also reads '' as 0 (an empty --reserve-workers= turned the reserve
  // off), '0x2' as 2 and '1e1' as 10.
  const n = typeof v === 'string' ? (/^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN) : v;
  if (typeof n !== 'number' || !Number.isInteger(n)) throw new BadArgumentError(`--${name} must be an integer, got ${JSON.stringify(v)}`);
  if (n < min || n > max) throw new BadArgumentError(`--${name} must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** Repeatable `name=N` flags (--client-weight, --client-max-workers) as a map; the name is everything before the last '='. */
function byName(flag: string, v: unknown, max: number): Map<string, number> {
  const out = new Map<string, number>();
  if (v === undefined) return out;
  for (const entry of Array.isArray(v) ? v : [v]) {
    const s = String(entry);
    const eq = s.lastIndexOf('=');
    if (eq <= 0)
      throw new BadArgumentError(`--${flag} must be name=N (a client's connect({ name }) and an integer), got ${JSON.stringify(s)}`);
    out.set(s.slice(0, eq), int(flag, s.slice(eq + 1), 1, max));
  }
  return out;
}

/** Raw option values as the CLI collected them. */
export type RawOptions = Partial<Record<keyof DaemonOptions | 'tokenFile' | 'clusterName', unknown>>;

/** --cluster and --cluster-name, checked. */
function clusterOptions(raw: RawOptions): ClusterOptions | undefined {
  if (raw.cluster === undefined) {
    if (raw.clusterName !== undefined)
      throw new BadArgumentError('--cluster-name needs --cluster <redis-url>: the Redis the cluster lives on');
    return undefined;
  }
  const redisUrl = String(raw.cluster);
  let scheme: string;
  try {
    scheme = new URL(redisUrl).protocol;
  } catch {
    throw new BadArgumentError(`--cluster must be a redis:// or rediss:// URL, like redis://127.0.0.1:6379`);
  }
  if (scheme !== 'redis:' && scheme !== 'rediss:')
    throw new BadArgumentError(`--cluster must be a redis:// or rediss:// URL, like redis://127.0.0.1:6379 (got a ${scheme} URL)`);
  const name = raw.clusterName === undefined ? DEFAULT_CLUSTER_NAME : String(raw.clusterName);
  if (!CLUSTER_NAME.test(name))
    throw new BadArgumentError(`--cluster-name must be 1 to 64 letters, digits, '_', '.' or '-', got ${JSON.stringify(name)}`);
  return { redisUrl, name };
}

/** Validates raw values and merges them over the defaults. */
export function resolveOptions(raw: RawOptions): DaemonOptions {
  const workers = raw.workers === undefined ? availableParallelism() : int('workers', raw.workers, 1, 1024);
  const fsync = (raw.fsync ?? DEFAULT_OPTIONS.fsync) as FsyncMode;
  if (!FSYNC_MODES.includes(fsync)) {
    throw new BadArgumentError(`--fsync must be always, everysec or no, got ${String(fsync)}`);
  }
  const host = typeof raw.host === 'string' ? raw.host : DEFAULT_OPTIONS.host;
  const warnings: string[] = [];
  const { token, tokenSource, tokenFile } = explicitToken(raw);
  if (tokenSource === 'flag')
    warnings.push(
      '--token shows the token to every user of this machine (ps) until the daemon hides it from its title; prefer --token-file or COREPOOL_TOKEN',
    );
  if (!isLoopback(host) && token === undefined) {
    throw new BadArgumentError(
      `refusing to listen on ${host} without an explicit token: anyone who can reach it could run code as this user. ` +
        'Pass --token-file (or COREPOOL_TOKEN), or bind 127.0.0.1.',
    );
  }
  const sendHighWater =
    raw.sendHighWater === undefined ? DEFAULT_OPTIONS.sendHighWater : int('send-high-water', raw.sendHighWater, 1024, 1 << 30);
  const sendHardCap =
    raw.sendHardCap === undefined
      ? Math.max(DEFAULT_OPTIONS.sendHardCap, 4 * sendHighWater)
      : int('send-hard-cap', raw.sendHardCap, 1024, 4 * 1024 ** 3);
  if (sendHardCap <= sendHighWater)
    throw new BadArgumentError(`--send-hard-cap (${sendHardCap}) must be above --send-high-water (${sendHighWater})`);

  const limit = openFilesLimit();
  const reserveWorkers =
    raw.reserveWorkers === undefined ? DEFAULT_OPTIONS.reserveWorkers : int('reserve-workers', raw.reserveWorkers, 0, MAX_RESERVE_WORKERS);
  const budget = connectionBudget(limit, workers + reserveWorkers);
  // The reserve workers' heaps come out of the same share of RAM as the others'.
  const workerHeapMb =
    raw.workerHeapMb === undefined ? defaultWorkerHeapMb(workers + reserveWorkers) : int('worker-heap-mb', raw.workerHeapMb, 16, 1_000_000);
  const fitting = Math.max(1, budget.sockets - budget.preUpgrade);
  const maxClients =
    raw.maxClients === undefined ? Math.min(DEFAULT_OPTIONS.maxClients, fitting) : int('max-clients', raw.maxClients, 1, 1_000_000);
  if (raw.maxClients !== undefined && maxClients > fitting) {
    warnings.push(
      `--max-clients ${maxClients} is above the ${fitting} connections the open-files limit (ulimit -n ${limit}) leaves room for: past it new connections fail; raise the limit or lower --max-clients`,
    );
  }
  const cluster = clusterOptions(raw);
  const init = initModule(raw.init);
  return {
    ...DEFAULT_OPTIONS,
    ...(cluster === undefined ? {} : { cluster }),
    ...(init === undefined ? {} : { init }),
    initTimeoutMs:
      raw.initTimeoutMs === undefined ? DEFAULT_OPTIONS.initTimeoutMs : int('init-timeout-ms', raw.initTimeoutMs, 100, 3_600_000),
    host,
    token,
    tokenSource,
    ...(tokenFile === undefined ? {} : { tokenFile }),
    warnings,
    maxPreUpgrade: budget.preUpgrade,
    openFilesLimit: limit,
    workers,
    fsync,
    port: raw.port === undefined ? DEFAULT_OPTIONS.port : int('port', raw.port, 0, 65535),
    dataDir: resolve(typeof raw.dataDir === 'string' ? raw.dataDir : defaultDataDir()),
    // Function source runs as this user: off by default when others can reach the daemon (--allow-source turns it on).
    allowSource: raw.allowSource === false ? false : raw.allowSource === true || isLoopback(host),
    maxClients,
    maxPayload:
      raw.maxPayload === undefined
        ? cluster === undefined
          ? DEFAULT_OPTIONS.maxPayload
          : CLUSTER_MAX_PAYLOAD
        : // Room for a message's envelope and as much again for its data: below it, not even a 1-byte value could be read back.
          int('max-payload', raw.maxPayload, 2 * ENVELOPE_BYTES, LARGEST_MAX_PAYLOAD),
    heartbeatMs: raw.heartbeatMs === undefined ? DEFAULT_OPTIONS.heartbeatMs : int('heartbeat-ms', raw.heartbeatMs, 50, 3_600_000),
    authDeadlineMs:
      raw.authDeadlineMs === undefined ? DEFAULT_OPTIONS.authDeadlineMs : int('auth-deadline-ms', raw.authDeadlineMs, 50, 600_000),
    workerHeapMb,
    maxStateMb: raw.maxStateMb === undefined ? defaultMaxStateMb() : int('max-state-mb', raw.maxStateMb, 0, 1 << 30),
    reserveWorkers,
    pipelineDepth: raw.pipelineDepth === undefined ? DEFAULT_OPTIONS.pipelineDepth : int('pipeline-depth', raw.pipelineDepth, 1, 16),
    sendHighWater,
    sendHardCap,
    sendSoftCapMs:
      raw.sendSoftCapMs === undefined ? DEFAULT_OPTIONS.sendSoftCapMs : int('send-soft-cap-ms', raw.sendSoftCapMs, 10, 3_600_000),
    ...(raw.replayWindowMs === undefined ? {} : { replayWindowMs: int('replay-window-ms', raw.replayWindowMs, 100, 3_600_000) }),
    workerRssMb: raw.workerRssMb === undefined ? defaultWorkerRssMb(workerHeapMb) : workerRssLimit(raw.workerRssMb, workerHeapMb),
    maxClientWeight:
      raw.maxClientWeight === undefined ? DEFAULT_OPTIONS.maxClientWeight : int('max-client-weight', raw.maxClientWeight, 1, MAX_WEIGHT),
    clientWeights: byName('client-weight', raw.clientWeights, MAX_WEIGHT),
    clientMaxWorkers: byName('client-max-workers', raw.clientMaxWorkers, MAX_CLIENT_WORKERS),
    maxTasksPerWorker:
      raw.maxTasksPerWorker === undefined
        ? DEFAULT_OPTIONS.maxTasksPerWorker
        : int('max-tasks-per-worker', raw.maxTasksPerWorker, 0, Number.MAX_SAFE_INTEGER),
  };
}

/**
 * An explicit --worker-rss-mb: 0 (off), or at least MIN_WORKER_RSS_MB and
 * above the heap limit. A fresh worker alone takes about 60 MB of RSS, so a
 * lower limit kills every worker as it starts, in a loop, and no item runs.
 */
function workerRssLimit(v: unknown, heapMb: number): number {
  const mb = int('worker-rss-mb', v, 0, 1_000_000);
  if (mb === 0) return 0;
  if (mb < MIN_WORKER_RSS_MB) {
    throw new BadArgumentError(
      `--worker-rss-mb must be 0 (off) or at least ${MIN_WORKER_RSS_MB}: a fresh worker alone takes about 60 MB, so ${mb} would kill every worker as it starts`,
    );
  }
  if (mb <= heapMb) {
    throw new BadArgumentError(
      `--worker-rss-mb (${mb}) must be above --worker-heap-mb (${heapMb}): the heap is only part of a worker's RSS`,
    );
  }
  return mb;
}

/**
 * --init, resolved against the working directory at start (workers may run
 * elsewhere later) and checked to be a file now: a typo is a start error, not
 * a failure in every worker.
 */
function initModule(v: unknown): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new BadArgumentError('--init needs the path of a module (ESM or CommonJS)');
  const path = resolve(v);
  let file: boolean;
  try {
    file = statSync(path).isFile();
  } catch {
    throw new BadArgumentError(`--init: no module at ${path}`);
  }
  if (!file) throw new BadArgumentError(`--init: ${path} is not a file`);
  return pathToFileURL(path).href;
}

/** --token, else --token-file, else COREPOOL_TOKEN; none of them: the data dir's token file. */
function explicitToken(raw: RawOptions): Pick<DaemonOptions, 'token' | 'tokenSource' | 'tokenFile'> {
  if (typeof raw.token === 'string') {
    // An empty --token (an unset shell variable) must not quietly fall back to another token.
    if (raw.token.length === 0)
      throw new BadArgumentError('--token is empty: pass the token itself, or use --token-file or COREPOOL_TOKEN');
    if (typeof raw.tokenFile === 'string') throw new BadArgumentError('pass --token or --token-file, not both');
    checkTokenLength(raw.token, '--token');
    return { token: raw.token, tokenSource: 'flag' };
  }
  if (typeof raw.tokenFile === 'string') {
    const tokenFile = resolve(raw.tokenFile);
    const token = readTokenFile(tokenFile);
    checkTokenLength(token, tokenFile);
    return { token, tokenSource: 'file', tokenFile };
  }
  const env = process.env.COREPOOL_TOKEN;
  if (!env) return { token: undefined, tokenSource: undefined };
  checkTokenLength(env, 'COREPOOL_TOKEN');
  return { token: env, tokenSource: 'env' };
}
