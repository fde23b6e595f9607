/**
 * The public facade: `map`, `imap`, `submit`, `mapSettled` over batches, and
 * the shared-state handles over this client's connection. It owns the chunk
 * slots shared by its batches (so ten thousand concurrent `submit`s queue here,
 * not in the daemon) and routes every daemon message to its batch call
 * (batch-call.ts) or request (the protocol's PendingRequests).
 *
 * Just over 400 lines: the public methods and their argument checks; what
 * each call does is in batch-call.ts, connection.ts and the protocol's handles.
 */
import { abortError } from './abort-error.js';
import { randomBytes } from 'node:crypto';
import {
  BadArgumentError,
  CancelledError,
  ClosedError,
  ConnectionError,
  type CorepoolError,
  DEFAULT_MAX_PAYLOAD,
  ENVELOPE_BYTES,
  Dict,
  LimitError,
  ListenerRegistry,
  Lock,
  MAX_OPEN_BATCHES,
  PendingRequests,
  Queue,
  QueuedIterator,
  RESEND_POLICY,
  TooLargeError,
  Value,
  SOLO_CHUNK_TARGET_MS,
  callUser,
  fromWire,
  replyDataBytes,
  type ClientMessage,
  type DaemonStatus,
  type Push,
  type ServerMessage,
  type StateListEntry,
  type StateListPage,
  type StateRequest,
  type ValueOptions,
  type Welcome,
  checkOptionKeys,
  MAX_CLOSING_IDS,
  MAX_QUEUED_BYTES,
} from '@corepool/protocol/internal';
import { BatchCall, type BatchHost, type BatchSink, type Outcome } from './batch-call.js';
import { CallerStack } from './caller-stack.js';
import { SentSources } from './sent-sources.js';
import { Connection, type OpenSocket } from './connection.js';
import { DEFAULT_RETRIES, checkMapOptions, type ImapOptions, type MapOptions, type SubmitOptions } from './options.js';
import { toTaskSpec, type Task } from './task.js';
import { joinRanges } from './join-ranges.js';

/** One item's outcome in `mapSettled`, like Promise.allSettled. */
export type Settled<R> = { status: 'fulfilled'; value: R } | { status: 'rejected'; reason: CorepoolError };

/** Items a client may have in flight across all its batches. */
const MAX_CLIENT_CHUNKS = 256;
/**
 * Bytes of chunks a client may have in flight across all its batches (past them, the next chunk waits for results):
 * half of what the daemon queues for one client, since some of it may be queued there while the rest runs.
 */
const MAX_CLIENT_INFLIGHT_BYTES = MAX_QUEUED_BYTES / 2;
/** Replies that may arrive with no request telling the daemon so before an `ack` message does (see #noteReply). */
const ACK_EVERY = 1024;
/**
 * Bytes of replies that may arrive with no request telling the daemon so before an `ack` message
 * does: the daemon keeps each reply until it is acknowledged, and 1,024 replies of 8 MiB items
 * would be 8 GiB of the daemon's memory.
 */
const ACK_BYTES = 8 * 1024 * 1024;
/**
 * How long close() waits for the replies of requests already sent, so that their outcome is known:
 * a write whose reply was still on its way was applied, and rejecting it E_CLOSED made an app that
 * retries on E_CLOSED apply it twice. Blocked calls are cancelled instead (their wait has no bound).
 */
export const CLOSE_GRACE_MS = 2000;
const CLIENT_EVENTS = new Set<string>(['disconnected', 'reconnected', 'offline', 'closed']);
/** Settled once: batches start in a job of its `then`. */
const RESOLVED = Promise.resolve();
const LIST_OPTION_KEYS = ['limit', 'cursor', 'kind'];
/** What the client asks the daemon outside a batch. */
type Request = StateRequest | { type: 'status' };

/** What a Client tells the listeners added with `client.on(event, listener)`. */
export interface ClientEvents {
  /** The link to the daemon dropped (`error` says why: E_SHUTTING_DOWN for a daemon stop); reconnecting, work resumes once back. */
  disconnected: [error: CorepoolError];
  /** Back on a daemon after a drop (or after being offline); `url` is the one in use. */
  reconnected: [url: string];
  /** No daemon came back within reconnectTimeoutMs: pending work failed with `error`. The next call tries again. */
  offline: [error: CorepoolError];
  /** Ended for good: close(), or a refusal no retry changes (E_AUTH, E_PROTOCOL_VERSION). */
  closed: [error: CorepoolError];
}

