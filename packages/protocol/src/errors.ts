/**
 * Error classes: one per code, so users can `instanceof` or match `code`.
 * The daemon sends a WireError; the client rebuilds the same class with
 * `fromWire`, keeping the remote stack, the failing item's index and attempts.
 */
import { ErrorCode, isErrorCode } from './codes.js';

/**
 * What an error may carry besides its code and message: defined once, for
 * the wire form, the constructor options and the error object alike.
 */
export interface ErrorDetails {
  /** Input index of the item the error belongs to. */
  index?: number;
  /** The remote error's name (TypeError, RangeError, ...) for task failures. */
  remoteName?: string;
  /** The remote stack for task failures. */
  remoteStack?: string;
  /** The remote error's own `code` (ENOENT, ERR_INVALID_ARG_TYPE, an app's), as text, for task failures. */
  remoteCode?: string;
  /** How many times the item was run (crash retries). */
  attempts?: number;
  /** The timeout that was exceeded. */
  timeoutMs?: number | undefined;
  /** A value a task threw that is not an Error (`throw 42`), as text. */
  thrown?: string;
}

/** A detail's type on the wire, as `typeof` names it. */
type WireType<T> = NonNullable<T> extends number ? 'number' : NonNullable<T> extends string ? 'string' : never;

/**
 * Every key of ErrorDetails with its wire type, in wire order: the one list the
 * copies and the parser read, so a detail missing here (or typed wrong) does not compile.
 */
export const DETAIL_TYPES = {
  index: 'number',
  remoteName: 'string',
  remoteStack: 'string',
  remoteCode: 'string',
  attempts: 'number',
  timeoutMs: 'number',
  thrown: 'string',
} as const satisfies { readonly [K in keyof ErrorDetails]-?: WireType<ErrorDetails[K]> };

/** The keys of ErrorDetails, in wire order. */
export const DETAIL_KEYS = Object.keys(DETAIL_TYPES) as (keyof ErrorDetails)[];

/** Copies the details that are set (an absent one stays absent, not an own property holding undefined). */
function copyDetails(from: ErrorDetails, to: ErrorDetails): void {
  for (const key of DETAIL_KEYS) {
    const v = from[key];
    if (v !== undefined) (to as Record<keyof ErrorDetails, unknown>)[key] = v;
  }
}

/** The plain form of an error on the wire. */
export interface WireError extends ErrorDetails {
  code: ErrorCode;
  message: string;
}

/** The options of every corepool error's constructor: its details and the `cause`. */
export interface CorepoolErrorOptions extends ErrorDetails {
  cause?: unknown;
}

// The details are declared once (ErrorDetails) and merged into the class's type: the
// constructor sets only those present, so an absent one is not an own property.
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export interface CorepoolError extends Readonly<ErrorDetails> {}

/** Base class of every corepool error: a stable `code` and an optional item `index`. */
// eslint-disable-next-line @typescript-eslint/no-unsafe-declaration-merging
export class CorepoolError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, details: CorepoolErrorOptions = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = new.target.name;
    this.code = code;
    copyDetails(details, this);
    if (details.remoteStack !== undefined) this.stack = `${this.stack ?? ''}\n    --- remote ---\n${details.remoteStack}`;
  }

  /** The wire form of this error. */
  toWire(): WireError {
    const w: WireError = { code: this.code, message: this.message };
    copyDetails(this, w);
    return w;
  }
}

