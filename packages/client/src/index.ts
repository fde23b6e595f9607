/** @corepool/client: connect to the corepool daemon, run batches, share state. */
export { connect } from './connect.js';
export { Client } from './client.js';
export type { Settled } from './client.js';
export { task } from './task.js';
export type { Task, TaskFunction, ModuleTask, TaskContext } from './task.js';
export type { ConnectOptions, MapOptions, ImapOptions, SubmitOptions } from './options.js';
export {
  ErrorCode, CorepoolError, AuthError, BadMessageError, TooLargeError, ProtocolVersionError, BadArgumentError,
  BadTaskError, SourceDisabledError, NotCloneableError, TaskError, TimeoutError, WorkerCrashedError,
  CancelledError, NoSuchValueError, ValueTypeError, BadNameError, LockNotHeldError, TooManyClientsError, SlowConsumerError,
  FlowControlError, LimitError, NoSpaceError, ShuttingDownError, ConnectionError, ClosedError, InternalError,
  Value, Queue, Dict, Lock,
} from '@corepool/protocol';
export type { DaemonStatus, WireError } from '@corepool/protocol';
