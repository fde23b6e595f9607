/**
 * A Logger that holds its lines until the real one is attached, then passes
 * them on in their order, and every later line straight through. `daemon
 * start` hands one to the daemon so that the workers are forked before pino
 * has loaded (pino-logger.ts); the few lines logged before (a warning about
 * the data dir, workers of a previous daemon ended) carry the time they are
 * written, a few milliseconds after they were logged. In cluster mode, whose
 * start waits on Redis before the fork, pino is attached before it.
 */
import type { LogFields, Logger } from './logger.js';

type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** Lines held before the real logger is attached; then a pass-through to it. */
export class HeldLog implements Logger {
  #target: Logger | undefined;
  #held: [Level, LogFields, string | undefined][] = [];
  backlog?: () => number;

  trace(fields: LogFields, msg?: string): void {
    this.#log('trace', fields, msg);
  }

  debug(fields: LogFields, msg?: string): void {
    this.#log('debug', fields, msg);
  }

  info(fields: LogFields, msg?: string): void {
    this.#log('info', fields, msg);
  }

  warn(fields: LogFields, msg?: string): void {
    this.#log('warn', fields, msg);
  }

  error(fields: LogFields, msg?: string): void {
    this.#log('error', fields, msg);
  }

  /** Whether a real logger has been attached. */
  get attached(): boolean {
    return this.#target !== undefined;
  }

  /** Writes what was held to `target`, in order, and sends every later line to it. */
  attach(target: Logger): void {
    this.#target = target;
    for (const [level, fields, msg] of this.#held.splice(0)) write(target, level, fields, msg);
  }

  #log(level: Level, fields: LogFields, msg: string | undefined): void {
    if (this.#target === undefined) this.#held.push([level, fields, msg]);
    else write(this.#target, level, fields, msg);
  }
}

/** As the caller logged it: a line logged without a message is written without one. */
function write(target: Logger, level: Level, fields: LogFields, msg: string | undefined): void {
  if (msg === undefined) target[level](fields);
  else target[level](fields, msg);
}
