/**
 * A worker's stdout and stderr (what tasks print, V8's fatal-error dumps)
 * reach the daemon's log through the primary, line by line, each line one
 * JSON log line naming the worker's slot and pid, within a byte budget per slot and
 * stream: a task printing without end would otherwise fill daemon.log (one map
 * wrote 292 MB). Past the budget lines are dropped, and one line every
 * DROP_REPORT_MS says how many bytes were. The primary keeps at most one
 * partial line per stream and drops rather than queue behind a slow sink.
 * Reading what it then drops still costs the primary's one thread (6 ms per
 * MB read at full speed, ~20 with pauses, measured), so it reads all workers'
 * output together at most READ_RATE, pausing a stream that finds the budget
 * spent: the worker is not blocked, its writes wait in its own memory (Node
 * queues writes to a pipe), which its heap and RSS limits bound.
 */
import type { Readable } from 'node:stream';

/** Bytes per second a slot's stream may write, and the burst it may write at once. */
export const OUTPUT_RATE = 64 * 1024;
export const OUTPUT_BURST = 1024 * 1024;
/** Bytes per second the primary reads from all workers' streams together, burst READ_BURST. */
const READ_RATE = 2 * 1024 * 1024;
const READ_BURST = 1024 * 1024;
/** A longer line is cut into pieces of this size (each prefixed). */
const MAX_LINE = 16 * 1024;
/** How often, at most, a stream that drops says how much it dropped. */
const DROP_REPORT_MS = 5_000;
/** A sink that buffers more than this (an asynchronous pipe nobody reads) gets nothing more. */
const MAX_SINK_BACKLOG = 1024 * 1024;
/** What a line costs the budget beyond its own bytes: the JSON envelope the log wraps it in. */
const LINE_OVERHEAD = 128;
const NL = 0x0a;

/** A token bucket of bytes: refills at `rate` per second up to `burst`. It outlives the workers of its slot. */
export class OutputBudget {
  readonly #rate: number;
  readonly #burst: number;
  #tokens: number;
  #at = Date.now();

  constructor(rate = OUTPUT_RATE, burst = OUTPUT_BURST) {
    this.#rate = rate;
    this.#burst = burst;
    this.#tokens = burst;
  }

  /** Takes `n` bytes if the budget holds them all. */
  take(n: number): boolean {
    this.#refill();
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }

  /** Takes `n` bytes even past the budget; returns how long (ms) until it holds a byte again. */
  spend(n: number): number {
    this.#refill();
    this.#tokens -= n;
    return this.#tokens >= 1 ? 0 : Math.ceil(((1 - this.#tokens) * 1000) / this.#rate);
  }

  #refill(): void {
    const now = Date.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) * this.#rate) / 1000);
    this.#at = now;
  }
}

/** The primary's budget for reading workers' output, shared by all of them. */
export function readBudget(): OutputBudget {
  return new OutputBudget(READ_RATE, READ_BURST);
}

/** How one stream is relayed. */
export interface RelayOptions {
  /** Writes one line (without its newline) to the log. */
  write(line: string): void;
  /** Bytes the log's sink holds unwritten (0 for a synchronous one). */
  backlog(): number;
  /** What this stream may print (per slot and stream; a replacement worker inherits what its predecessor spent). */
  print: OutputBudget;
  /** What the primary may read, shared by every stream (readBudget()). */
  read: OutputBudget;
  /** Hears how many bytes were dropped, at most once every DROP_REPORT_MS. */
  onDropped(bytes: number): void;
}

/** Copies `source` to the log, a line at a time, within its budgets. */
export function relayOutput(source: Readable, { write, backlog, print: budget, read, onDropped }: RelayOptions): void {
  let partial: Buffer[] = [];
  let partialBytes = 0;
  let dropped = 0;
  let reportTimer: NodeJS.Timeout | undefined;

  const report = (): void => {
    clearTimeout(reportTimer);
    reportTimer = undefined;
    if (dropped > 0) onDropped(dropped);
    dropped = 0;
  };
  const drop = (bytes: number): void => {
    dropped += bytes;
    reportTimer ??= setTimeout(report, DROP_REPORT_MS).unref();
  };
  /** Writes the partial line; false if it was dropped. */
  const emit = (): boolean => {
    const line = partial.length === 1 ? partial[0]! : Buffer.concat(partial);
    partial = [];
    partialBytes = 0;
    if (backlog() > MAX_SINK_BACKLOG || !budget.take(line.length + LINE_OVERHEAD)) {
      drop(line.length);
      return false;
    }
    write(line.toString('utf8', 0, line[line.length - 1] === NL ? line.length - 1 : line.length));
    return true;
  };

  source.on('data', (chunk: Buffer) => {
    const wait = read.spend(chunk.length);
    if (wait > 0) {
      source.pause();
      setTimeout(() => source.resume(), wait).unref();
    }
    let pos = 0;
    while (pos < chunk.length) {
      const nl = chunk.indexOf(NL, pos);
      const end = nl < 0 ? chunk.length : nl + 1;
      partial.push(chunk.subarray(pos, end));
      partialBytes += end - pos;
      pos = end;
      if ((nl >= 0 || partialBytes >= MAX_LINE) && !emit()) {
        // Out of budget: the chunk's other whole lines go at once, without being cut out one by one.
        const last = chunk.lastIndexOf(NL);
        if (last >= pos) {
          drop(last + 1 - pos);
          pos = last + 1;
        }
      }
    }
  });
  source.on('error', () => {});
  source.once('close', () => {
    if (partialBytes > 0) emit();
    report();
  });
}
