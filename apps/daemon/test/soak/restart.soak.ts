/**
 * Row 3 at full size: CP_RESTARTS (50) cycles of kill -9 of the primary while a
 * batch runs and adds are in flight, then a restart on the same data dir and
 * port. Every cycle checks that the old generation is gone, that LMDB opens,
 * that every read lies within acknowledged <= v <= attempted (Jepsen counter),
 * and that the batch completes with lost = duplicated = 0.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon } from '../support/daemon.js';
import { alive } from '../support/processes.js';
import { until } from '../support/wait.js';
import { figure } from '../support/figures.js';

const CYCLES = Number(process.env.CP_RESTARTS ?? 50);

describe('row 3 soak: kill -9 of the primary, restart', () => {
  it(`${CYCLES} cycles keep every acknowledged add and deliver every item once`, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'corepool-restart-soak-'));
    let d = await startDaemon({ dataDir, keepDataDir: true });
    const port = d.port;
    const client = await d.connect({ reconnectTimeoutMs: 60_000 });
    const hits = client.value<number>('hits', { initial: 0 });
    let acknowledged = 0;
    let attempted = 0;
    const restartMs: number[] = [];
    try {
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const n = 300;
        const counts = new Map<number, number>();
        const batch = (async () => {
          for await (const v of client.imap(
            (x: number) => {
              const end = performance.now() + 2;
              while (performance.now() < end) {
                /* busy */
              }
              return x;
            },
            Array.from({ length: n }, (_, i) => i),
            { ordered: false },
          ))
            counts.set(v, (counts.get(v) ?? 0) + 1);
        })();
        const adds: Promise<unknown>[] = [];
        for (let i = 0; i < 50; i++) {
          attempted++;
          adds.push(
            hits.add(1).then(
              () => acknowledged++,
              () => {},
            ),
          );
        }
        // The kill lands at a different point of the work each cycle: the varying delay is the scenario.
        await new Promise((r) => setTimeout(r, 50 + ((cycle * 37) % 200)));
        const old = d.workerProcesses();
        await d.kill();
        await Promise.all(adds);
        await until(() => old.every((p) => !alive(p)), 5_000, 'the old generation to die');
        const t0 = performance.now();
        d = await startDaemon({ dataDir, port, keepDataDir: true });
        restartMs.push(performance.now() - t0);
        const v = await hits.get();
        expect(v).toBeGreaterThanOrEqual(acknowledged);
        expect(v).toBeLessThanOrEqual(attempted);
        await batch;
        const lost = Array.from({ length: n }, (_, i) => i).filter((i) => !counts.has(i));
        const duplicated = [...counts].filter(([, c]) => c > 1);
        expect({ cycle, lost, duplicated }).toEqual({ cycle, lost: [], duplicated: [] });
      }
      restartMs.sort((a, b) => a - b);
      figure('row 3 restart-to-ready p50 (ms)', restartMs[Math.floor(restartMs.length / 2)]!.toFixed(0));
      figure('row 3 acknowledged adds lost', 0);
    } finally {
      await client.close();
      await d[Symbol.asyncDispose]();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
