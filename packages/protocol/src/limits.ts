/**
 * Limits and defaults shared by the client and the daemon, with their
 * arithmetic spelled out. Each is the default of a daemon or SDK option.
 */

/** Protocol version spoken in `hello`; bumped on any incompatible change. */
export const PROTOCOL_VERSION = 1;
/** TCP port of the local daemon. */
export const DEFAULT_PORT = 7420;
/** Loopback only, like Redis's `bind 127.0.0.1`. */
export const DEFAULT_HOST = '127.0.0.1';
/** Largest frame accepted after authentication (msgpack inflates up to ~64x in memory). */
export const DEFAULT_MAX_PAYLOAD = 8 * 1024 * 1024;
/** Largest --max-payload a daemon accepts: no welcome announces a larger frame limit. */
export const LARGEST_MAX_PAYLOAD = 1024 * 1024 * 1024;
/**
 * Room a frame keeps for the message around one encoded value (an item chunk,
 * a result, a state operand): the largest value is maxPayload less this.
 */
export const ENVELOPE_BYTES = 64 * 1024;
/** Largest frame accepted before authentication: `hello` is tiny. */
export const PRE_AUTH_MAX_PAYLOAD = 4 * 1024;
/** A connection must authenticate within this time. */
export const AUTH_DEADLINE_MS = 5 * 1000;
/** Longest shared-state name. */
export const MAX_NAME_LENGTH = 256;
/** Largest task source. */
export const MAX_SOURCE_LENGTH = 1024 * 1024;
/** Longest dict key in UTF-8 bytes (an LMDB key holds the dict's name and the key, at most 1978 bytes). */
export const MAX_DICT_KEY_BYTES = 1024;
/** Longest module URL of a module task, in characters. */
export const MAX_TASK_URL_LENGTH = 4096;
/**
 * Most items in one chunk, whatever their cost. A chunk's arrays (the items taken from the
 * input, the decoded items and results in the worker, the results decoded in the SDK) then stay
 * under V8's largest regular object, 128 KB of 8-byte slots: a larger array goes to the
 * large-object space, whose pages are mapped and faulted in afresh for each one. Measured with
 * 1M trivial items: 65,536 items a chunk took 233-327 ms a map, 16,000 took 191-247, with the
 * workers' CPU halved (Array.prototype.slice of 16,384 items costs 40x that of 16,000 there).
 */
export const MAX_CHUNK_ITEMS = 16_000;
/** Work each chunk aims at while other clients wait for the pool: short, for fairness and quick cancel. */
export const CHUNK_TARGET_MS = 20;
/**
 * Work each chunk aims at while the batch's client is the only one with queued
 * work: longer, so per-chunk overhead (two socket hops, on the same cores as the
 * workers) stays near 1%. A client that arrives waits at most about two of these.
 * This is for a daemon whose welcome says nothing (`soloChunkMs`), one that cannot
 * cut a running chunk short (cluster mode).
 */
export const SOLO_CHUNK_TARGET_MS = 100;
/**
 * The same on a daemon that cuts a running chunk short when another client's first
 * chunk arrives (the worker stops after its current item; the rest goes back to the
 * queue), as it says in its welcome: a client that arrives waits for one item, not a
 * chunk, so a lone batch may take longer chunks. Measured with 10,000 x 1 ms items on
 * 2 workers: 100 ms chunks 0.93-0.97 efficiency, 500 ms chunks 0.964-0.979.
 */
export const CUT_SOLO_CHUNK_TARGET_MS = 500;
/**
 * A daemon cuts a chunk short only if its items' payload is at most this: the rest goes to a
 * worker with the whole payload again. A client sizes a chunk past SOLO_CHUNK_TARGET_MS only
 * within it, so that a lone batch's long chunks can always be cut for a newcomer.
 */
