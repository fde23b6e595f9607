/**
 * A client asking for the daemon's status over and over, beside a thousand
 * idle clients (each a row of every status) and an honest neighbour: a status
 * is made at most once per 20 times what the last cost, its requests waiting
 * for the next one (status-snapshot.ts), so it takes a small share of the
 * primary however many requests it keeps in flight; without that it held the
 * primary ~75% of the time. Every status it gets lists the clients. Its share is read from the daemon's own count of the time it spent on
 * each client (status `primaryMs`), not from the clock of this busy process.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { startDaemon } from './support/daemon.js';
import { figure } from './support/figures.js';
import { addsBeside } from './support/neighbour.js';

const IDLE = 1000;
const FLOOD_MS = 3000;

describe('a status flood', () => {
  it("takes a small share of the primary beside a thousand idle clients, and a neighbour's adds go on", async () => {
    await using d = await startDaemon();
    const idle: Client[] = [];
    for (let i = 0; i < IDLE; i += 100)
      idle.push(...(await Promise.all(Array.from({ length: 100 }, (_, j) => d.connect({ name: `idle${i + j}` })))));
    const hostile = await d.connect({ name: 'status-flood' });
    const counter = (await d.connect({ name: 'neighbour' })).value<number>('n', { initial: 0 });
    await counter.get();

    const before = (await hostile.status()).clients.find((c) => c.name === 'status-flood')?.primaryMs ?? 0;
    const neighbour = addsBeside(counter);
    const t0 = performance.now();
    let statuses = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        while (performance.now() - t0 < FLOOD_MS) {
          const st = await hostile.status();
          expect(st.clients.length).toBeGreaterThan(IDLE);
          statuses++;
        }
      }),
    );
    const wallMs = performance.now() - t0;
    const { adds, slowestAddMs } = await neighbour.stop();
    const after = (await hostile.status()).clients.find((c) => c.name === 'status-flood')?.primaryMs ?? 0;
    const share = (after - before) / wallMs;
    figure('status.flood', { statuses, hostileShare: Math.round(share * 100) / 100, adds, slowestAddMs: Math.round(slowestAddMs) });
    expect(await counter.get()).toBe(adds);
    expect(statuses).toBeGreaterThan(50);
    // Without the pacing: 0.4-0.75 of the primary's time.
    expect(share).toBeLessThan(0.2);
    await Promise.all(idle.map((c) => c.close()));
  }, 60_000);
});
