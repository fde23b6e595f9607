/**
 * Wire messages: ClientMessage (client -> daemon) and ServerMessage (daemon ->
 * client), discriminated on `type`. Every `payload`/`value` field of type
 * Uint8Array holds data encoded by `encodeData`; the primary forwards those
 * bytes without decoding them (except the shared-state values it must compute on).
 */
import type { WireError } from './errors.js';

/** How a task travels: its source (compiled once per worker, cached by hash) or a module export. */
export type TaskSpec =
  /** `source` is '' in a `batch.open` that names a source by hash alone (Welcome.sourcesByHash). */
  | { kind: 'source'; hash: string; source: string }
  /** `version`: set by the daemon (a hash of the file when the batch opened), never taken from a client. */
  | { kind: 'module'; url: string; name: string; version?: string };

export interface Hello {
  type: 'hello';
  v: number;
  token: string;
  name?: string;
  /** The client object's id, the same on every socket it opens: the daemon replays its writes' replies across reconnects. */
  instance?: string;
  /** Share of worker time asked for against other clients (an integer, 1 or more; default 1); the daemon bounds it. */
  weight?: number;
  /** Most workers this client may hold at once (an integer, 1 or more); default no cap. */
  maxWorkers?: number;
}
/** Starts a batch; its items follow in chunks. */
export interface BatchOpen {
  type: 'batch.open';
  id: number;
  task: TaskSpec;
  /** Per-item timeout; 0 means none. */
  timeoutMs: number;
  retries: number;
  /** Order among this client's own batches, higher first (MIN_PRIORITY..MAX_PRIORITY); absent: 0. */
  priority?: number;
  /** The batch's first chunk, in the same frame (a one-item `submit` is then a single frame). */
  first?: BatchChunk;
}
/**
 * Items `start .. start+count-1` of a batch, encoded as one array. `final`
 * says no chunk follows: the daemon forgets the batch once it is done, with no
 * `batch.close` needed.
 */
export interface BatchChunk {
  type: 'batch.chunk';
  id: number;
  start: number;
  count: number;
  payload: Uint8Array;
  final?: boolean;
}
/** Drops the batch's queued chunks and abandons its running ones. */
export interface BatchCancel {
  type: 'batch.cancel';
  id: number;
}
/** The client has every result it wants; the daemon forgets the batch. */
export interface BatchClose {
  type: 'batch.close';
  id: number;
}

/** Shared-state operations, one allowlist. */
export const STATE_OPS = [
  'value.get',
  'value.init',
  'value.set',
  'value.add',
  'value.cas',
  'value.subscribe',
  'value.unsubscribe',
  'queue.put',
  'queue.get',
  'queue.size',
  'dict.get',
  'dict.set',
  'dict.delete',
  'dict.has',
  'dict.keys',
  'dict.entries',
  'dict.size',
  'dict.subscribe',
  'dict.unsubscribe',
  'lock.acquire',
  'lock.release',
  // State lifecycle: a whole Value, Queue or Dict deleted (Dict's `dict.delete` deletes one key), and a page of names.
  'value.remove',
  'queue.remove',
  'dict.remove',
  'state.list',
] as const;
export type StateOp = (typeof STATE_OPS)[number];

/** One shared-state request. `a`/`b` are data-encoded operands (value, delta, expected/next). */
export interface StateRequest {
  op: StateOp;
  name: string;
  key?: string;
  a?: Uint8Array;
  b?: Uint8Array;
  timeoutMs?: number;
  token?: number;
  /** state.list: entries per page (the daemon caps it) and where the page starts (a previous page's `next`). */
  limit?: number;
  cursor?: string;
}
export interface StateMessage extends StateRequest {
  type: 'state';
  rid: number;
  /** Every request below this rid has its reply: the daemon may forget their replays. */
  ack?: number;
}
/**
 * The replies below `ack` reached the client: the daemon may forget their replays. Sent on its
 * own only when many replies arrived and no request carried the news (a burst of writes in
 * flight), so the daemon does not hold every reply of the burst until the next request.
 */
export interface AckMessage {
  type: 'ack';
  ack: number;
  /**
   * The client's last word, sent by close() just before its close frame (only to a daemon whose
   * welcome said `closingAcks`): it has every reply below `ack` except these request ids', which it
   * gave up on unanswered (gets close() cancelled, requests it stopped waiting for). An item the
   * daemon took for one of them goes back to the front of its queue when the instance ends; the
   * instance's other unacknowledged items count as delivered.
   */
  closing?: number[];
}
export interface StatusRequest {
  type: 'status';
  rid: number;
}
export interface StopRequest {
  type: 'stop';
  rid: number;
}

/** `daemon reload`: replace the workers one at a time (rolling); the reply is a ReloadResult. */
export interface ReloadRequest {
  type: 'reload';
  rid: number;
  /** How long a batch pinned to the old code may hold back the last old worker (default RELOAD_GRACE_MS). */
  graceMs?: number;
}

