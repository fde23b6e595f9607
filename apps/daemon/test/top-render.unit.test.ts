/**
 * `corepool top`'s renderer at several terminal sizes: every line fits the
 * width and the screen fits the height, the most useful columns survive a
 * narrow terminal, figures a daemon does not send show "–", and long lists
 * end with "… N more".
 */
import { describe, expect, it } from 'vitest';
import type { DaemonStatus } from '@corepool/protocol';
import { DASH, renderTop, sparkline } from '../src/top/render.js';

const NOW = Date.parse('2026-12-02T03:00:00Z');

function status(o: { workers?: number; clients?: number; full?: boolean } = {}): DaemonStatus {
  const full = o.full === true;
  return {
    pid: 4242,
    version: '0.1.0',
    url: 'ws://127.0.0.1:7777',
    uptimeMs: 3_723_000,
    workers: Array.from({ length: o.workers ?? 2 }, (_, i) => ({
      id: i + 1,
      pid: 5000 + i,
      busy: i % 2 === 0,
      tasksDone: 1000 * (i + 1),
      chunksDone: 10 * (i + 1),
      restarts: i,
      // The last of three or more is a reserve worker, idle.
      ...(i >= 2 && i === (o.workers ?? 2) - 1 ? { reserve: true, busy: false } : {}),
      ...(full
        ? { rss: 80 * 1024 * 1024, cpu: 0.97, batch: 7, client: 'render-app', lastRestart: { cause: 'timeout', at: NOW - 65_000 } }
        : {}),
    })),
    clients: Array.from({ length: o.clients ?? 1 }, (_, i) => ({
      id: i + 1,
      name: `app-${i}`,
      batches: 1,
      queuedChunks: 12,
      runningChunks: 2,
      ...(full ? { share: 0.5, weight: 2, itemsDone: 333, sendBuffered: 0 } : {}),
    })),
    queuedItems: 120,
    runningItems: 4,
    itemsDone: 98765,
    throughput: 321,
    values: 0,
    queues: 0,
    dicts: 0,
    locks: 0,
    workerRestarts: 3,
    ...(full
      ? { latency: { p50Ms: 4.2, p99Ms: 31 }, recentErrors: [{ at: NOW - 1000, code: 'E_TIMEOUT', message: 'item 3 timed out' }] }
      : {}),
  };
}

const history = { throughput: [0, 50, 100, 321], p99: [10, 20, 31] };

