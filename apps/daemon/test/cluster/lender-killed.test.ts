/**
 * kill -9 of a lender while it runs chunks for another daemon's client
 * (docs/cluster.md, failure table): its lease lapses, the owner's pool ends
 * the slots it lent (exit, then slot removed), their chunks rerun elsewhere,
 * and every result is delivered once, with no attempt counted (a timed batch
 * with `retries: 0`: none fails). Executions are counted through a log file
 * the task appends to; deliveries on a raw socket (duplicates included).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../support/cluster.js';
import { executions, expectOnceEach, sleeperSource } from '../support/sleeper.js';
import { rawMap } from '../support/raw-map.js';
import { until } from '../support/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'corepool-lend-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a lender killed', () => {
  it('its lent chunks rerun after its lease lapses; every result is delivered once', async () => {
    await using c = await startCluster(2, { workers: 2 });
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const bPids = new Set(await b.workerPids());
    const log = join(dir, 'killed.log');
    const n = 30;
    const items = Array.from({ length: n }, (_, i) => i);
    const sock = await a.raw({ hello: true });
    const run = rawMap(sock, sleeperSource(log, 300), items, {
      chunkSize: 1,
      timeoutMs: 20_000,
      retries: 0,
      settleMs: 1_000,
      deadlineMs: 45_000,
    });
    // B runs A's chunks: some item has run in one of B's workers, and more are queued.
    await until(() => [...executions(log).values()].some((pids) => pids.some((p) => bPids.has(p))), 20_000, 'a chunk run on B');
    await b.kill();
    expectOnceEach(await run, items, log, 'lender-killed');
    // A ended B's slots (and said so in its log only through the outcome above); A is still lending-ready.
    expect(a.proc.exitCode).toBe(null);
  });
});
