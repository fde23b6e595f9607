/**
 * `corepool top`: asks the daemon for `status` once per interval over one
 * connection (admin.ts) and redraws the screen (render.ts) in the terminal's
 * alternate screen, like htop. `q` or Ctrl-C quits and gives the terminal back
 * as it was; a resize redraws at once. When no daemon answers, or the daemon
 * goes away, it says so on a line of its own and keeps trying to reconnect.
 * With stdout not a terminal it prints one frame and exits (for scripts).
 */
import { AdminConnection, type AdminTarget } from '../admin.js';
import { describeError } from '../error-text.js';
import type { DaemonStatus } from '@corepool/protocol';
import { renderTop, type TopHistory } from './render.js';

/** Samples kept for the sparklines. */
const HISTORY = 120;

const ALT_SCREEN_ON = '\x1b[?1049h\x1b[?25l';
const ALT_SCREEN_OFF = '\x1b[?25h\x1b[?1049l';

/** Runs top until the user quits; resolves to the exit code. */
export async function runTop(target: AdminTarget, o: { intervalMs: number }): Promise<number> {
  const out = process.stdout;
  if (out.isTTY !== true) return once(target);

  const history: TopHistory = { throughput: [], p99: [] };
  let status: DaemonStatus | undefined;
  let notice: string | undefined;
  let conn: AdminConnection | undefined;
  let quit!: (code: number) => void;
  const quitting = new Promise<number>((r) => (quit = r));
  let done = false;

  const draw = (): void => {
    if (done) return;
    const lines = renderTop({ status, history, notice, width: out.columns ?? 80, height: out.rows ?? 24, now: Date.now() });
    out.write(`\x1b[H${lines.map((l) => `${l}\x1b[K`).join('\r\n')}\x1b[J`);
  };

  out.write(ALT_SCREEN_ON);
  const restore = (): void => {
    if (done) return;
    done = true;
    out.write(ALT_SCREEN_OFF);
    if (process.stdin.isTTY) process.stdin.setRawMode(false);
    process.stdin.pause();
  };
  // The terminal is given back however the process ends.
  process.once('exit', restore);
  const onSignal = (): void => quit(0);
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('SIGHUP', onSignal);
  out.on('resize', draw);
  if (process.stdin.isTTY) process.stdin.setRawMode(true);
  process.stdin.resume();
  process.stdin.on('data', (d: Buffer) => {
    const k = d.toString();
    if (k === 'q' || k === 'Q' || k === '\x03' || k === '\x1b') quit(0);
  });

  let attempt = 0;
  const loop = async (): Promise<void> => {
    while (!done) {
      const started = Date.now();
      try {
        conn ??= await AdminConnection.open(target, 'corepool-top');
        const s = (await conn.request('status')) as DaemonStatus;
        attempt = 0;
        notice = undefined;
        status = s;
        push(history.throughput, s.throughput);
        if (s.latency !== undefined) push(history.p99, s.latency.p99Ms);
      } catch (err) {
        conn?.close();
        conn = undefined;
        const e = err as { code?: unknown };
        if (e.code === 'E_AUTH') {
          notice = `${describeError(err)} (q quits)`;
        } else {
          attempt++;
          notice = `${status === undefined ? 'no daemon answers' : 'the daemon went away'}; reconnecting (attempt ${attempt})…\n${describeError(err)}`;
        }
      }
      draw();
      await Promise.race([new Promise((r) => setTimeout(r, Math.max(0, o.intervalMs - (Date.now() - started)))), quitting]);
    }
  };
  void loop();
  const code = await quitting;
  restore();
  conn?.close();
  out.off('resize', draw);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('SIGHUP', onSignal);
  return code;
}

/** One frame to a pipe or file: no screen control, and an exit code of 1 when no daemon answers. */
async function once(target: AdminTarget): Promise<number> {
  let conn: AdminConnection | undefined;
  try {
    conn = await AdminConnection.open(target, 'corepool-top');
    const status = (await conn.request('status')) as DaemonStatus;
    const lines = renderTop({ status, history: { throughput: [status.throughput], p99: [] }, width: 120, height: 1000, now: Date.now() });
    process.stdout.write(`${lines.slice(0, -2).join('\n')}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`corepool: ${describeError(err)}\n`);
    return 1;
  } finally {
    conn?.close();
  }
}

function push(a: number[], v: number): void {
  a.push(v);
  if (a.length > HISTORY) a.shift();
}
