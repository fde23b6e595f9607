/**
 * @corepool/protocol/internal: everything public plus what only the SDK and
 * the daemon share (send coalescing, message parsing and validation, the
 * request table, scheduling tunables and daemon limits). Not a stable API:
 * it changes with the packages that use it, as nats.js's internal entry does.
 */
export * from './index.js';
export { CloseCode } from './codes.js';
export { errorClass, toCorepoolError } from './errors.js';
export { checkOptionKeys } from './option-keys.js';
export { libcFamily, withLibcHint } from './libc-hint.js';
export { checkDaemonUrl, daemonUrls, envUrls, isLocalUrl } from './daemon-urls.js';
export { parseProcStat, processRuns, recordedDaemon } from './daemon-record.js';
export { countsFit, MSGPACK_HEADER } from './msgpack-counts.js';
export type { ProcStat, RecordedDaemon } from './daemon-record.js';
export {
  PRE_AUTH_MAX_PAYLOAD,
  LARGEST_MAX_PAYLOAD,
  AUTH_DEADLINE_MS,
  MAX_CHUNK_ITEMS,
  CHUNK_TARGET_MS,
  SOLO_CHUNK_TARGET_MS,
  CUT_SOLO_CHUNK_TARGET_MS,
  CUT_MAX_PAYLOAD_BYTES,
  MAX_SOLO_CHUNK_TARGET_MS,
  DEFAULT_MAX_CLIENTS,
  DEFAULT_HEARTBEAT_MS,
  SEND_HIGH_WATER,
  SEND_HARD_CAP,
  SEND_SOFT_CAP_MS,
  RSS_WATCH_MS,
  RSS_IDLE_WATCH_MS,
  CANCEL_GRACE_MS,
  STEAL_AFTER_MS,
  MAX_OPEN_BATCHES,
  MAX_QUEUED_CHUNKS,
  MAX_QUEUED_BYTES,
  RELOAD_GRACE_MS,
  MAX_RELOAD_GRACE_MS,
  DEFAULT_INIT_TIMEOUT_MS,
  MAX_CLOSING_IDS,
} from './limits.js';
export {
  VersionReply,
  replyDataBytes,
  EncodedValue,
  ENVELOPE_ROOM,
  arrayHeaderBytes,
  putArrayHeader,
  encodeCheckedData,
  encodePairs,
  encodeReply,
  type ReplyValue,
} from './codec.js';
export { findUncloneable } from './cloneable.js';
export { sha256 } from './sha256.js';
export { own } from './own-bytes.js';
export { SourceLru, WORKER_SOURCES, PRIMARY_SOURCES, CONNECTION_SOURCES, CLIENT_SOURCES, MAX_KEPT_SOURCE_CHARS } from './source-lru.js';
export type { SourceBounds } from './source-lru.js';
export { parseClientMessage, parseServerMessage, checkName, checkDictKey } from './parse.js';
export { STATE_OPS } from './messages.js';
export { RESEND_POLICY } from './resend-policy.js';
export type { ResendPolicy } from './resend-policy.js';
export { ListenerRegistry } from './handles/listeners.js';
export { Outbox, MAX_BATCH_MESSAGES } from './outbox.js';
export { wsFrame, wsFrameHead, FRAME_COPY_LIMIT } from './ws-frame.js';
export { SplitMessage, encodeMessageSplit, SPLIT_PAYLOAD_BYTES } from './split-message.js';
export { callUser, rethrowLater } from './user-callback.js';
export { PendingRequests } from './pending-requests.js';
export type { PendingRequest, ReplyOutcome } from './pending-requests.js';
export { QueuedIterator } from './queued-iterator.js';
export type { QueuedIteratorOptions } from './queued-iterator.js';
