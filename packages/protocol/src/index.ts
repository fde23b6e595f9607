/**
 * @corepool/protocol, the public entry: the wire messages and their codec,
 * the errors with their stable codes, the limits users meet, the shared-state
 * handles and the task context the SDK hands out. What only the SDK and the
 * daemon use (send queues, parsers, tuning) is behind `@corepool/protocol/internal`.
 */
export { ErrorCode, isErrorCode } from './codes.js';
export {
  CorepoolError,
  AuthError,
  BadMessageError,
  TooLargeError,
  ProtocolVersionError,
  BadArgumentError,
  BadTaskError,
  SourceDisabledError,
  NotCloneableError,
  TaskError,
  TimeoutError,
  WorkerCrashedError,
  CancelledError,
  NoSuchValueError,
  ValueTypeError,
  BadNameError,
  LockNotHeldError,
  TooManyClientsError,
  SlowConsumerError,
  FlowControlError,
  LimitError,
  NoSpaceError,
  ReplyDroppedError,
  ShuttingDownError,
  ConnectionError,
  ClosedError,
  ClusterUnreachableError,
  ClusterRefusedError,
  UnavailableError,
  ReloadRunningError,
  CodeReplacedError,
  InitFailedError,
  DaemonRunningError,
  InternalError,
  fromWire,
} from './errors.js';
export type { WireError, ErrorDetails, CorepoolErrorOptions } from './errors.js';
export {
  PROTOCOL_VERSION,
  DEFAULT_PORT,
  DEFAULT_HOST,
  DEFAULT_MAX_PAYLOAD,
  ENVELOPE_BYTES,
  DEFAULT_RETRIES,
  MAX_NAME_LENGTH,
  MAX_SOURCE_LENGTH,
  MAX_DICT_KEY_BYTES,
  MAX_TASK_URL_LENGTH,
  MAX_TIMEOUT_MS,
  MAX_DATA_DEPTH,
  MIN_PRIORITY,
  MAX_PRIORITY,
  MAX_WEIGHT,
  MAX_CLIENT_WORKERS,
} from './limits.js';
export { encodeMessage, decodeMessage, encodeData, decodeData } from './codec.js';
export { sourceHash } from './task-hash.js';
export type {
  TaskSpec,
  Hello,
  BatchOpen,
  BatchChunk,
  BatchCancel,
  BatchClose,
  StateOp,
  StateRequest,
  StateMessage,
  StatusRequest,
  AckMessage,
  StopRequest,
  ReloadRequest,
  ReloadResult,
  ClientMessage,
  Welcome,
  ChunkResult,
  BatchError,
  Reply,
  Push,
  ErrorMessage,
  ServerMessage,
  DaemonStatus,
  ClusterStatus,
  ClusterDaemonStatus,
  WorkerStatus,
  ClientStatus,
  StateListEntry,
  StateListPage,
} from './messages.js';
export { Value } from './handles/value.js';
export type { ValueOptions } from './handles/value.js';
export { Queue } from './handles/queue.js';
export { Dict } from './handles/dict.js';
export { Lock } from './handles/lock.js';
export type { LockGrant } from './handles/lock.js';
export type { StateTransport, TimeoutOptions } from './handles/transport.js';
export type { TaskContext } from './task-context.js';
