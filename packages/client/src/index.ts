/**
 * @corepool/client: connect to the corepool daemon, run batches, share state.
 * The values are `connect`, `task` and the error classes; the client and the
 * shared-state handles come from `connect()` and its methods, so they are
 * exported as types only (they cannot be constructed by hand).
 */
export { connect } from './connect.js';
export type { Client, ClientEvents, Settled } from './client.js';
export { task } from './task.js';
export type { Task, TaskFunction, ModuleTask } from './task.js';
export type { ConnectOptions, MapOptions, ImapOptions, SubmitOptions } from './options.js';
export {
  ErrorCode,
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
} from '@corepool/protocol';
export type {
  Value,
  ValueOptions,
  Queue,
  Dict,
  Lock,
  LockGrant,
  TimeoutOptions,
  TaskContext,
  DaemonStatus,
  ClusterStatus,
  ClusterDaemonStatus,
  WorkerStatus,
  ClientStatus,
  StateListEntry,
  StateListPage,
  WireError,
  ErrorDetails,
  CorepoolErrorOptions,
} from '@corepool/protocol';
