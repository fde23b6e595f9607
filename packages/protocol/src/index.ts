/** @corepool/protocol: the wire format, codecs, limits and error codes shared by client and daemon. */
export { ErrorCode, CloseCode, isErrorCode } from './codes.js';
export {
  CorepoolError, AuthError, BadMessageError, TooLargeError, ProtocolVersionError, BadArgumentError,
  BadTaskError, SourceDisabledError, NotCloneableError, TaskError, TimeoutError, WorkerCrashedError,
  CancelledError, NoSuchValueError, ValueTypeError, BadNameError, LockNotHeldError, TooManyClientsError,
  SlowConsumerError, FlowControlError, LimitError, NoSpaceError, ShuttingDownError, ConnectionError, ClosedError, InternalError,
  errorClass, fromWire, toCorepoolError,
} from './errors.js';
export type { WireError } from './errors.js';
export * from './limits.js';
export { encodeMessage, decodeMessage, encodeData, encodeCheckedData, decodeData } from './codec.js';
export { findUncloneable } from './cloneable.js';
export { sourceHash } from './task-hash.js';
export { parseClientMessage, parseServerMessage, checkName, checkDictKey } from './parse.js';
export { STATE_OPS, REPLAYED_OPS } from './messages.js';
export type {
  TaskSpec, Hello, BatchOpen, BatchChunk, BatchCancel, BatchClose, StateOp, StateRequest, StateMessage,
  StatusRequest, StopRequest, ClientMessage, Welcome, ChunkResult, BatchError, Reply, Push, ErrorMessage,
  ServerMessage, DaemonStatus,
} from './messages.js';
export { Value } from './handles/value.js';
export type { ValueOptions } from './handles/value.js';
export { Queue } from './handles/queue.js';
export { Dict } from './handles/dict.js';
export { Lock } from './handles/lock.js';
export type { LockGrant } from './handles/lock.js';
export type { StateTransport, TimeoutOptions } from './handles/transport.js';
export { ListenerRegistry } from './handles/listeners.js';
export { Outbox, MAX_BATCH_MESSAGES } from './outbox.js';
export { callUser, rethrowLater } from './user-callback.js';
