/**
 * The daemon's logger, made with pino: JSON lines as logger.ts describes
 * them. A module of its own so that `daemon start` loads pino (~15 ms of CPU)
 * after it has forked its workers, while they boot, not before.
 */
import { pino, stdTimeFunctions } from 'pino';
import type { LogLevel, LogSink, Logger } from './logger.js';

/** A pino logger at `level` writing JSON lines to `sink` (stdout when absent, synchronously). */
export function createLogger(level: LogLevel, sink?: LogSink): Logger {
  const logger = pino(
    {
      level,
      // No pid or hostname on each line: the listening line names the daemon's pid, and many lines name a worker's.
      base: null,
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    (sink as NodeJS.WritableStream | undefined) ?? pino.destination({ fd: 1, sync: true }),
  );
  return logger;
}