/** The reply to a `reload` request. */
export interface ReloadResult {
  /** The code generation the workers run now. */
  generation: number;
  /** Workers replaced by the reload. */
  replaced: number;
  /** From the request to the last new worker ready. */
  ms: number;
  /** Batches that were pinned to the old code and could not finish on it (failed with E_CODE_REPLACED). */
  batchesFailed: number;
  /** New workers whose initializer failed (they fail every chunk with E_INIT_FAILED). */
  initFailed: number;
}

export type ClientMessage =
  Hello | BatchOpen | BatchChunk | BatchCancel | BatchClose | StateMessage | AckMessage | StatusRequest | StopRequest | ReloadRequest;

export interface Welcome {
  type: 'welcome';
  v: number;
  clientId: number;
  workers: number;
  pid: number;
  /** The daemon's frame limit after authentication (--max-payload): clients size chunks under it. */
  maxPayload?: number;
  /** The daemon pings every this many ms; a client that hears nothing for longer treats the link as dead. */
  heartbeatMs?: number;
  /** The weight the daemon gives this client (its ask, bounded by --max-client-weight, or the operator's). */
  weight?: number;
  /** The cap on workers the daemon applies to this client, if any. */
  maxWorkers?: number;
  /** Why the daemon did not grant what the hello asked (a weight clamped, an operator's setting). */
  warning?: string;
  /** The daemon takes `ack` messages (an older one would answer each with E_BAD_MESSAGE): the SDK sends them only then. */
  acks?: true;
  /** The daemon takes `ack.closing` (the SDK's close() sends it then): without it, a clean close counts every unacknowledged item as delivered. */
  closingAcks?: true;
  /**
   * The work a chunk may aim at while the client is the only one with work queued
   * (absent: SOLO_CHUNK_TARGET_MS). Longer where the daemon cuts a running chunk short
   * for a client that arrives.
   */
  soloChunkMs?: number;
  /**
   * The daemon keeps the task sources this connection sent (CONNECTION_SOURCES): a
   * `batch.open` may then name one by its hash alone (`source: ''`). The SDK sends a
   * source once per connection and then its hash, within CLIENT_SOURCES.
   */
  sourcesByHash?: true;
}
/** Results of one chunk: `payload` is an array of `count` results (undefined where `errors` has the item). */
export interface ChunkResult {
  type: 'chunk.result';
  id: number;
  start: number;
  count: number;
  payload: Uint8Array;
  errors: WireError[];
  /** Milliseconds the worker spent computing the chunk (drives automatic chunk sizing). */
  ms: number;
  /** Clients with work queued in the daemon when this was sent: above 1, chunks stay short for fairness. */
  load?: number;
  /**
   * The workers the daemon's pool counts now, where that can change after the welcome
   * (cluster mode: every daemon's workers, as daemons join and leave): the client sizes
   * its in-flight window by it from then on.
   */
  workers?: number;
}
/** The whole batch failed (bad task, source disabled, flow control). */
export interface BatchError {
  type: 'batch.error';
  id: number;
  error: WireError;
}
/** The reply to a `state`, `status` or `stop` request. */
export interface Reply {
  type: 'reply';
  rid: number;
  ok: boolean;
  value?: unknown;
  error?: WireError;
}
/** A change pushed to a subscriber. */
export interface Push {
  type: 'push';
  kind: 'value' | 'dict';
  name: string;
  version: number;
  key?: string;
  value?: Uint8Array;
  /**
   * A dict key deleted (with `key`); without `key`, the whole Value or Dict was deleted
   * (Value.delete, Dict.clear): its versions start over at 1 when it is made again.
   */
  deleted?: boolean;
  /**
   * Cluster mode: the daemon cannot prove it saw every change of `name` since the
   * last push (Redis restarted or lost data, or its change stream was trimmed past
   * it): the subscriber must subscribe again and take the current state, never
   * assume a gap-free sequence. Carries no value; `version` is 0.
   */
  resync?: true;
}
/** A connection-level error (bad frame); the connection may continue. */
export interface ErrorMessage {
  type: 'error';
  error: WireError;
}

export type ServerMessage = Welcome | ChunkResult | BatchError | Reply | Push | ErrorMessage;

/** One named thing of the shared state, as `client.list()` and `corepool state ls` give it. */
export interface StateListEntry {
  kind: 'value' | 'queue' | 'dict' | 'lock';
  name: string;
  /** A value's version, its size in bytes and a short preview of it. */
  version?: number;
  bytes?: number;
  preview?: string;
  /** A queue's length, a dict's number of keys. */
  size?: number;
  /** A lock's holder (an opaque owner id). */
  holder?: string;
}

/** One page of `client.list()` (the state.list reply). */
export interface StateListPage {
  entries: StateListEntry[];
  /** Pass it back as `cursor` for the next page; absent on the last page. */
  next?: string;
}

