/**
 * The primary's live heap, read through the V8 inspector of a daemon started with
 * `nodeArgs: ['--inspect=127.0.0.1:0']`: a full collection first, so that what is measured is what
 * the daemon keeps, not garbage its last turns left (RSS counts that too, and the heap's growth).
 */
import WebSocket from 'ws';

import type { TestDaemon } from './daemon.js';
import { until } from './wait.js';

/** A daemon's inspector: `liveHeap()` collects garbage and resolves with heapUsed + arrayBuffers, in bytes. */
export interface HeapProbe {
  liveHeap(): Promise<number>;
  close(): void;
}

/** An inspector protocol answer, as far as read here. */
interface Answer {
  id?: number;
  result?: { result?: { value?: string } };
}

/** Connects to the inspector whose address `d` printed at its start. */
export async function heapProbe(d: TestDaemon): Promise<HeapProbe> {
  await until(() => /ws:\/\/\S+/.test(d.output.join('')), 10_000, "the inspector's address");
  const ws = new WebSocket(/ws:\/\/\S+/.exec(d.output.join(''))![0]);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let id = 0;
  const waiting = new Map<number, (m: Answer) => void>();
  ws.on('message', (data) => {
    const m = JSON.parse(String(data)) as Answer;
    if (m.id !== undefined) waiting.get(m.id)?.(m);
  });
  const call = (method: string, params: object = {}): Promise<Answer> =>
    new Promise((resolve) => {
      waiting.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  return {
    async liveHeap() {
      // A second collection frees what finalizers of the first let go.
      for (let i = 0; i < 2; i++) await call('HeapProfiler.collectGarbage');
      const r = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
      const m = JSON.parse(r.result!.result!.value!) as { heapUsed: number; arrayBuffers: number };
      return m.heapUsed + m.arrayBuffers;
    },
    close() {
      ws.close();
    },
  };
}