export const CUT_MAX_PAYLOAD_BYTES = 64 * 1024;
/** Longest solo chunk a welcome may ask for; a larger `soloChunkMs` is taken as this. */
export const MAX_SOLO_CHUNK_TARGET_MS = 2_000;
/** Retries of an item whose worker died, before WorkerCrashedError. */
export const DEFAULT_RETRIES = 2;
/** Most clients at once; the next one is closed with 1013. */
export const DEFAULT_MAX_CLIENTS = 10_000;
/** Server ping interval; a connection with no pong by the next ping is terminated. */
export const DEFAULT_HEARTBEAT_MS = 30 * 1000;
/** Above this many buffered bytes a connection gets no new results and coalesced pushes. */
export const SEND_HIGH_WATER = 8 * 1024 * 1024;
/** Past this many buffered bytes a connection is closed. */
export const SEND_HARD_CAP = 32 * 1024 * 1024;
/** A connection above SEND_HIGH_WATER for this long is closed (Redis: pubsub 32mb 8mb 60). */
export const SEND_SOFT_CAP_MS = 60 * 1000;
/** How often the primary reads each worker's RSS when --worker-rss-mb is set, while a worker holds a chunk. */
export const RSS_WATCH_MS = 100;
/** The same while every worker is idle: only a callback a task left behind can grow a worker then. */
export const RSS_IDLE_WATCH_MS = 1000;
/** Time a running chunk gets to stop after a cancel before its worker is killed. */
export const CANCEL_GRACE_MS = 1000;
/**
 * A worker's running chunk counts as long once it has run this long (chunks
 * aim at CHUNK_TARGET_MS): no chunk is queued behind it, and one already
 * waiting behind it moves to a worker that goes idle (work stealing).
 */
export const STEAL_AFTER_MS = 50;
/** Most batches a client may have open in the daemon (not yet finished, closed or cancelled); E_LIMIT beyond. */
export const MAX_OPEN_BATCHES = 1024;
/** Chunks of one client the daemon queues (not yet on a worker); past them, a chunk's batch fails with E_FLOW_CONTROL. */
export const MAX_QUEUED_CHUNKS = 1024;
/** Bytes of one client's chunks the daemon queues; past them, as MAX_QUEUED_CHUNKS. The SDK keeps half of it in flight at most. */
export const MAX_QUEUED_BYTES = 128 * 1024 * 1024;
/** Longest timeoutMs: Node runs a timer of 2^31 ms or more at once, so a longer one would expire immediately. */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;
/**
 * Deepest nesting of an item, result or shared value: msgpackr recurses once
 * per level and overflows its stack near 700 levels of Sets (about 1,200 of
 * objects), so data nested deeper is refused with E_NOT_CLONEABLE, with room
 * to spare for the caller's own stack.
 */
export const MAX_DATA_DEPTH = 512;
/** A batch's `priority` (higher first among one client's own batches): an integer in this range, default 0. */
export const MIN_PRIORITY = -1000;
export const MAX_PRIORITY = 1000;
/** Largest `weight` a client may ask for on the wire; the daemon bounds it further (--max-client-weight). */
export const MAX_WEIGHT = 1000;
/** Largest `maxWorkers` a client may ask for on the wire. */
export const MAX_CLIENT_WORKERS = 1_000_000;

/** `daemon reload`: how long batches pinned to the old code may hold back the last old worker, by default. */
export const RELOAD_GRACE_MS = 60_000;
/** Largest `graceMs` a reload takes (a day). */
export const MAX_RELOAD_GRACE_MS = 86_400_000;
/** `daemon start --init`: how long a worker's initializer may take, by default. */
export const DEFAULT_INIT_TIMEOUT_MS = 30_000;
/**
 * Request ids an `ack.closing` may name, and the replies the daemon keeps for a client instance
 * at most (replay.ts MAX_PER_INSTANCE is this number); the SDK sends its newest if it has more unanswered.
 */
export const MAX_CLOSING_IDS = 100_000;