/** A connection to the corepool daemon. Create it with `connect()`. */
export class Client {
  readonly #conn: Connection;
  readonly #batches = new Map<number, BatchCall>();
  readonly #waitingForSlot: BatchCall[] = [];
  readonly #pending = new PendingRequests<Request>();
  /** The highest `ack` the daemon was told on this connection, and replies settled since. */
  #acked = 0;
  #repliesSinceAck = 0;
  #replyBytesSinceAck = 0;
  #ackScheduled = false;
  /** The daemon in use takes `ack` messages (its welcome said so). */
  #acksTaken = false;
  /** The daemon in use takes `ack.closing`, close()'s last word (its welcome said so). */
  #closingAcks = false;
  /** close() under way, or done. */
  #closing: Promise<void> | undefined;
  /** No request acknowledges this rid or above: a get close() cancelled (its item must go back, not be forgotten). */
  #ackCap = Infinity;
  /** close() waits: told when the last pending request is settled. */
  #drained: (() => void) | undefined;
  readonly #listeners = new ListenerRegistry((req) => this.#request(req));
  /** Told when the socket holding this client's locks is lost (the daemon releases them). */
  readonly #linkWatchers = new Set<(err: Error) => void>();
  readonly #host: BatchHost;
  #nextBatch = 1;
  #slots = 0;
  /**
   * Bytes of the chunks in flight across all batches, and the chunks encoded and waiting for room (admitBytes):
   * the daemon queues at most MAX_QUEUED_BYTES of a client's chunks (E_FLOW_CONTROL past them). Bounded by
   * chunk count alone, 200 concurrent submits of 1 MB items of 100 ms sent 200 MB, and 48 of them failed.
   */
  #inflightBytes = 0;
  readonly #waitingForBytes: { b: BatchCall; bytes: number }[] = [];
  #closed: CorepoolError | undefined;
  readonly #eventListeners = new Map<keyof ClientEvents, Set<unknown>>();
  #workers = 1;
  #maxPayload = DEFAULT_MAX_PAYLOAD;
  /** What a chunk may aim at while this client is alone, as the daemon's welcome says. */
  #soloChunkMs = SOLO_CHUNK_TARGET_MS;
  /** The last steering warning a welcome brought. */
  #warned: string | undefined;
  /** The task sources sent on this connection, when the daemon keeps them (its welcome said so). */
  #sentSources: SentSources | undefined;

