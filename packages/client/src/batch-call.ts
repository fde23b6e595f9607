/**
 * BatchCall: the batch of one map/imap/mapSettled/submit call, on the client
 * side (the daemon's scheduler and the state store have batches of their
 * own). It pulls items from the caller's (async) iterable in chunks, keeps a
 * bounded window of chunks in flight, turns chunk results into exactly one
 * outcome per item (duplicates from a resend are dropped), and after a
 * reconnect resends every chunk without a result.
 * Chunks in flight keep their encoded bytes; nothing else is retained.
 *
 * Under 500 lines: pulling, flow control, ordering and the resend after a
 * reconnect all act on the same window of chunks; chunk sizing is chunk-sizer.ts.
 */
import type { CallerStack } from './caller-stack.js';
import {
  BadMessageError,
  CorepoolError,
  ErrorCode,
  NotCloneableError,
  TooLargeError,
  BadArgumentError,
  callUser,
  decodeData,
  encodeCheckedData,
  encodeData,
  findUncloneable,
  fromWire,
  type BatchChunk,
  type BatchOpen,
  type ChunkResult,
  type ClientMessage,
  type TaskSpec,
} from '@corepool/protocol/internal';
import { ChunkSizer } from './chunk-sizer.js';

/** The outcome of one item. */
export type Outcome = { ok: true; value: unknown } | { ok: false; error: CorepoolError };

/** Where a batch delivers. */
export interface BatchSink {
  /** Exactly once per input index. */
  item(index: number, outcome: Outcome): void;
  /** Successful results of items start, start+1, ... at once (the common case); each index once, never also via `item`. */
  range?(start: number, values: unknown[]): void;
  /** The batch is over: every item delivered (error undefined) or it failed with `error`. */
  end(error?: unknown): void;
  /** False while the consumer has enough buffered (imap backpressure). */
  wantsMore(): boolean;
}

/** What a batch needs from its client. */
export interface BatchHost {
  send(m: ClientMessage): boolean;
  /** The task spec for a `batch.open` about to be sent: the source, or its hash alone once sent (sent-sources.ts). */
  wireTask(spec: TaskSpec): TaskSpec;
  readonly workers: number;
  readonly maxPayload: number;
  /** The work a chunk may aim at while the client is alone (the daemon's welcome). */
  readonly soloChunkMs?: number;
  /** The client has other daemons to move to (a list of URLs): a stopping daemon's refusal is not the batch's end. */
  readonly failsOver?: boolean;
  /**
   * Takes one of the client's chunk slots, or queues `b` to be pumped when one
   * frees. `force` takes one past the limit: the second part of a chunk split
   * to fit a frame must hold a slot, since its result gives one back.
   */
  acquireSlot(b: BatchCall, force?: boolean): boolean;
  releaseSlot(): void;
  /**
   * Counts `bytes` of `b`'s next chunk in flight and says true, or false when the client's chunks in flight
   * hold their bound already: `b.unpark()` is called once they fit.
   */
  admitBytes(b: BatchCall, bytes: number): boolean;
  /** Chunk bytes in flight leave (their results are in, or their batch ended). */
  releaseBytes(bytes: number): void;
  forget(b: BatchCall): void;
}

export interface BatchSettings {
  timeoutMs: number;
  retries: number;
  /** Order among the client's own batches, higher first (0 is left off the wire). */
  priority: number;
  chunkSize: number | undefined;
  onProgress: ((done: number, total: number | undefined) => void) | undefined;
}

interface Inflight {
  readonly start: number;
  readonly count: number;
  readonly payload: Uint8Array;
  readonly done: Uint8Array;
  remaining: number;
  /** No chunk follows this one: the daemon forgets the batch when it is done. */
  readonly final: boolean;
}

/** How long a chunk waits for a slow async source before leaving partly full. */
const ASYNC_FILL_MS = 5;

