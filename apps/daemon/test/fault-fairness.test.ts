/**
 * Fairness under faults: a healthy app's batch completes beside an app whose
 * items keep killing workers (process.exit), run into their timeout, or spin,
 * while that app still has work queued; the hostile app's items get their
 * coded errors. Outcomes only (codes, counts, values), never timings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeData } from '@corepool/protocol';
import { sourceHash } from '@corepool/protocol';
import { startDaemon, type TestDaemon } from './support/daemon.js';
import type { RawSocket } from './support/raw-socket.js';
import { untilRunning } from './support/wait.js';

let d: TestDaemon;
beforeAll(async () => {
  d = await startDaemon({ workers: 2 });
});
afterAll(async () => {
  await d?.[Symbol.asyncDispose]();
});

/** Outcomes delivered so far on a raw socket for batch `id`: index -> error code ('' for a value). */
function outcomes(sock: RawSocket, id: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const m of sock.messages) {
    if (m.type !== 'chunk.result' || m.id !== id) continue;
    const errors = new Map((m.errors as { index: number; code: string }[]).map((e) => [e.index, e.code]));
    for (let j = 0; j < (m.count as number); j++) out.set((m.start as number) + j, errors.get((m.start as number) + j) ?? '');
  }
  return out;
}

/** Opens a hostile batch of `n` one-item chunks on a raw socket: it keeps the pool busy with faults for a long while. */
function hostileBatch(sock: RawSocket, id: number, source: string, n: number, timeoutMs = 0): void {
  sock.send({ type: 'batch.open', id, task: { kind: 'source', hash: sourceHash(source), source }, timeoutMs, retries: 0 });
  for (let i = 0; i < n; i++) sock.send({ type: 'batch.chunk', id, start: i, count: 1, payload: encodeData([i]) });
}

const HOSTILE_ITEMS = 200;

describe('a healthy batch beside an app whose items fail', () => {
  const cases: [kind: string, source: string, timeoutMs: number, code: string | undefined][] = [
    ['call process.exit', '(x) => process.exit(3)', 0, 'E_WORKER_CRASHED'],
    ['loop past their timeout', '(x) => { for (;;) {} }', 200, 'E_TIMEOUT'],
    ['spin 300 ms each', '(x) => { const end = performance.now() + 300; while (performance.now() < end) {} return x; }', 0, undefined],
  ];
  let id = 1;
  for (const [kind, source, timeoutMs, code] of cases) {
    it(`completes beside items that ${kind}, while those are still queued`, async () => {
      const a = await d.raw({ hello: true });
      const batch = id++;
      hostileBatch(a, batch, source, HOSTILE_ITEMS, timeoutMs);
      // The hostile app is under way: its first outcomes are in (or, spinning, its chunks are running).
      if (code !== undefined) await a.next((m) => m.type === 'chunk.result' && m.id === batch, 30_000);
      else await untilRunning(() => d.status());
      const b = await d.connect({ name: 'healthy' });
      const busy = (x: number): number => {
        const end = performance.now() + 1;
        while (performance.now() < end) {
          /* 1 ms of work */
        }
        return x * 2;
      };
      const out = await b.map(
        busy,
        Array.from({ length: 200 }, (_, i) => i),
      );
      const hostileDone = outcomes(a, batch);
      expect(out).toEqual(Array.from({ length: 200 }, (_, i) => i * 2));
      expect(hostileDone.size).toBeLessThan(HOSTILE_ITEMS);
      if (code !== undefined) {
        expect(hostileDone.size).toBeGreaterThan(0);
        expect(new Set(hostileDone.values())).toEqual(new Set([code]));
      }
      a.send({ type: 'batch.cancel', id: batch });
      a.ws.close();
      await b.close();
    }, 120_000);
  }
});