/** What `corepool daemon status` reports. */
export interface DaemonStatus {
  pid: number;
  version: string;
  url: string;
  uptimeMs: number;
  /** The workers that take chunks: `--workers` of them (more for a moment while a worker is replaced or reloaded). */
  workers: WorkerStatus[];
  /**
   * The reserve workers (`--reserve-workers`, one by default), listed apart: they run only the
   * chunks of apps stuck behind other apps' long ones. Absent when there are none.
   */
  reserveWorkers?: WorkerStatus[];
  clients: ClientStatus[];
  queuedItems: number;
  runningItems: number;
  itemsDone: number;
  /** Items per second over the last few seconds. */
  throughput: number;
  values: number;
  queues: number;
  dicts: number;
  locks: number;
  /** Queue gets blocked on an empty queue, and lock acquires waiting for a held lock (absent from older daemons). */
  blockedGets?: number;
  lockWaiters?: number;
  /**
   * What values, queues and dicts hold of the primary's memory (an estimate) and its bound
   * (`--max-state-mb`), in bytes; absent in cluster mode (the state is in Redis) and from older
   * daemons, and the bound also with `--max-state-mb 0` (none).
   */
  stateBytes?: number;
  maxStateBytes?: number;
  /** What connections' subscriptions, locks held or awaited and blocked gets hold (an estimate, bounded by a quarter of maxStateBytes). */
  stateEntryBytes?: number;
  /** What replies kept for a resend hold besides the items of gets (those count in stateBytes): an estimate, bounded per client instance. */
  stateReplyBytes?: number;
  workerRestarts: number;
  /** Round trip of chunks (sent to a worker until its result is back) over the last few seconds. */
  latency?: { p50Ms: number; p99Ms: number };
  /** The latest errors the daemon returned or saw (failed items, replaced workers, refused requests), newest last. */
  recentErrors?: { at: number; code: string; message: string; client?: string; repeats?: number }[];
  /** A rolling reload under way (`daemon reload`): workers replaced of those it replaces. */
  reload?: { generation: number; replaced: number; total: number };
  /** Cluster mode only: every daemon of the cluster, as of its last heartbeat (at most a second or so old). */
  cluster?: ClusterStatus;
}

/** One worker process in `status.workers` (or `status.reserveWorkers`). Fields marked optional are absent from older daemons. */
export interface WorkerStatus {
  id: number;
  pid: number;
  busy: boolean;
  tasksDone: number;
  chunksDone: number;
  restarts: number;
  /** Resident memory in bytes, sampled about once a second. */
  rss?: number;
  /** CPU used over the last sample, as a fraction of one core (0..1). */
  cpu?: number;
  /** The batch it runs now and the name of that batch's client. */
  batch?: number;
  client?: string;
  /** Why its slot last got a new process, and when (ms since the epoch). */
  lastRestart?: { cause: string; at: number };
  /** The code generation it runs (each rolling reload starts a new one). */
  generation?: number;
  /** Its initializer (`daemon start --init`) failed: it fails every chunk with E_INIT_FAILED. */
  initError?: string;
  /** A reserve worker (`--reserve-workers`, in `status.reserveWorkers`): it runs only the chunks of apps stuck behind other apps' long ones. */
  reserve?: boolean;
}

/** One connected client in `status.clients`. */
export interface ClientStatus {
  id: number;
  name: string;
  batches: number;
  queuedChunks: number;
  runningChunks: number;
  /** Bytes queued on the socket, not yet written; and the most seen since the client connected. */
  sendBuffered?: number;
  maxSendBuffered?: number;
  /** Its share of the pool's worker time over the last minute (0..1). */
  share?: number;
  /** Items of its batches done since it connected. */
  itemsDone?: number;
  /** Its weight in the fair share, and the most workers it may hold at once (absent: no cap). */
  weight?: number;
  maxWorkers?: number;
  /**
   * Milliseconds of the primary's event loop spent for it since it connected: its messages,
   * their bytes, its writes' pushes, its blocked calls' timeouts, and its tasks' state requests.
   * What its share of the primary's turns is counted in.
   */
  primaryMs?: number;
}

/** `status.cluster`: the cluster this daemon belongs to. */
export interface ClusterStatus {
  name: string;
  /** This daemon's incarnation id (`host:pid:random`). */
  id: string;
  /** The Redis it runs on, password hidden. */
  redis: string;
  daemons: ClusterDaemonStatus[];
}

/** One daemon of a cluster as its last heartbeat described it. */
export interface ClusterDaemonStatus {
  id: string;
  url: string;
  pid: number;
  host: string;
  workers: number;
  busy: number;
  idle: number;
  /** Its last heartbeat, ms since the epoch (Redis's clock). */
  lastHeartbeat: number;
  /** Its lease is held: false for a daemon that stopped answering and is about to be declared dead. */
  alive: boolean;
  /** Its clients with queued or running chunks. */
  clients: { name: string; queuedChunks: number; runningChunks: number }[];
}