/** A batch in flight. */
export class BatchCall {
  readonly id: number;
  readonly #host: BatchHost;
  readonly #spec: TaskSpec;
  readonly #settings: BatchSettings;
  readonly #sink: BatchSink;
  readonly #sizer: ChunkSizer;
  /** A chunk encoded and waiting for room among the client's chunk bytes in flight (admitBytes), holding its slot. */
  #parked: Inflight | undefined;
  readonly #inflight = new Map<number, Inflight>();
  #iter: Iterator<unknown> | AsyncIterator<unknown> | undefined;
  readonly #source: Iterable<unknown> | AsyncIterable<unknown>;
  #async = false;
  #array: readonly unknown[] | undefined;
  /** The array's length at the call: it is read a chunk at a time, and must not change meanwhile. */
  #arrayLength = 0;
  #finalSent = false;
  #pendingNext: Promise<IteratorResult<unknown>> | undefined;
  #next = 0;
  /** Where the app started this batch: its item errors show that, not the SDK's message handler. */
  readonly #caller: CallerStack;
  /** Items in the last chunk sent. */
  #lastChunk = 1;
  #total: number | undefined;
  #done = 0;
  #opened = false;
  #exhausted = false;
  #pumping = false;
  /** A chunk slot taken for the chunk being read from the input, not yet sent: #end gives it back if the read never ends. */
  #holdingSlot = false;
  #finished = false;
  #inputError: { error: unknown } | undefined;

  constructor(
    host: BatchHost,
    id: number,
    spec: TaskSpec,
    items: Iterable<unknown> | AsyncIterable<unknown>,
    settings: BatchSettings,
    sink: BatchSink,
    caller: CallerStack,
  ) {
    this.#host = host;
    this.#caller = caller;
    this.id = id;
    this.#spec = spec;
    this.#settings = settings;
    this.#sink = sink;
    this.#source = items;
    // Taken at the call: the source is opened a turn or more later.
    if (Array.isArray(items)) this.#arrayLength = items.length;
    this.#sizer = new ChunkSizer(settings.chunkSize, host.soloChunkMs);
    const len = (items as { length?: unknown }).length;
    if (Array.isArray(items) || (ArrayBuffer.isView(items) && typeof len === 'number')) this.#total = len as number;
  }

  /** Its priority among the client's batches: a higher one gets a freed chunk slot first. */
  get priority(): number {
    return this.#settings.priority;
  }

  /**
   * Whether imap may read more input: the items it has read and its consumer has not taken yet
   * (in flight, or results waiting for the consumer) stay within one full window at the current
   * chunk size, so a slow consumer slows the reading of an endless source instead of buffering it.
   */
  roomFor(waiting: number): boolean {
    let inflight = 0;
    for (const c of this.#inflight.values()) inflight += c.count;
    return waiting + inflight < this.#window * Math.max(1, this.#lastChunk);
  }

  /** Chunks in flight allowed per batch: enough to keep every worker's pipeline full. */
  get #window(): number {
    return 2 * this.#host.workers + 2;
  }

  /** Pulls and sends items while the window has room. */
  pump(): void {
    void this.#pump();
  }

