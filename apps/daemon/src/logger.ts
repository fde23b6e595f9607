/**
 * The daemon's log: one JSON line per event, with an ISO time and a level
 * label ({"level":"info","time":"…","event":"listening",…}). Every line
 * carries an `event` field naming what happened (tests and operators grep
 * for it). A detached daemon writes to a size-rotated file (log-file.ts); a
 * foreground one to stdout. The levels and the Logger the daemon is handed
 * are here; pino itself is in pino-logger.ts, which `daemon start` loads once
 * its workers are forked (held-log.ts keeps what is logged before).
 */
import { BadArgumentError } from '@corepool/protocol/internal';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const DEFAULT_LOG_LEVEL: LogLevel = 'info';

/** What a line says: its `event` first, then any JSON-able facts. */
export type LogFields = { event: string } & Record<string, unknown>;
export type LogFn = (fields: LogFields, msg?: string) => void;

/** The logger passed around the daemon; pino's satisfies it, and a test can pass its own. */
export interface Logger {
  trace: LogFn;
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  /** Bytes written but not yet flushed by an asynchronous sink (a rotating file); absent or 0: none. */
  backlog?(): number;
}

/** A destination pino can write to: a stream with write(). */
export interface LogSink {
  write(line: string): unknown;
}

/** Checks a --log-level value (a coded error rather than commander's uncoded one). */
export function parseLogLevel(value: unknown): LogLevel {
  if (value === undefined) return DEFAULT_LOG_LEVEL;
  if (typeof value === 'string' && (LOG_LEVELS as readonly string[]).includes(value)) return value as LogLevel;
  throw new BadArgumentError(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(value)})`);
}
