/**
 * SDK options: their defaults in one place and one check each, at the
 * facade. Async calls reject (never throw) with BadArgumentError.
 */
import {
  BadArgumentError,
  DEFAULT_HOST,
  DEFAULT_PORT,
  DEFAULT_RETRIES,
  MAX_CLIENT_WORKERS,
  MAX_NAME_LENGTH,
  MAX_PRIORITY,
  MAX_TIMEOUT_MS,
  MAX_WEIGHT,
  MIN_PRIORITY,
} from '@corepool/protocol';
import { checkOptionKeys } from '@corepool/protocol/internal';

/** Options of `connect()`. */
export interface ConnectOptions {
  /** Token; default $COREPOOL_TOKEN, else `<dataDir>/token`. */
  token?: string;
  /** Data dir of the local daemon (token file, spawn); default $COREPOOL_DATA_DIR, else ~/.corepool. */
  dataDir?: string;
  /** Start a local daemon in the background if none answers. @default false */
  spawn?: boolean;
  /** A name shown in `corepool daemon status`. */
  name?: string;
  /**
   * Give up reconnecting (and fail pending work) after this long without a connection to any
   * of the client's daemons; `Infinity` never gives up. @default 30_000
   */
  reconnectTimeoutMs?: number;
  /** Time allowed for the first connection (including a spawned daemon's start). @default 10_000 */
  connectTimeoutMs?: number;
  /**
   * Share of worker time against other clients while both have work (an integer, 1 to 1000): weight 2
   * gets twice the share of weight 1. The daemon clamps it to its --max-client-weight (default 4), and
   * its operator may set it by name instead (--client-weight); a warning says so. @default 1
   */
  weight?: number;
  /** Most workers this client holds at once, even when others are idle (an integer, 1 or more). @default no cap */
  maxWorkers?: number;
}

/** Options of `map`, `imap`, `mapSettled`. */
export interface MapOptions {
  /** Items per chunk; default automatic, from the item cost measured as the batch runs. */
  chunkSize?: number;
  /** Cancels the batch: queued work is dropped, running work abandoned. */
  signal?: AbortSignal;
  /** Per-item limit (an integer, 1 to 2^31 - 1 ms); the worker running a late item is replaced and the item fails with TimeoutError. */
  timeoutMs?: number;
  /** Runs of an item after its worker died, before WorkerCrashedError. @default 2 */
  retries?: number;
  /**
   * Order among this client's own batches: its queued work of a higher priority goes to workers first
   * (an integer, -1000 to 1000). It never takes workers from other clients: their share is by worker time. @default 0
   */
  priority?: number;
  /** Called as results arrive; `total` is undefined until the input is exhausted (unless it has a length). */
  onProgress?: (done: number, total: number | undefined) => void;
}

/** Options of `imap`. */
export interface ImapOptions extends MapOptions {
  /** Yield in input order (default) or as results arrive. @default true */
  ordered?: boolean;
}

/** Options of `submit`. */
export interface SubmitOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  retries?: number;
  /** As for `map`: order among this client's own batches, higher first. @default 0 */
  priority?: number;
}

export const DEFAULT_URL = `ws://${DEFAULT_HOST}:${DEFAULT_PORT}`;
export const DEFAULT_RECONNECT_TIMEOUT_MS = 30 * 1000;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10 * 1000;

function positiveInt(name: string, v: unknown, min: number): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new BadArgumentError(`options.${name} must be an integer`);
  if (v < min) throw new BadArgumentError(`options.${name} must be at least ${min}`);
}

function intIn(name: string, v: unknown, min: number, max: number): void {
  if (v === undefined) return;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new BadArgumentError(`options.${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
}

/** The keys of map, imap and mapSettled's options (submit's are a part of them). */
const MAP_OPTION_KEYS: readonly (keyof ImapOptions)[] = [
  'chunkSize',
  'signal',
  'timeoutMs',
  'retries',
  'priority',
  'onProgress',
  'ordered',
];
const SUBMIT_OPTION_KEYS: readonly (keyof SubmitOptions)[] = ['signal', 'timeoutMs', 'retries', 'priority'];
const CONNECT_OPTION_KEYS: readonly (keyof ConnectOptions)[] = [
  'token',
  'dataDir',
  'spawn',
  'name',
  'reconnectTimeoutMs',
  'connectTimeoutMs',
  'weight',
  'maxWorkers',
];

/** Checks map/imap/mapSettled options (`call` names the method in errors), or submit's; throws BadArgumentError. */
export function checkMapOptions(o: unknown, call: 'map' | 'imap' | 'mapSettled' | 'submit' = 'map'): ImapOptions {
  if (o === undefined) return {};
  if (o === null || typeof o !== 'object') throw new BadArgumentError('options must be an object');
  checkOptionKeys(o, call === 'submit' ? SUBMIT_OPTION_KEYS : MAP_OPTION_KEYS, call);
  const opts = o as ImapOptions;
  positiveInt('chunkSize', opts.chunkSize, 1);
  positiveInt('timeoutMs', opts.timeoutMs, 1);
  // Node fires a timer of 2^31 ms or more at once: every item would time out.
  if (opts.timeoutMs !== undefined && opts.timeoutMs > MAX_TIMEOUT_MS)
    throw new BadArgumentError(`options.timeoutMs must be at most ${MAX_TIMEOUT_MS}`);
  positiveInt('retries', opts.retries, 0);
  intIn('priority', opts.priority, MIN_PRIORITY, MAX_PRIORITY);
  if (opts.retries !== undefined && opts.retries > 100) throw new BadArgumentError('options.retries must be at most 100');
  if (opts.signal !== undefined && !(opts.signal instanceof AbortSignal))
    throw new BadArgumentError('options.signal must be an AbortSignal');
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function')
    throw new BadArgumentError('options.onProgress must be a function');
  if (opts.ordered !== undefined && typeof opts.ordered !== 'boolean') throw new BadArgumentError('options.ordered must be a boolean');
  return opts;
}

/** Checks connect options; throws BadArgumentError. */
export function checkConnectOptions(o: unknown): ConnectOptions {
  if (o === undefined) return {};
  if (o === null || typeof o !== 'object') throw new BadArgumentError('options must be an object');
  checkOptionKeys(o, CONNECT_OPTION_KEYS, 'connect');
  const opts = o as ConnectOptions;
  if (opts.token !== undefined && typeof opts.token !== 'string') throw new BadArgumentError('options.token must be a string');
  if (opts.dataDir !== undefined && typeof opts.dataDir !== 'string') throw new BadArgumentError('options.dataDir must be a string');
  if (opts.spawn !== undefined && typeof opts.spawn !== 'boolean') throw new BadArgumentError('options.spawn must be a boolean');
  if (opts.name !== undefined && (typeof opts.name !== 'string' || opts.name.length > MAX_NAME_LENGTH)) {
    throw new BadArgumentError(`options.name must be a string of at most ${MAX_NAME_LENGTH} characters`);
  }
  // Infinity: a long-running service waits for its daemon however long it is away.
  if (opts.reconnectTimeoutMs !== Infinity) positiveInt('reconnectTimeoutMs', opts.reconnectTimeoutMs, 0);
  positiveInt('connectTimeoutMs', opts.connectTimeoutMs, 1);
  intIn('weight', opts.weight, 1, MAX_WEIGHT);
  intIn('maxWorkers', opts.maxWorkers, 1, MAX_CLIENT_WORKERS);
  return opts;
}

export { DEFAULT_RETRIES };