type Details = CorepoolErrorOptions;
/* One class per code. Constructors take the message first, like Error. */
export class AuthError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_AUTH, m, d);
  }
}
export class BadMessageError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_BAD_MESSAGE, m, d);
  }
}
export class TooLargeError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_TOO_LARGE, m, d);
  }
}
export class ProtocolVersionError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_PROTOCOL_VERSION, m, d);
  }
}
export class BadArgumentError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_BAD_ARGUMENT, m, d);
  }
}
export class BadTaskError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_BAD_TASK, m, d);
  }
}
export class SourceDisabledError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_SOURCE_DISABLED, m, d);
  }
}
export class NotCloneableError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_NOT_CLONEABLE, m, d);
  }
}
/** A task threw: `index` is the item's input index, `remoteStack` the worker's stack. */
export class TaskError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_TASK_FAILED, m, d);
  }
}
export class TimeoutError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_TIMEOUT, m, d);
  }
}
/** Workers kept dying on this item: `attempts` is how many times it ran. */
export class WorkerCrashedError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_WORKER_CRASHED, m, d);
  }
}
export class CancelledError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_CANCELLED, m, d);
  }
}
export class NoSuchValueError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_NO_SUCH_VALUE, m, d);
  }
}
/** A shared-state operation on a value of the wrong type (named to avoid shadowing TypeError). */
export class ValueTypeError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_TYPE, m, d);
  }
}
export class BadNameError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_BAD_NAME, m, d);
  }
}
export class LockNotHeldError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_LOCK_NOT_HELD, m, d);
  }
}
export class TooManyClientsError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_TOO_MANY_CLIENTS, m, d);
  }
}
/** The daemon cut the connection off because the client did not read its messages. */
export class SlowConsumerError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_SLOW_CONSUMER, m, d);
  }
}
export class FlowControlError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_FLOW_CONTROL, m, d);
  }
}
/** A per-client limit was reached (the message names it); nothing was changed. */
export class LimitError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_LIMIT, m, d);
  }
}
/** The state store is full: the write was not applied. */
export class NoSpaceError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_NO_SPACE, m, d);
  }
}
export class ReplyDroppedError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_REPLY_DROPPED, m, d);
  }
}
export class ShuttingDownError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_SHUTTING_DOWN, m, d);
  }
}
export class ConnectionError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_CONNECTION, m, d);
  }
}
export class ClosedError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_CLOSED, m, d);
  }
}
/** Cluster mode: the Redis given does not answer. */
export class ClusterUnreachableError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_CLUSTER_UNREACHABLE, m, d);
  }
}
/** Cluster mode: the Redis given is not fit for a cluster (the message gives the fix). */
export class ClusterRefusedError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_CLUSTER_REFUSED, m, d);
  }
}
/** Cluster mode: the daemon cannot reach Redis or lost its membership; nothing was applied. */
export class UnavailableError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_UNAVAILABLE, m, d);
  }
}
/** `daemon reload` while a reload already runs. */
export class ReloadRunningError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_RELOAD_RUNNING, m, d);
  }
}
/** A batch pinned to code a reload replaced could not finish on it. */
export class CodeReplacedError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_CODE_REPLACED, m, d);
  }
}
/** The worker initializer failed: no task runs on that worker. */
export class InitFailedError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_INIT_FAILED, m, d);
  }
}
/** `daemon start` on a data dir a daemon already runs on. */
export class DaemonRunningError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_DAEMON_RUNNING, m, d);
  }
}
export class InternalError extends CorepoolError {
  constructor(m: string, d?: Details) {
    super(ErrorCode.E_INTERNAL, m, d);
  }
}

const CLASSES: Record<ErrorCode, new (m: string, d?: Details) => CorepoolError> = {
  E_AUTH: AuthError,
  E_BAD_MESSAGE: BadMessageError,
  E_TOO_LARGE: TooLargeError,
  E_PROTOCOL_VERSION: ProtocolVersionError,
  E_BAD_ARGUMENT: BadArgumentError,
  E_BAD_TASK: BadTaskError,
  E_SOURCE_DISABLED: SourceDisabledError,
  E_NOT_CLONEABLE: NotCloneableError,
  E_TASK_FAILED: TaskError,
  E_TIMEOUT: TimeoutError,
  E_WORKER_CRASHED: WorkerCrashedError,
  E_CANCELLED: CancelledError,
  E_NO_SUCH_VALUE: NoSuchValueError,
  E_TYPE: ValueTypeError,
  E_BAD_NAME: BadNameError,
  E_LOCK_NOT_HELD: LockNotHeldError,
  E_TOO_MANY_CLIENTS: TooManyClientsError,
  E_SLOW_CONSUMER: SlowConsumerError,
  E_FLOW_CONTROL: FlowControlError,
  E_LIMIT: LimitError,
  E_NO_SPACE: NoSpaceError,
  E_REPLY_DROPPED: ReplyDroppedError,
  E_SHUTTING_DOWN: ShuttingDownError,
  E_CONNECTION: ConnectionError,
  E_CLOSED: ClosedError,
  E_CLUSTER_UNREACHABLE: ClusterUnreachableError,
  E_CLUSTER_REFUSED: ClusterRefusedError,
  E_UNAVAILABLE: UnavailableError,
  E_RELOAD_RUNNING: ReloadRunningError,
  E_CODE_REPLACED: CodeReplacedError,
  E_INIT_FAILED: InitFailedError,
  E_DAEMON_RUNNING: DaemonRunningError,
  E_INTERNAL: InternalError,
};

/** The error class for a code. */
export function errorClass(code: ErrorCode): new (m: string, d?: Details) => CorepoolError {
  return CLASSES[code];
}

/** Rebuilds the error a peer sent, as the class of its code. */
export function fromWire(w: WireError): CorepoolError {
  const code = isErrorCode(w.code) ? w.code : ErrorCode.E_INTERNAL;
  const { code: _c, message, ...details } = w;
  return new CLASSES[code](String(message), details);
}

/** Any thrown value as a CorepoolError: coded errors pass through, others become `fallback`. */
export function toCorepoolError(err: unknown, fallback: ErrorCode = ErrorCode.E_INTERNAL): CorepoolError {
  if (err instanceof CorepoolError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CLASSES[fallback](message, { cause: err });
}
