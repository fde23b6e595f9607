/**
 * Error codes: the one table of every code that crosses the wire. Codes are
 * stable API (users match on them); messages are for humans and may change.
 */
export const ErrorCode = {
  /** Missing, late or wrong token, or a message sent before `hello`. */
  E_AUTH: 'E_AUTH',
  /** A frame that does not decode, or a message that does not validate. */
  E_BAD_MESSAGE: 'E_BAD_MESSAGE',
  /** A frame or a value larger than the configured limit. */
  E_TOO_LARGE: 'E_TOO_LARGE',
  /** Client and daemon speak different protocol versions. */
  E_PROTOCOL_VERSION: 'E_PROTOCOL_VERSION',
  /** A bad argument to an SDK call (option of the wrong type or range). */
  E_BAD_ARGUMENT: 'E_BAD_ARGUMENT',
  /** The task cannot be used: not a function, native code, syntax error, missing export. */
  E_BAD_TASK: 'E_BAD_TASK',
  /** The daemon runs with --no-source: only module tasks are allowed. */
  E_SOURCE_DISABLED: 'E_SOURCE_DISABLED',
  /** An item, result or state value that structured clone cannot copy. */
  E_NOT_CLONEABLE: 'E_NOT_CLONEABLE',
  /** A task threw (or rejected). */
  E_TASK_FAILED: 'E_TASK_FAILED',
  /** An item ran longer than its `timeoutMs`; its worker was replaced. */
  E_TIMEOUT: 'E_TIMEOUT',
  /** Workers died running this item more often than `retries` allows. */
  E_WORKER_CRASHED: 'E_WORKER_CRASHED',
  /** The batch or operation was cancelled through its AbortSignal. */
  E_CANCELLED: 'E_CANCELLED',
  /** A shared value that does not exist. */
  E_NO_SUCH_VALUE: 'E_NO_SUCH_VALUE',
  /** A shared-state operation on a value of the wrong type (add on a string). */
  E_TYPE: 'E_TYPE',
  /** A shared-state name that is empty, too long or not a string. */
  E_BAD_NAME: 'E_BAD_NAME',
  /** Releasing a lock this client does not hold, or a stale fencing token. */
  E_LOCK_NOT_HELD: 'E_LOCK_NOT_HELD',
  /** The daemon already serves its maximum number of clients (close 1013). */
  E_TOO_MANY_CLIENTS: 'E_TOO_MANY_CLIENTS',
  /**
   * The client read too slowly: its send buffer passed the hard cap, or stayed
   * above the high-water mark for too long (close 1008, like Redis's
   * client-output-buffer-limit).
   */
  E_SLOW_CONSUMER: 'E_SLOW_CONSUMER',
  /** A client sent more work than flow control allows. */
  E_FLOW_CONTROL: 'E_FLOW_CONTROL',
  /**
   * A per-client limit was reached: too many blocked queue gets or lock
   * acquires, too many open batches. The message names the limit; nothing
   * was changed, and other clients are not affected.
   */
  E_LIMIT: 'E_LIMIT',
  /**
   * The state store is full (the disk where it lives has less than a few MiB free):
   * the write was not applied and nothing of it is kept; reads still work,
   * and writes work again once space returns.
   */
  E_NO_SPACE: 'E_NO_SPACE',
  /**
   * A write resent after a reconnect whose reply the daemon no longer keeps: it
   * ran once when it first came (applied, or refused with an error of its own),
   * is not run again, and what it returned is lost. Replies wait for the
   * client's acknowledgement within bounds (per client instance, and for the
   * daemon as a whole, where the clients keeping the most lose theirs first).
   */
  E_REPLY_DROPPED: 'E_REPLY_DROPPED',
  /** The daemon is stopping and accepts no new work. */
  E_SHUTTING_DOWN: 'E_SHUTTING_DOWN',
  /** No daemon answers at the URL, or the connection was lost for good. */
  E_CONNECTION: 'E_CONNECTION',
  /** The client was closed by the application. */
  E_CLOSED: 'E_CLOSED',
  /** Cluster mode: the Redis given does not answer (down, wrong address, wrong password, timed out). */
  E_CLUSTER_UNREACHABLE: 'E_CLUSTER_UNREACHABLE',
  /**
   * Cluster mode: the Redis given answers but cannot hold a cluster correctly
   * (too old, or a maxmemory-policy that may evict keys); the message gives the fix.
   */
  E_CLUSTER_REFUSED: 'E_CLUSTER_REFUSED',
  /**
   * Cluster mode: this daemon cannot reach Redis, or lost its membership (its lease
   * lapsed), so it cannot make the operation durable: nothing was applied or
   * acknowledged. Retry, on this daemon once it is back or on another one.
   */
  E_UNAVAILABLE: 'E_UNAVAILABLE',
  /** `daemon reload`: a reload of this daemon's workers is already running; wait for it to end. */
  E_RELOAD_RUNNING: 'E_RELOAD_RUNNING',
  /**
   * The batch was pinned to worker code that a reload replaced, and could not
   * finish on it: its last worker of that code exited, or it outlasted the
   * reload's grace. Rerun it (it runs on the new code).
   */
  E_CODE_REPLACED: 'E_CODE_REPLACED',
  /** The worker initializer (`daemon start --init`) threw, or did not finish in time: the worker runs no task. */
  E_INIT_FAILED: 'E_INIT_FAILED',
  /** `daemon start`: a daemon already runs (or is starting) on the data dir; stop it, or give another --data-dir. */
  E_DAEMON_RUNNING: 'E_DAEMON_RUNNING',
  /** A bug in corepool: please report it. */
  E_INTERNAL: 'E_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const CODES = new Set<string>(Object.values(ErrorCode));

/** True for a string that is one of the codes above. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && CODES.has(value);
}

/** WebSocket close codes the daemon uses (RFC 6455 / IANA registry). */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  BAD_DATA: 1007,
  POLICY: 1008,
  TOO_BIG: 1009,
  INTERNAL: 1011,
  RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
} as const;
