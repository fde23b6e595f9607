/**
 * The human-readable form of a log line for `corepool daemon logs` on a
 * terminal, through pino-pretty: time, level, message, then the fields.
 */
import { prettyFactory } from 'pino-pretty';

const format = prettyFactory({
  colorize: true,
  translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
  ignore: 'pid',
  // One event a line, as in the raw log: a tail is read line by line.
  singleLine: true,
});

/** One log line, pretty; a line that is not JSON is printed as it is. */
export function prettyLine(line: string): string {
  if (!line.startsWith('{')) return `${line}\n`;
  try {
    const entry = JSON.parse(line) as Record<string, unknown>;
    // Most events say their message twice (`msg` for pino, `message` for scripts): once is enough here.
    if (entry.message === entry.msg) delete entry.message;
    return format(entry);
  } catch {
    return `${line}\n`;
  }
}