  /** @internal use connect(); `openSocket` lets a unit test stand in for the daemon. */
  constructor(
    url: string | readonly string[],
    token: string,
    name: string,
    reconnectTimeoutMs: number,
    openSocket?: OpenSocket,
    steering: {
      weight?: number | undefined;
      maxWorkers?: number | undefined;
      refuseToken?: ((url: string) => string | undefined) | undefined;
    } = {},
  ) {
    const instance = randomBytes(12).toString('base64url');
    const urls = typeof url === 'string' ? [url] : url;
    this.#conn = new Connection(
      {
        urls,
        token,
        name,
        instance,
        reconnectTimeoutMs,
        openSocket,
        weight: steering.weight,
        maxWorkers: steering.maxWorkers,
        refuseToken: steering.refuseToken,
        // A lock grant (or an acquire) watches the link: the link is then checked sooner (Connection's guarded).
        guarded: () => this.#linkWatchers.size > 0,
      },
      {
        message: (m) => this.#onMessage(m),
        up: (w, reconnected) => this.#onUp(w, reconnected),
        down: (err) => this.#onDown(err),
        fatal: (err) => this.#fail(err),
        expired: (err) => this.#offline(err),
      },
    );
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the host's getters run with the host as this
    const client = this;
    this.#host = {
      send: (m: ClientMessage) => this.#conn.send(m),
      wireTask: (spec) => this.#sentSources?.wire(spec) ?? spec,
      get workers() {
        return client.#workers;
      },
      failsOver: urls.length > 1,
      get maxPayload() {
        // Room for the envelope around a chunk's items.
        return client.#maxPayload - ENVELOPE_BYTES;
      },
      get soloChunkMs() {
        return client.#soloChunkMs;
      },
      acquireSlot: (b, force) => {
        if (this.#slots < MAX_CLIENT_CHUNKS || force === true) {
          this.#slots++;
          return true;
        }
        if (!this.#waitingForSlot.includes(b)) {
          // Highest priority first, first come first within one priority.
          const at = this.#waitingForSlot.findIndex((w) => w.priority < b.priority);
          if (at < 0) this.#waitingForSlot.push(b);
          else this.#waitingForSlot.splice(at, 0, b);
        }
        return false;
      },
      admitBytes: (b, bytes) => {
        // The rest wait their turn, in order.
        if (this.#waitingForBytes.length === 0 && this.#bytesFit(bytes)) {
          this.#inflightBytes += bytes;
          return true;
        }
        this.#waitingForBytes.push({ b, bytes });
        return false;
      },
      releaseBytes: (bytes) => {
        this.#inflightBytes -= bytes;
        for (let w = this.#waitingForBytes[0]; w !== undefined; w = this.#waitingForBytes[0]) {
          if (!this.#bytesFit(w.bytes)) break;
          this.#waitingForBytes.shift();
          this.#inflightBytes += w.bytes;
          w.b.unpark();
        }
      },
      releaseSlot: () => {
        this.#slots--;
        const next = this.#waitingForSlot.shift();
        next?.pump();
      },
      forget: (b) => {
        this.#batches.delete(b.id);
        const parked = this.#waitingForBytes.findIndex((w) => w.b === b);
        if (parked >= 0) this.#waitingForBytes.splice(parked, 1);
        const i = this.#waitingForSlot.indexOf(b);
        if (i >= 0) this.#waitingForSlot.splice(i, 1);
      },
    };
  }

  /** @internal */
  async open(): Promise<Welcome> {
    return this.#conn.open();
  }

  /** The URL of the daemon this client is connected to (while reconnecting: the one it is trying). */
  get url(): string {
    return this.#conn.url;
  }

  /**
   * Listens to the client's connection events (`disconnected`, `reconnected`, `offline`, `closed`),
   * for a service to log and alert on. A listener that throws does not disturb the client (its error is rethrown on a tick of its own).
   */
  on<E extends keyof ClientEvents>(event: E, listener: (...args: ClientEvents[E]) => void): this {
    if (!CLIENT_EVENTS.has(event))
      throw new BadArgumentError(`unknown client event ${JSON.stringify(event)}: one of ${[...CLIENT_EVENTS].join(', ')}`);
    if (typeof listener !== 'function') throw new BadArgumentError('listener must be a function');
    let set = this.#eventListeners.get(event);
    if (set === undefined) this.#eventListeners.set(event, (set = new Set()));
    set.add(listener);
    return this;
  }

  /** Removes a listener added with `on`. */
  off<E extends keyof ClientEvents>(event: E, listener: (...args: ClientEvents[E]) => void): this {
    this.#eventListeners.get(event)?.delete(listener);
    return this;
  }

  #emit<E extends keyof ClientEvents>(event: E, ...args: ClientEvents[E]): void {
    for (const listener of [...(this.#eventListeners.get(event) ?? [])]) callUser(listener as (...a: ClientEvents[E]) => void, ...args);
  }

  /** Number of workers in the daemon's pool. */
  get workers(): number {
    return this.#workers;
  }

  /** Runs `fn(item, ctx)` on every item in the pool; resolves to the results in input order. */
  map<I, R>(fn: Task<I, R>, items: Iterable<I> | AsyncIterable<I>, options?: MapOptions): Promise<Awaited<R>[]> {
    const caller = new CallerStack(Client.prototype.map);
    try {
      return this.#map(fn, items, options, caller, 'map');
    } catch (err) {
      // Called on something that is not a client (an unbound `map`): a rejection, as from any async method.
      return Promise.reject(err);
    }
  }

  async #map<I, R>(
    fn: Task<I, R>,
    items: Iterable<I> | AsyncIterable<I>,
    options: MapOptions | undefined,
    caller: CallerStack,
    call: 'map' | 'submit',
  ): Promise<Awaited<R>[]> {
    // Results arrive as ranges in any order; they are kept as ranges and laid out once at the end.
    const ranges: [number, unknown[]][] = [];
    await new Promise<void>((resolve, reject) => {
      let failed = false;
      const batch = this.#startBatch(fn, items, options, caller, call, {
        range: (start, values) => ranges.push([start, values]),
        item: (index, o) => {
          if (o.ok) ranges.push([index, [o.value]]);
          else if (!failed) {
            // The first failure rejects map; the rest of the batch is cancelled so the pool is free again.
            failed = true;
            batch?.cancel(o.error);
          }
        },
        end: (err) => (err === undefined ? resolve() : reject(err)),
        wantsMore: () => true,
      });
    });
    if (ranges.length === 1) return ranges[0]![1] as Awaited<R>[];
    ranges.sort((a, b) => a[0] - b[0]);
    return joinRanges(ranges) as Awaited<R>[];
  }

  /** Like `map`, but one outcome per item, like Promise.allSettled: failures do not stop the batch. */
  async mapSettled<I, R>(fn: Task<I, R>, items: Iterable<I> | AsyncIterable<I>, options?: MapOptions): Promise<Settled<Awaited<R>>[]> {
    // Before the first await: the app's frames are still right below this one.
    const caller = new CallerStack(Client.prototype.mapSettled);
    const results: Settled<Awaited<R>>[] = [];
    await new Promise<void>((resolve, reject) => {
      this.#startBatch(fn, items, options, caller, 'mapSettled', {
        item: (index, o) => {
          results[index] = o.ok ? { status: 'fulfilled', value: o.value as Awaited<R> } : { status: 'rejected', reason: o.error };
        },
        end: (err) => (err === undefined ? resolve() : reject(err)),
        wantsMore: () => true,
      });
    });
    return results;
  }

  /** Runs one task; resolves to its result. */
  async submit<I, R>(fn: Task<I, R>, item: I, options?: SubmitOptions): Promise<Awaited<R>> {
    const caller = new CallerStack(Client.prototype.submit);
    // Checked as submit's own (a chunkSize is not one of them) before it becomes a one-item map.
    checkMapOptions(options, 'submit');
    const [r] = await this.#map(fn, [item], { ...options, chunkSize: 1 }, caller, 'submit');
    return r as Awaited<R>;
  }

  /**
   * Streams results as they come: in input order (default) or `ordered: false`
   * for arrival order. Breaking out of the loop cancels the rest of the batch.
   */
  imap<I, R>(fn: Task<I, R>, items: Iterable<I> | AsyncIterable<I>, options?: ImapOptions): AsyncGenerator<Awaited<R>, void, undefined> {
    const caller = new CallerStack(Client.prototype.imap);
    try {
      return this.#imap(fn, items, options, caller);
    } catch (err) {
      // Called on something that is not a client: the error comes from the first next(), as from any async generator.
      return failing(err);
    }
  }

  async *#imap<I, R>(
    fn: Task<I, R>,
    items: Iterable<I> | AsyncIterable<I>,
    options: ImapOptions | undefined,
    caller: CallerStack,
  ): AsyncGenerator<Awaited<R>, void, undefined> {
    const ordered = options?.ordered ?? true;
    const outcomes = new QueuedIterator<Outcome>();
    // In input order, an outcome waits here until every earlier one is queued.
    const early = new Map<number, Outcome>();
    let cursor = 0;
    const batch = this.#startBatch(fn, items, options, caller, 'imap', {
      item: (index, o) => {
        if (!ordered) {
          outcomes.push(o);
          return;
        }
        early.set(index, o);
        for (let next = early.get(cursor); next !== undefined; next = early.get(cursor)) {
          early.delete(cursor++);
          outcomes.push(next);
        }
      },
      // Cancelled by its signal: the loop ends at its next step, as map rejects at once, not after the results read ahead.
      end: (err) => outcomes.end(err, options?.signal?.aborted === true),
      // Read-ahead is bounded by the in-flight window: results waiting for a slow consumer stop the reading
      // of input once they fill one window, so an infinite source is read about as fast as it is consumed.
      wantsMore: () => batch?.roomFor(early.size + outcomes.length) ?? true,
    });
    try {
      for await (const o of outcomes) {
        batch?.pump();
        if (!o.ok) throw o.error;
        yield o.value as Awaited<R>;
      }
    } finally {
      if (!outcomes.ended) batch?.cancel(new CancelledError('imap consumer stopped'));
    }
  }

  /** The shared Value `name`; `initial` creates it if it does not exist, never overwriting. */
  value<T = unknown>(name: string, options?: ValueOptions<T>): Value<T> {
    return new Value<T>(this.#transport, name, options);
  }

  /** The shared FIFO Queue `name`. */
  queue<T = unknown>(name: string): Queue<T> {
    return new Queue<T>(this.#transport, name);
  }

  /** The shared Dict `name`. */
  dict<T = unknown>(name: string): Dict<T> {
    return new Dict<T>(this.#transport, name);
  }

  /** The shared Lock `name`; released if this client disconnects (its grant's signal aborts). */
  lock(name: string): Lock {
    return new Lock(this.#transport, name);
  }

  /**
   * One page of the shared state's names, with their kinds (values, then queues, dicts and
   * held locks; a value with its version, size and a preview, a queue or dict with its size).
   * At most `limit` entries (default 100, capped at 200 by the daemon; in cluster mode a page
   * may hold a few more or fewer); pass the page's `next` as `cursor` for the next one. A queue
   * or dict with no items is not listed. `kind` keeps only that kind (filtered per page, so a
   * page may hold fewer entries while `next` is set).
   */
  async list(options?: { limit?: number; cursor?: string; kind?: StateListEntry['kind'] }): Promise<StateListPage> {
    if (options !== undefined && (typeof options !== 'object' || options === null)) {
      throw new BadArgumentError('options must be an object such as { limit: 100 }');
    }
    if (options !== undefined) checkOptionKeys(options, LIST_OPTION_KEYS, 'list');
    const limit = options?.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000)
      throw new BadArgumentError('options.limit must be an integer from 1 to 10000');
    const cursor = options?.cursor;
    // A page's `next` is digits (an offset, or in cluster mode Redis's SCAN cursor): a made-up one listed from the start.
    if (cursor !== undefined && (typeof cursor !== 'string' || !/^\d{1,20}$/.test(cursor))) {
      throw new BadArgumentError("options.cursor must be a previous page's `next`");
    }
    const kind = options?.kind;
    if (kind !== undefined && !['value', 'queue', 'dict', 'lock'].includes(kind)) {
      throw new BadArgumentError('options.kind must be "value", "queue", "dict" or "lock"');
    }
    const req: StateRequest = { op: 'state.list', name: '', limit, ...(cursor === undefined ? {} : { cursor }) };
    const page = (await this.#request(req)) as StateListPage;
    return kind === undefined ? page : { ...page, entries: page.entries.filter((e) => e.kind === kind) };
  }

  /** What `corepool daemon status --json` shows. */
  status(): Promise<DaemonStatus> {
    return this.#request({ type: 'status' }) as Promise<DaemonStatus>;
  }

  /**
   * Closes the connection for good. Batches, subscriptions and blocked calls (queue gets that may
   * wait, lock acquires) end at once with ClosedError; an item the daemon took for a cancelled get
   * goes back to the front of its queue. Requests already sent get up to CLOSE_GRACE_MS (2 s) for
   * their replies, so a write settles with its real outcome; one still unanswered then rejects with
   * ClosedError saying that it may have been applied. Calls made after close() reject at once.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    // Ended already (a refused token): nothing is pending.
    if (this.#closed !== undefined) return this.#conn.close();
    const err = new ClosedError('the client was closed');
    this.#closed = err;
    this.#endCalls(err);
    // The replies this client never had: their items go back (the daemon's end of ack.closing).
    const unanswered: number[] = [];
    for (const [rid, p] of this.#pending.entries()) {
      const msg = p.msg as StateRequest;
      if (msg.op !== 'lock.acquire' && (msg.op !== 'queue.get' || msg.timeoutMs === 0)) continue;
      unanswered.push(rid);
      this.#ackCap = Math.min(this.#ackCap, rid);
      const back = msg.op === 'queue.get' ? ': an item the daemon took for it goes back to the front of its queue' : '';
      this.#pending.reject(rid, new ClosedError(`close() cancelled this ${msg.op} on "${msg.name}"${back}`));
    }
    // Only over a live link: while it is down (reconnecting), no reply comes within the grace.
    if (this.#pending.size > 0 && this.#conn.up) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => this.#drained?.(), CLOSE_GRACE_MS);
        this.#drained = () => {
          clearTimeout(timer);
          this.#drained = undefined;
          resolve();
        };
      });
    }
    for (const [rid, p] of this.#pending.entries()) {
      unanswered.push(rid);
      this.#pending.reject(rid, unansweredAtClose(p.msg));
    }
    // The daemon keeps no more replies than MAX_CLOSING_IDS for an instance: the newest are the ones it may keep.
    const closing = unanswered.length > MAX_CLOSING_IDS ? unanswered.sort((a, b) => a - b).slice(-MAX_CLOSING_IDS) : unanswered;
    if (this.#closingAcks) this.#conn.send({ type: 'ack', ack: this.#pending.next, closing });
    this.#emit('closed', err);
    await this.#conn.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #startBatch(
    fn: unknown,
    items: unknown,
    options: MapOptions | undefined,
    caller: CallerStack,
    call: 'map' | 'imap' | 'mapSettled' | 'submit',
    sink: BatchSink,
  ): BatchCall | undefined {
    let batch: BatchCall | undefined;
    try {
      if (this.#closed !== undefined) throw this.#closed;
      if (this.#batches.size >= MAX_OPEN_BATCHES) {
        // The daemon's limit, said at once: a batch past it would wait for a chunk slot behind
        // every other one (20 s behind 1,024 unread imaps) only to be refused when it opens.
        throw new LimitError(
          `this client has ${this.#batches.size} batches in progress, the limit of ${MAX_OPEN_BATCHES} open batches per client: let one finish first`,
        );
      }
      this.#conn.revive();
      // submit's own options were checked as such; here they carry the chunkSize it adds.
      const opts = checkMapOptions(options, call === 'submit' ? 'map' : call);
      const spec = toTaskSpec(fn);
      if (
        items === null ||
        items === undefined ||
        (typeof (items as Iterable<unknown>)[Symbol.iterator] !== 'function' &&
          typeof (items as AsyncIterable<unknown>)[Symbol.asyncIterator] !== 'function')
      ) {
        throw new BadArgumentError('items must be an array, an iterable or an async iterable');
      }
      const signal = opts.signal;
      if (signal?.aborted === true) throw abortError(signal, 'before it started');
      batch = new BatchCall(
        this.#host,
        this.#nextBatch++,
        spec,
        items as Iterable<unknown>,
        {
          timeoutMs: opts.timeoutMs ?? 0,
          retries: opts.retries ?? DEFAULT_RETRIES,
          priority: opts.priority ?? 0,
          chunkSize: opts.chunkSize,
          onProgress: opts.onProgress,
        },
        sink,
        caller,
      );
      this.#batches.set(batch.id, batch);
      if (signal !== undefined) {
        const b = batch;
        const onAbort = (): void => b.cancel(abortError(signal, 'while it ran'));
        signal.addEventListener('abort', onAbort, { once: true });
        const end = sink.end;
        sink.end = (err) => {
          signal.removeEventListener('abort', onAbort);
          end(err);
        };
      }
      // Start after the caller's synchronous code: it holds its promise (and its cancel handle) before any item is read.
      // A promise job, not queueMicrotask (which makes an AsyncResource per call): one less allocation per submit.
      const b = batch;
      void RESOLVED.then(() => b.pump());
    } catch (err) {
      queueMicrotask(() => sink.end(err));
    }
    return batch;
  }

  /** True if a chunk of `bytes` may go in flight now: one always may when none is (whatever its size). */
  #bytesFit(bytes: number): boolean {
    return this.#inflightBytes === 0 || this.#inflightBytes + bytes <= MAX_CLIENT_INFLIGHT_BYTES;
  }

  #onMessage(m: ServerMessage): void {
    switch (m.type) {
      case 'chunk.result':
        // A cluster's worker count moves as daemons join and leave: the in-flight window follows it.
        if (m.workers !== undefined) this.#workers = m.workers;
        this.#batches.get(m.id)?.onResult(m);
        return;
      case 'batch.error':
        // The daemon may not have counted the refused open's source (sent-sources.ts).
        this.#sentSources?.forget();
        this.#batches.get(m.id)?.onBatchError(fromWire(m.error));
        return;
      case 'reply':
        this.#pending.settle(m.rid, m);
        this.#noteReply(replyDataBytes(m.value));
        if (this.#drained !== undefined && this.#pending.size === 0) this.#drained();
        return;
      case 'push':
        this.#listeners.deliver(m);
        return;
      case 'error':
        return; // connection-level notice; the affected request (if any) fails on its own
      case 'welcome':
        return;
    }
  }

  #onUp(w: Welcome, reconnected: boolean): void {
    this.#workers = Math.max(1, w.workers);
    this.#acksTaken = w.acks === true;
    this.#closingAcks = w.closingAcks === true;
    // The daemon granted less than asked (a clamped weight, an operator's setting): said once per daemon's answer, not per reconnect.
    if (w.warning !== undefined && w.warning !== this.#warned) {
      this.#warned = w.warning;
      process.emitWarning(`corepool: ${w.warning}`, { code: 'COREPOOL_STEERING' });
    }
    // Per welcome: after a move, the limit is the new daemon's, not the last one's.
    this.#maxPayload = w.maxPayload !== undefined && w.maxPayload >= 128 * 1024 ? w.maxPayload : DEFAULT_MAX_PAYLOAD;
    this.#soloChunkMs = w.soloChunkMs ?? SOLO_CHUNK_TARGET_MS;
    // A new socket: the daemon knows none of this client's sources on it (before the batches below resend).
    this.#sentSources = w.sourcesByHash === true ? new SentSources() : undefined;
    if (!reconnected) return;
    this.#emit('reconnected', this.#conn.url);
    // Resubscribe (each listener gets the current state again), resend queued requests, resume batches.
    this.#listeners.resubscribeAll();
    for (const [rid, p] of this.#pending.entries()) {
      if (!p.sent) p.sent = this.#conn.send(this.#wire(rid, p.msg));
    }
    for (const b of this.#batches.values()) b.resume();
  }

  #onDown(err: CorepoolError): void {
    this.#emit('disconnected', err);
    this.#linkLost(err);
    // Reads are resent, and so are writes and queue.get: the daemon (the same process, or one
    // restarted from its store) answers one it already applied from its kept reply. The rest
    // (lock.acquire, which ends with its connection, and status) fail now.
    for (const [rid, p] of this.#pending.entries()) {
      if (!p.sent) continue;
      const op = 'op' in p.msg ? p.msg.op : undefined;
      if (op !== undefined && RESEND_POLICY[op] !== 'fail') {
        p.sent = false;
        continue;
      }
      this.#pending.reject(
        rid,
        new ConnectionError(`the connection was lost before the daemon answered ${op ?? 'status'}; it may or may not have been applied`, {
          cause: err,
        }),
      );
    }
  }

  /** A request on the wire, with the lowest request id still unanswered (the daemon forgets replays below it). */
  #wire(rid: number, msg: Request): ClientMessage {
    if ('type' in msg) return { type: 'status', rid };
    const ack = Math.min(this.#pending.oldest() ?? rid, this.#ackCap);
    if (ack > this.#acked) this.#acked = ack;
    this.#repliesSinceAck = 0;
    this.#replyBytesSinceAck = 0;
    return { type: 'state', rid, ack, ...msg } as ClientMessage;
  }

  /**
   * Requests carry the acknowledgement of the replies before them, so the daemon can forget
   * their replays. After a burst (thousands of writes in flight at once) no request may follow
   * for a while, and the daemon would hold every reply of it: once ACK_EVERY replies, or
   * ACK_BYTES of their data, arrived with no request, an `ack` of its own goes at the end of the tick.
   */
  #noteReply(bytes: number): void {
    this.#replyBytesSinceAck += bytes;
    if ((++this.#repliesSinceAck < ACK_EVERY && this.#replyBytesSinceAck < ACK_BYTES) || this.#ackScheduled || !this.#acksTaken) return;
    this.#ackScheduled = true;
    setImmediate(() => {
      this.#ackScheduled = false;
      this.#repliesSinceAck = 0;
      this.#replyBytesSinceAck = 0;
      const ack = this.#pending.oldest() ?? this.#pending.next;
      if (ack <= this.#acked || this.#closed !== undefined) return;
      if (this.#conn.send({ type: 'ack', ack })) this.#acked = ack;
    });
  }

  #fail(err: CorepoolError): void {
    if (this.#closed !== undefined) return;
    this.#closed = err;
    this.#failPending(err);
    this.#emit('closed', err);
  }

  /** No daemon within the reconnect window: what waited fails, the client stays usable (its next call revives the link). */
  #offline(err: CorepoolError): void {
    this.#failPending(err, false);
    this.#emit('offline', err);
  }

  /** `forGood`: the client is closed (not merely offline, which its next call revives). */
  #failPending(err: CorepoolError, forGood = true): void {
    this.#endCalls(err, forGood);
    this.#pending.rejectAll(err);
    this.#drained?.();
  }

  /** What cannot outlive the link ends with `err`: link watchers, listeners, batches (state requests are the caller's). */
  #endCalls(err: CorepoolError, forGood = true): void {
    this.#linkLost(err);
    this.#listeners.endAll(err, forGood);
    for (const b of [...this.#batches.values()]) b.cancel(err);
  }

  #linkLost(err: CorepoolError): void {
    const watchers = [...this.#linkWatchers];
    this.#linkWatchers.clear();
    for (const cb of watchers) callUser(cb, err);
  }

  #request(msg: Request): Promise<unknown> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    this.#conn.revive();
    return this.#pending.add(msg, (rid) => this.#conn.send(this.#wire(rid, msg)));
  }

  readonly #transport = {
    request: (req: StateRequest): Promise<unknown> => {
      // The handles bound operands by the default frame limit; a daemon with a lower --max-payload
      // would refuse the frame and cost the connection (and the request would be resent forever).
      const bytes = (req.a?.length ?? 0) + (req.b?.length ?? 0);
      const limit = this.#maxPayload - ENVELOPE_BYTES;
      if (bytes > limit) {
        return Promise.reject(
          new TooLargeError(
            `the operands of ${req.op} are ${bytes} bytes encoded, over the limit of ${limit} bytes (this daemon's --max-payload less ${ENVELOPE_BYTES})`,
          ),
        );
      }
      return this.#request(req);
    },
    listen: (
      kind: 'value' | 'dict',
      name: string,
      cb: (push: Push) => void,
      end?: (err: Error) => void,
      resync?: () => void,
    ): (() => void) => {
      this.#conn.revive();
      return this.#listeners.listen(kind, name, cb, end, resync);
    },
    onLinkLost: (cb: (err: Error) => void): (() => void) => {
      if (this.#closed !== undefined) {
        const err = this.#closed;
        queueMicrotask(() => callUser(cb, err));
        return () => {};
      }
      this.#linkWatchers.add(cb);
      return () => this.#linkWatchers.delete(cb);
    },
  };
}

/** What a request close() stopped waiting for rejects with: a write's may have been applied. */
function unansweredAtClose(msg: Request): ClosedError {
  const op = 'op' in msg ? msg.op : 'status';
  const applied = 'op' in msg && RESEND_POLICY[msg.op] === 'replay' ? ': it may have been applied' : '';
  return new ClosedError(`the client was closed before the daemon answered ${op} within the ${CLOSE_GRACE_MS} ms close() waits${applied}`);
}

/** A generator whose first next() rejects with `err`. */
// eslint-disable-next-line require-yield -- it only throws, on its first next()
async function* failing(err: unknown): AsyncGenerator<never, void, undefined> {
  throw err;
}
