/**
 * A worker's stdout and stderr (what tasks print, V8's fatal-error dumps)
 * reach the daemon's own output through the primary, line by line, each line
 * prefixed with the worker's slot and pid, within a byte budget per slot and
 * stream: a task printing without end would otherwise fill daemon.log (one map
 * wrote 292 MB). Past the budget lines are dropped, and one line every
 * DROP_REPORT_MS says how many bytes were. The worker is never blocked: the
 * primary reads its pipes as fast as they fill and keeps at most one partial
 * line per stream, and it drops rather than queue behind a slow sink.
 */
import type { Readable, Writable } from 'node:stream';

/** Bytes per second a slot's stream may write, and the burst it may write at once. */
export const OUTPUT_RATE = 64 * 1024;
export const OUTPUT_BURST = 1024 * 1024;
/** A longer line is cut into pieces of this size (each prefixed). */
const MAX_LINE = 16 * 1024;
/** How often, at most, a stream that drops says how much it dropped. */
const DROP_REPORT_MS = 5_000;
/** A sink that buffers more than this (an asynchronous pipe nobody reads) gets nothing more. */
const MAX_SINK_BACKLOG = 1024 * 1024;
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

  /** True if at least one byte may be written. */
  any(): boolean {
    this.#refill();
    return this.#tokens >= 1;
  }

  #refill(): void {
    const now = Date.now();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#at) * this.#rate) / 1000);
    this.#at = now;
  }
}

/** Copies `source` to `sink` as prefixed lines within `budget`; `onDropped` hears how many bytes it dropped. */
export function relayOutput(source: Readable, sink: Writable, prefix: string, budget: OutputBudget, onDropped: (bytes: number) => void): void {
  const head = Buffer.from(prefix);
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
  const emit = (): void => {
    const line = partial.length === 1 ? partial[0]! : Buffer.concat(partial);
    partial = [];
    partialBytes = 0;
    if (sink.writableLength > MAX_SINK_BACKLOG || !budget.take(line.length)) {
      drop(line.length);
      return;
    }
    sink.write(line[line.length - 1] === NL ? Buffer.concat([head, line]) : Buffer.concat([head, line, Buffer.of(NL)]));
  };

  source.on('data', (chunk: Buffer) => {
    let pos = 0;
    // Out of budget: whole lines go at once, without being cut out one by one.
    if (partialBytes === 0 && !budget.any()) {
      const last = chunk.lastIndexOf(NL);
      if (last >= 0) {
        drop(last + 1);
        pos = last + 1;
      }
    }
    while (pos < chunk.length) {
      const nl = chunk.indexOf(NL, pos);
      const end = nl < 0 ? chunk.length : nl + 1;
      partial.push(chunk.subarray(pos, end));
      partialBytes += end - pos;
      pos = end;
      if (nl >= 0 || partialBytes >= MAX_LINE) emit();
    }
  });
  source.on('error', () => {});
  source.once('close', () => {
    if (partialBytes > 0) emit();
    report();
  });
}
