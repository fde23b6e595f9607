/**
 * Where a detached daemon's log goes: <data-dir>/daemon.log, rotated by size
 * (rotating-file-stream, classical logrotate naming: daemon.log.1 is the most
 * recent rotated file, up to daemon.log.<files>) so it never grows without end.
 * Also the parsing of the log flags (--log-level, --log-max-size, --log-max-files),
 * each bad value a coded E_BAD_ARGUMENT.
 */
import { once } from 'node:events';
import { join } from 'node:path';
import type { RotatingFileStream } from 'rotating-file-stream';
import { BadArgumentError } from '@corepool/protocol/internal';
import { parseLogLevel, type LogLevel } from './logger.js';

export const LOG_FILE = 'daemon.log';
/** Where a detached daemon's own stdout and stderr go: what escapes the logger (a crash before it exists, V8's fatal errors). */
export const OUT_FILE = 'daemon.out';
export const DEFAULT_LOG_MAX_SIZE = '10M';
export const DEFAULT_LOG_MAX_FILES = 5;

export interface LogOptions {
  level: LogLevel;
  /** Bytes after which daemon.log is rotated. */
  maxSize: number;
  /** Rotated files kept (daemon.log.1 … daemon.log.N). */
  maxFiles: number;
}

const SIZE = /^(\d+)([BKMG]?)$/i;
const UNIT: Record<string, number> = { '': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** Checks the log flags; the same in the CLI that detaches and in the daemon it starts. */
export function resolveLogOptions(raw: { logLevel?: unknown; logMaxSize?: unknown; logMaxFiles?: unknown }): LogOptions {
  const level = parseLogLevel(raw.logLevel);
  const sizeText = raw.logMaxSize === undefined ? DEFAULT_LOG_MAX_SIZE : String(raw.logMaxSize);
  const m = SIZE.exec(sizeText.trim());
  const maxSize = m === null ? NaN : Number(m[1]) * UNIT[m[2]!.toUpperCase()]!;
  // Below a few hundred bytes every line would rotate; tests use 1K or so.
  if (!(maxSize >= 256 && maxSize <= 1024 ** 4))
    throw new BadArgumentError(
      `--log-max-size must be a size from 256 bytes to 1T, like 10M, 500K or 4096 (got ${JSON.stringify(sizeText)})`,
    );
  const filesText = raw.logMaxFiles === undefined ? String(DEFAULT_LOG_MAX_FILES) : String(raw.logMaxFiles);
  const maxFiles = /^\d+$/.test(filesText) ? Number(filesText) : NaN;
  if (!(maxFiles >= 1 && maxFiles <= 1000))
    throw new BadArgumentError(`--log-max-files must be a whole number from 1 to 1000 (got ${JSON.stringify(filesText)})`);
  return { level, maxSize, maxFiles };
}

/** The file name of rotation `index` (0 or absent: the live file). */
export function rotatedName(index: number | null | undefined): string {
  return index ? `${LOG_FILE}.${index}` : LOG_FILE;
}

/** Opens daemon.log in `dataDir` for appending (mode 0600), rotating it at `maxSize` bytes. */
export async function openLogFile(dataDir: string, o: LogOptions): Promise<RotatingFileStream> {
  // Imported here: only a detached daemon writes its log to a file, and rotating-file-stream's ES imports of
  // zlib, stream, fs/promises and child_process cost every other start (and every command) ~15 ms.
  const { createStream } = await import('rotating-file-stream');
  // Classical rotation calls the generator with the rotation's index, or null for the live file.
  const stream = createStream((index: number | Date) => rotatedName(typeof index === 'number' ? index : 0), {
    path: dataDir,
    size: `${o.maxSize}B`,
    rotate: o.maxFiles,
    mode: 0o600,
  });
  // Opened before anything else starts: a log that cannot be written (a directory in its place, no
  // permission) stops the start with this error, not with the stream's unhandled 'error' later.
  try {
    await once(stream, 'open');
  } catch (err) {
    throw new Error(`the log file ${logPath(dataDir)} cannot be written`, { cause: err });
  }
  return stream;
}

/** The live log file's path. */
export function logPath(dataDir: string): string {
  return join(dataDir, LOG_FILE);
}
