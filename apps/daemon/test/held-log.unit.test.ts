/** HeldLog: what the daemon logs before pino has loaded reaches pino, in order, as it was logged. */
import { describe, expect, it } from 'vitest';
import { HeldLog } from '../src/held-log.js';
import type { LogFields, Logger } from '../src/logger.js';
import { createLogger } from '../src/pino-logger.js';

/** A Logger that records each call with the arguments it got. */
function recorder(): Logger & { calls: unknown[][] } {
  const calls: unknown[][] = [];
  const at =
    (level: string) =>
    (...args: unknown[]): void => {
      calls.push([level, ...args]);
    };
  return { calls, trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('HeldLog', () => {
  it('holds every level until attached, then writes them in order, then passes lines straight through', () => {
    const log = new HeldLog();
    const fields = (event: string): LogFields => ({ event });
    log.warn(fields('a'), 'first');
    log.info(fields('b'));
    log.error(fields('c'), 'third');
    log.debug(fields('d'));
    log.trace(fields('e'), 'fifth');
    const target = recorder();
    expect(log.attached).toBe(false);
    log.attach(target);
    expect(log.attached).toBe(true);
    // A line logged without a message is written without one (pino would write "msg": undefined otherwise).
    expect(target.calls).toEqual([
      ['warn', { event: 'a' }, 'first'],
      ['info', { event: 'b' }],
      ['error', { event: 'c' }, 'third'],
      ['debug', { event: 'd' }],
      ['trace', { event: 'e' }, 'fifth'],
    ]);
    log.info(fields('f'), 'after');
    expect(target.calls.at(-1)).toEqual(['info', { event: 'f' }, 'after']);
  });

  it('into pino: held lines come out as JSON lines with their fields, filtered by the level', () => {
    const lines: string[] = [];
    const log = new HeldLog();
    log.debug({ event: 'below-level' });
    log.warn({ event: 'warning', message: 'data dir tightened' }, 'data dir tightened');
    log.attach(createLogger('info', { write: (l: string) => lines.push(l) }));
    log.info({ event: 'listening', url: 'ws://x' }, 'listening on ws://x');
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(parsed.map((p) => p.event)).toEqual(['warning', 'listening']);
    expect(parsed[0]).toMatchObject({ level: 'warn', message: 'data dir tightened', msg: 'data dir tightened' });
    expect(parsed[1]).toMatchObject({ level: 'info', url: 'ws://x' });
  });
});