describe('renderTop', () => {
  it('prints what apps chose (client names, error messages) without control characters', () => {
    const s = status({ full: true });
    s.clients[0]!.name = 'evil\x1b[31mRED\x1b[0m\nfake-line\u009b2J';
    s.recentErrors = [{ at: NOW - 1000, code: 'E_TIMEOUT', message: 'item\r\x1b[2Kforged', client: 'c\x07' }];
    const text = renderTop({ status: s, history, width: 200, height: 40, now: NOW }).join('\n');
    // eslint-disable-next-line no-control-regex -- what must not reach the terminal
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
    expect(text).not.toMatch(/^fake-line/m);
    expect(text).toContain('evil?[31mRED');
    expect(text).toContain('item??[2Kforged');
  });

  it('says a reserve worker waiting is one, not merely idle', () => {
    // The daemon lists reserve workers apart (status.reserveWorkers); top shows them after the pool's.
    const s = status({ workers: 3 });
    const text = renderTop({
      status: { ...s, workers: s.workers.slice(0, 2), reserveWorkers: s.workers.slice(2) },
      history,
      width: 80,
      height: 30,
      now: NOW,
    }).join('\n');
    expect(text).toMatch(/5002 +reserve/);
    expect(text).toMatch(/5001 +idle/);
    expect(text).toContain('WORKERS (2 + 1 reserve)');
  });

  for (const width of [40, 80, 120, 200]) {
    it(`fits ${width} columns and 30 rows, with the workers' pids, state and items`, () => {
      const lines = renderTop({ status: status({ full: true }), history, width, height: 30, now: NOW });
      expect(lines.length).toBeLessThanOrEqual(30);
      for (const l of lines) expect(l.length).toBeLessThanOrEqual(width);
      const text = lines.join('\n');
      expect(text).toContain('WORKERS (2)');
      expect(text).toContain('5000');
      expect(text).toContain('busy');
      expect(text).toContain('1000'); // items done by worker 1
      expect(lines.at(-1)).toBe('q quit');
    });
  }

  it('at 120 columns shows every figure the daemon sends: RSS, CPU, client, share, weight, latency, last restart', () => {
    const text = renderTop({ status: status({ full: true }), history, width: 200, height: 40, now: NOW }).join('\n');
    for (const s of ['80 MB', '97%', 'render-app', '50%', 'p50 4.2 ms', 'p99 31 ms', 'timeout 1m05s ago', 'E_TIMEOUT', 'up 1h02m']) {
      expect(text).toContain(s);
    }
  });

  it('narrow terminals drop the least useful columns first; pid, state and items stay', () => {
    const narrow = renderTop({ status: status({ full: true }), history, width: 40, height: 30, now: NOW });
    const header = narrow.find((l) => l.includes('PID'))!;
    expect(header).toMatch(/ID +PID STATE +ITEMS/);
    expect(header).not.toContain('LAST RESTART');
    const wide = renderTop({ status: status({ full: true }), history, width: 200, height: 30, now: NOW });
    expect(wide.find((l) => l.includes('PID'))).toContain('LAST RESTART');
  });

  it('figures an older daemon leaves out show "–"', () => {
    const lines = renderTop({ status: status(), history: { throughput: [1], p99: [] }, width: 160, height: 30, now: NOW });
    const row = lines.find((l) => l.includes('5000'))!;
    expect(row).toContain(DASH);
    expect(lines.join('\n')).toContain(`p50 ${DASH}`);
    expect(lines.some((l) => l.startsWith('p99 ms'))).toBe(false); // no latency history, no sparkline for it
  });

  it('a short terminal clips long lists with "… N more" and keeps the footer', () => {
    const lines = renderTop({ status: status({ workers: 64, clients: 30 }), history, width: 100, height: 24, now: NOW });
    expect(lines.length).toBeLessThanOrEqual(24);
    expect(lines.some((l) => /… \d+ more/.test(l))).toBe(true);
    expect(lines.at(-1)).toBe('q quit');
  });

  it('before the first status, and while reconnecting, says so', () => {
    const lines = renderTop({
      history,
      notice: 'the daemon went away: refused; reconnecting (attempt 2)…',
      width: 80,
      height: 24,
      now: NOW,
    });
    expect(lines.join('\n')).toContain('reconnecting (attempt 2)');
    expect(lines.join('\n')).toContain('waiting for the daemon');
  });

  it('in cluster mode lists every daemon, this one marked, a lapsed lease said', () => {
    const s: DaemonStatus = {
      ...status(),
      cluster: {
        name: 'prod',
        id: 'h1:1:a',
        redis: 'redis://***@127.0.0.1:6379',
        daemons: [
          {
            id: 'h1:1:a',
            url: 'ws://h1:7420',
            pid: 11,
            host: 'h1',
            workers: 2,
            busy: 1,
            idle: 1,
            lastHeartbeat: NOW - 500,
            alive: true,
            clients: [],
          },
          {
            id: 'h2:2:b',
            url: 'ws://h2:7420',
            pid: 22,
            host: 'h2',
            workers: 2,
            busy: 0,
            idle: 2,
            lastHeartbeat: NOW - 9000,
            alive: false,
            clients: [],
          },
        ],
      },
    };
    const text = renderTop({ status: s, history, width: 120, height: 40, now: NOW }).join('\n');
    expect(text).toContain('CLUSTER prod on redis://***@127.0.0.1:6379 (2 daemons)');
    expect(text).toMatch(/\* h1 pid 11 +ws:\/\/h1:7420 +workers 1 busy \/ 1 idle/);
    expect(text).toMatch(/h2 pid 22 .*LEASE LAPSED/);
  });

  it('sparkline: scaled to its maximum, right-aligned, at most `width` cells', () => {
    expect(sparkline([0, 4, 8], 5)).toBe('  ▁▅█');
    expect(sparkline([0, 0], 2)).toBe('▁▁');
    expect(sparkline([1, 2, 3, 4, 5, 6], 3)).toHaveLength(3);
  });
});