  async #pump(): Promise<void> {
    if (this.#pumping || this.#finished) return;
    this.#pumping = true;
    try {
      if (this.#iter === undefined) this.#openSource();
      while (
        !this.#exhausted &&
        !this.#finished &&
        this.#parked === undefined &&
        this.#inflight.size < this.#window &&
        this.#sink.wantsMore()
      ) {
        if (!this.#host.acquireSlot(this)) break;
        this.#holdingSlot = true;
        const start = this.#next;
        const remaining = this.#array === undefined ? undefined : this.#array.length - this.#next;
        const items = await this.#take(this.#sizer.next(remaining, this.#host.workers));
        if (this.#finished) {
          this.#releaseHeldSlot();
          break;
        }
        if (items.length === 0) {
          this.#releaseHeldSlot();
          this.#exhausted = true;
          break;
        }
        this.#next += items.length;
        this.#lastChunk = items.length;
        // The slot is the chunk's now (in flight, or given back by #sendChunk).
        this.#holdingSlot = false;
        this.#sendChunk(start, items);
      }
    } catch (error) {
      // The caller's iterable threw: results before it are still delivered, then the batch ends with this error.
      this.#releaseHeldSlot();
      this.#inputError = { error };
      this.#exhausted = true;
    } finally {
      this.#pumping = false;
    }
    if (this.#exhausted && this.#total === undefined) this.#total = this.#next;
    this.#checkDone();
  }

  /** Gives back the slot taken for a chunk being read, if one is held (never one not taken: the count would go below zero). */
  #releaseHeldSlot(): void {
    if (!this.#holdingSlot) return;
    this.#holdingSlot = false;
    this.#host.releaseSlot();
  }

  #openSource(): void {
    const src = this.#source as Partial<AsyncIterable<unknown> & Iterable<unknown>>;
    if (Array.isArray(src)) {
      // Arrays are sliced, not iterated item by item.
      this.#array = src;
      this.#iter = [][Symbol.iterator]();
    } else if (typeof src[Symbol.asyncIterator] === 'function') {
      this.#async = true;
      this.#iter = src[Symbol.asyncIterator]!();
    } else if (typeof src[Symbol.iterator] === 'function') {
      this.#iter = src[Symbol.iterator]!();
    } else {
      throw new TypeError('items must be an array, an iterable or an async iterable');
    }
  }

  async #take(n: number): Promise<unknown[]> {
    if (this.#array !== undefined) {
      // Emptied or refilled for the next batch while this one still reads it (a reused buffer): the
      // batch would have ended early, or run what was put there since, without a word.
      if (this.#array.length !== this.#arrayLength) {
        throw new BadArgumentError(
          `the items array changed length while the batch was reading it (${this.#arrayLength} -> ${this.#array.length}): items are read as the batch sends them, so pass a copy (items.slice()) to change the array before the call settles`,
        );
      }
      return this.#array.slice(this.#next, this.#next + n);
    }
    const out: unknown[] = [];
    if (!this.#async) {
      const it = this.#iter as Iterator<unknown>;
      while (out.length < n) {
        const r = iteratorResult(it.next());
        if (r.done === true) break;
        out.push(r.value);
      }
      return out;
    }
    const it = this.#iter as AsyncIterator<unknown>;
    while (out.length < n) {
      const p = this.#pendingNext ?? it.next();
      this.#pendingNext = undefined;
      if (out.length > 0) {
        // Do not hold a partly filled chunk hostage to a slow producer.
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ASYNC_FILL_MS)));
        const r = await Promise.race([p, late]);
        clearTimeout(timer);
        if (r === 'late') {
          this.#pendingNext = p;
          break;
        }
        if (iteratorResult(r).done === true) break;
        out.push(r.value);
      } else {
        const r = iteratorResult(await p);
        if (r.done === true) break;
        out.push(r.value);
      }
    }
    return out;
  }

  #sendChunk(start: number, items: unknown[]): void {
    const done = new Uint8Array(items.length);
    let remaining = items.length;
    let payload: Uint8Array;
    try {
      payload = encodeData(items, 'a chunk of items', CHUNK_WRAPPER);
    } catch {
      // Find the items that cannot travel: each gets its own E_NOT_CLONEABLE outcome; the rest go as usual.
      for (let i = 0; i < items.length; i++) {
        const error = itemError(items[i], start + i);
        if (error === undefined) continue;
        items[i] = null;
        done[i] = 1;
        remaining--;
        this.#deliver(start + i, { ok: false, error });
      }
      // A failed item may have ended the batch (map() fails at its first): this chunk was not in flight then,
      // so its slot is given back here. Kept, 256 such maps left the client unable to send any chunk again.
      if (this.#finished) {
        this.#host.releaseSlot();
        return;
      }
      payload = encodeData(items, 'a chunk of items', CHUNK_WRAPPER);
    }
    if (payload.length > this.#host.maxPayload && items.length > 1) {
      // Too big for one frame: send it as two chunks (the second takes its own slot).
      const half = Math.ceil(items.length / 2);
      this.#sizer.fitBytes(items.length, payload.length, this.#host.maxPayload / 2);
      this.#sendChunk(start, items.slice(0, half));
      if (this.#finished) return;
      this.#host.acquireSlot(this, true);
      this.#sendChunk(start + half, items.slice(half));
      return;
    }
    if (payload.length > this.#host.maxPayload && remaining === 1) {
      // One item larger than a frame can never be sent (the daemon would close 1009 on every resend): it fails alone.
      this.#deliver(start, {
        ok: false,
        error: new TooLargeError(
          `item ${start} is ${payload.length} bytes encoded, over the frame limit of ${this.#host.maxPayload} bytes`,
          { index: start },
        ),
      });
      this.#host.releaseSlot();
      return;
    }
    this.#sizer.fitBytes(items.length, payload.length, this.#host.maxPayload / 4);
    this.#sizer.sent(items.length, payload.length);
    const final = this.#array !== undefined && start + items.length >= this.#array.length;
    const c: Inflight = { start, count: items.length, payload, done, remaining, final };
    if (remaining === 0) {
      this.#host.releaseSlot();
      return;
    }
    if (!this.#host.admitBytes(this, payload.length)) {
      // The client's chunks in flight hold their bytes' bound: this one waits for room (unpark), its slot held.
      this.#parked = c;
      return;
    }
    this.#inflight.set(start, c);
    this.#sendInflight(c);
  }

  #sendInflight(c: Inflight): void {
    const chunk: BatchChunk = { type: 'batch.chunk', id: this.id, start: c.start, count: c.count, payload: c.payload };
    if (c.final) chunk.final = true;
    if (!this.#opened) {
      const room = this.#host.maxPayload;
      const spec = this.#spec;
      // A source that cannot fit in any frame would have the daemon close the connection (1009) on
      // every resend: the batch fails instead, before its source is counted as sent.
      const whole = spec.kind === 'source' ? utf8BytesPast(spec.source, room) : 0;
      if (whole > room) {
        const err = new TooLargeError(
          `the task's source is ${whole} bytes, over the frame limit of ${room} bytes: make it a module task (task(url, name))`,
        );
        void Promise.resolve().then(() => this.#end(this.#caller.attach(err), false));
        return;
      }
      const task = this.#host.wireTask(spec);
      // The first chunk rides in the open frame (a one-item submit is a single frame) when both fit in one.
      const rides = (task.kind === 'source' ? utf8BytesPast(task.source, room - c.payload.length) : 0) + c.payload.length <= room;
      const open: BatchOpen = {
        type: 'batch.open',
        id: this.id,
        task,
        timeoutMs: this.#settings.timeoutMs,
        retries: this.#settings.retries,
      };
      if (rides) open.first = chunk;
      if (this.#settings.priority !== 0) open.priority = this.#settings.priority;
      if (!this.#host.send(open)) return;
      this.#opened = true;
      if (!rides && !this.#host.send(chunk)) return;
    } else if (!this.#host.send(chunk)) {
      return;
    }
    if (c.final) this.#finalSent = true;
  }

  /** Results of (part of) a chunk. */
  onResult(m: ChunkResult): void {
    if (this.#finished) return;
    let c: Inflight | undefined = this.#inflight.get(m.start);
    if (c === undefined) {
      for (const x of this.#inflight.values()) if (m.start >= x.start && m.start < x.start + x.count) c = x;
    }
    if (c === undefined) return; // a duplicate of something already delivered
    let values: unknown[];
    try {
      values = decodeData(m.payload) as unknown[];
    } catch (err) {
      values = [];
      const error = err instanceof CorepoolError ? err : new BadMessageError(String(err));
      for (let j = 0; j < m.count; j++) m.errors.push({ ...error.toWire(), index: m.start + j });
    }
    const rel0 = m.start - c.start;
    if (m.errors.length === 0 && this.#sink.range !== undefined && rel0 + m.count <= c.count && c.done.indexOf(1, rel0) === -1) {
      // Fast path: a whole range of fresh successes goes to the sink in one call (and none is left for the loop below).
      c.done.fill(1, rel0, rel0 + m.count);
      c.remaining -= m.count;
      this.#done += m.count;
      this.#sink.range(m.start, values.length === m.count ? values : values.slice(0, m.count));
    } else {
      const errors = new Map<number, CorepoolError>();
      for (const w of m.errors) if (w.index !== undefined) errors.set(w.index, this.#caller.attach(fromWire(w)));
      for (let j = 0; j < m.count; j++) {
        const index = m.start + j;
        const rel = index - c.start;
        if (rel < 0 || rel >= c.count || c.done[rel] === 1) continue;
        c.done[rel] = 1;
        c.remaining--;
        const error = errors.get(index);
        this.#deliver(index, error === undefined ? { ok: true, value: values[j] } : { ok: false, error });
        if (this.#finished) return;
      }
    }
    if (m.errors.length === 0 && m.ms > 0) this.#sizer.observe(m.count, m.ms, m.load);
    if (c.remaining === 0) {
      this.#inflight.delete(c.start);
      this.#host.releaseBytes(c.payload.length);
      this.#host.releaseSlot();
    }
    const onProgress = this.#settings.onProgress;
    if (onProgress !== undefined) callUser(onProgress, this.#done, this.#total);
    this.pump();
    this.#checkDone();
  }

  #deliver(index: number, outcome: Outcome): void {
    this.#done++;
    this.#sink.item(index, outcome);
  }

  /** The daemon failed the whole batch. */
  onBatchError(err: CorepoolError): void {
    if (err.code === ErrorCode.E_SHUTTING_DOWN && this.#host.failsOver === true) {
      // A stopping daemon refuses new batches and closes every connection once its running chunks are
      // done: the chunks stay in flight, and resume() opens the batch on the daemon the client moves to.
      this.#opened = false;
      return;
    }
    this.#end(this.#caller.attach(err), false);
  }

  /** Cancels: the daemon drops the batch; the sink ends with `err`. */
  cancel(err: unknown): void {
    this.#end(err, true);
  }

  /** The client's chunks in flight have room for the parked one now (its bytes are counted): it goes. */
  unpark(): void {
    const c = this.#parked;
    if (c === undefined || this.#finished) return;
    this.#parked = undefined;
    this.#inflight.set(c.start, c);
    this.#sendInflight(c);
    this.pump();
  }

  /** The link is back: reopen the batch and resend every chunk still without all its results. */
  resume(): void {
    if (this.#finished) return;
    this.#opened = false;
    // The daemon now reached (restarted, or another one of the list) knows only what is resent: if the
    // final chunk is not among it, the batch must be closed explicitly when it is done.
    this.#finalSent = false;
    for (const c of [...this.#inflight.values()]) {
      if (c.payload.length > this.#host.maxPayload) this.#refit(c);
      else this.#sendInflight(c);
      if (this.#finished) return;
    }
    this.pump();
  }

  /**
   * A chunk in flight too large for the daemon reached now (one with a lower --max-payload, a cluster's
   * 1 MiB): its items without a result go again as chunks that fit. Resent as it was, the daemon closed
   * the connection (1009) on every resend, the client reconnected at once, and the batch never settled.
   */
  #refit(c: Inflight): void {
    this.#inflight.delete(c.start);
    this.#host.releaseBytes(c.payload.length);
    const items = decodeData(c.payload) as unknown[];
    // It holds one slot; each further run of items without a result takes one of its own.
    let slots = 1;
    for (let a = 0; a < c.count;) {
      if (c.done[a] === 1) {
        a++;
        continue;
      }
      let b = a;
      while (b < c.count && c.done[b] !== 1) b++;
      if (slots-- === 0) this.#host.acquireSlot(this, true);
      this.#sendChunk(c.start + a, items.slice(a, b));
      if (this.#finished) return;
      a = b;
    }
    if (slots > 0) this.#host.releaseSlot();
  }

  #checkDone(): void {
    if (this.#finished || this.#pumping || !this.#exhausted || this.#inflight.size > 0 || this.#parked !== undefined) return;
    if (this.#inputError !== undefined) this.#end(this.#inputError.error, this.#opened);
    else this.#end(undefined, this.#opened);
  }

  #end(err: unknown, tellDaemon: boolean): void {
    if (this.#finished) return;
    this.#finished = true;
    if (tellDaemon && this.#opened && !(err === undefined && this.#finalSent)) {
      this.#host.send({ type: err === undefined ? 'batch.close' : 'batch.cancel', id: this.id });
    }
    for (const c of this.#inflight.values()) this.#host.releaseBytes(c.payload.length);
    for (let i = 0; i < this.#inflight.size; i++) this.#host.releaseSlot();
    this.#inflight.clear();
    // A chunk that waited for room holds a slot, no bytes.
    if (this.#parked !== undefined) {
      this.#parked = undefined;
      this.#host.releaseSlot();
    }
    // A read of the input that may never end (a generator that never yields) holds a slot too.
    this.#releaseHeldSlot();
    this.#host.forget(this);
    if (this.#iter !== undefined && err !== undefined && this.#inputError === undefined) {
      // Let a generator run its finally blocks.
      try {
        const r = this.#iter.return?.();
        if (r instanceof Promise) r.catch(() => {});
      } catch {
        /* the caller's iterator */
      }
    }
    this.#sink.end(err);
  }
}

/** The array level a chunk puts around its items. */
const CHUNK_WRAPPER = 1;

/**
 * Why item `index` cannot be sent (E_NOT_CLONEABLE with its index), or
 * undefined. It is checked inside an array, as it travels in a chunk (whose
 * level does not count toward the nesting limit, so an item may nest as deep
 * as a value); anything the check or the encoder throws (a getter, too deep
 * a stack) becomes this coded error.
 */
function itemError(item: unknown, index: number): NotCloneableError | undefined {
  let bad: string | undefined;
  try {
    bad = findUncloneable([item], CHUNK_WRAPPER);
    if (bad === undefined) {
      encodeCheckedData([item]);
      return undefined;
    }
  } catch (err) {
    return new NotCloneableError(`item ${index} cannot be sent: ${(err as Error)?.message ?? String(err)}`, { index, cause: err });
  }
  return new NotCloneableError(`item ${index} cannot be sent: ${bad.replace(/^\$\[0\]/, 'item')} (items must be structured-cloneable)`, {
    index,
  });
}

/** The UTF-8 length of `s` when it may be over `limit` bytes, else 0 (a UTF-16 code unit is at most 3 bytes): measured only when it matters. */
function utf8BytesPast(s: string, limit: number): number {
  return s.length * 3 > limit ? Buffer.byteLength(s) : 0;
}

/** An iterator's result as `for...of` takes it: anything but an object is an error (a bare value never says `done`: the batch would never end). */
function iteratorResult<T>(r: IteratorResult<T>): IteratorResult<T> {
  if (r === null || (typeof r !== 'object' && typeof r !== 'function')) {
    throw new BadArgumentError(
      `the items iterator's next() returned ${typeof r === 'string' ? JSON.stringify(r).slice(0, 40) : String(r)}, not an object { value, done }`,
    );
  }
  return r;
}
