/**
 * Row 6 at full size: CP_CONNS (10,000) authenticated idle connections plus
 * CP_UNAUTH (1,000) that never authenticate, and one active client; the next
 * connection gets close 1013 E_TOO_MANY_CLIENTS, the silent ones are closed at
 * the auth deadline, and the active client keeps working. Figures: RSS per
 * connection, connect + auth rate, p99 Value.add under load, open fds.
 */
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startDaemon } from '../support/daemon.js';
import type { RawSocket } from '../support/raw-socket.js';
import { until } from '../support/wait.js';
import { figure, percentile } from '../support/figures.js';

const CONNS = Number(process.env.CP_CONNS ?? 10_000);
const UNAUTH = Number(process.env.CP_UNAUTH ?? 1000);

describe('row 6 soak: many connections', () => {
  it(`${CONNS} idle + ${UNAUTH} unauthenticated + 1 over the limit`, async () => {
    await using d = await startDaemon({ args: ['--max-clients', String(CONNS + UNAUTH + 1), '--auth-deadline-ms', '5000'] });
    const active = await d.connect();
    const hits = active.value<number>('hits', { initial: 0 });
    await hits.get();
    const rss0 = d.rss();
    const silent: RawSocket[] = [];
    for (let i = 0; i < UNAUTH; i += 100)
      silent.push(...(await Promise.all(Array.from({ length: Math.min(100, UNAUTH - i) }, () => d.raw()))));
    const idle: RawSocket[] = [];
    const t0 = performance.now();
    for (let i = 0; i < CONNS; i += 200)
      idle.push(...(await Promise.all(Array.from({ length: Math.min(200, CONNS - i) }, () => d.raw({ hello: true })))));
    const rate = CONNS / ((performance.now() - t0) / 1000);
    expect(idle.every((s) => s.ws.readyState === 1)).toBe(true);
    const over = await d.raw();
    expect(await over.closed).toEqual({ code: 1013, reason: 'E_TOO_MANY_CLIENTS' });
    const lat: number[] = [];
    for (let i = 0; i < 1000; i++) {
      const s = performance.now();
      await hits.add(1);
      lat.push(performance.now() - s);
    }
    expect(await hits.get()).toBe(1000);
    const fds = readdirSync(`/proc/${d.pid}/fd`).length;
    const rss1 = d.rss();
    for (const s of silent) expect((await s.closed).code).toBe(1008);
    expect(d.proc.exitCode).toBeNull();
    await until(async () => (await active.status()).clients.length === CONNS + 1, 30_000, 'silent ones gone');
    expect(await active.map((x: number) => x + 1, [1, 2, 3])).toEqual([2, 3, 4]);
    figure('row6.soak', {
      conns: CONNS,
      unauth: UNAUTH,
      rssPerConnKiB: Math.round((rss1 - rss0) / (CONNS + UNAUTH) / 1024),
      connectAuthPerSec: Math.round(rate),
      addP99Ms: +percentile(lat, 99).toFixed(2),
      openFds: fds,
    });
    for (const s of idle) s.ws.terminate();
  });
});
