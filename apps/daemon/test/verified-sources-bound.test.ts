/**
 * The task sources the primary has verified (VerifiedSources, kept for hash-only specs) are
 * bounded by what they hold of its heap, not only by their characters: each distinct source
 * keeps an entry (its hash, the entry, its map slot) of a few hundred bytes besides its text,
 * and with a bound of 16 Mi characters alone, small sources made that up to ~700,000 entries.
 * A raw client opening and closing batches of 800,000 distinct one-line sources (no item run)
 * left 283 MB of the primary's heap after a full GC (27 MB before), for good, after it closed.
 *
 * The heap is read after a full GC through the inspector of the daemon's primary
 * (`--inspect=127.0.0.1:0`): the daemon exposes no figure of this cache.
 */
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { sourceHash } from '@corepool/protocol';

import { startDaemon, type TestDaemon } from './support/daemon.js';

const MiB = 1024 * 1024;
/** Distinct sources sent: past the bound's ~32,000 small entries, under the old one's ~700,000. */
const SOURCES = 150_000;
/** Batches opened (and closed at once) per frame. */
const PER_FRAME = 500;

/** The primary's V8 heap in use after a full GC, through its inspector. */
async function heapAfterGc(d: TestDaemon): Promise<number> {
  const line = d.output.join('\n').match(/Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/);
  if (line === null) throw new Error('no inspector URL in the daemon output');
  const ws = new WebSocket(line[1]!);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const call = (id: number, method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> =>
    new Promise((resolve) => {
      const onMessage = (data: WebSocket.RawData): void => {
        const m = JSON.parse(data.toString()) as { id?: number; result: Record<string, unknown> };
        if (m.id !== id) return;
        ws.off('message', onMessage);
        resolve(m.result);
      };
      ws.on('message', onMessage);
      ws.send(JSON.stringify({ id, method, params }));
    });
  try {
    await call(1, 'HeapProfiler.collectGarbage');
    const r = await call(2, 'Runtime.evaluate', { expression: 'process.memoryUsage().heapUsed', returnByValue: true });
    return (r.result as { value: number }).value;
  } finally {
    ws.close();
  }
}

describe('verified task sources', () => {
  it('hold a bounded part of the primary heap however many distinct small sources a client sends', async () => {
    await using d = await startDaemon({ workers: 1, nodeArgs: ['--inspect=127.0.0.1:0'] });
    const h = await d.raw({ hello: true });
    // A first round, so that what the daemon loads and compiles once is in the baseline.
    let id = 1;
    let rid = 1;
    const round = async (count: number): Promise<void> => {
      for (let sent = 0; sent < count; sent += PER_FRAME) {
        const frame: unknown[] = [];
        for (let k = 0; k < PER_FRAME; k++, id++) {
          const source = `(x) => x + ${id}`;
          frame.push({ type: 'batch.open', id, task: { kind: 'source', hash: sourceHash(source), source }, timeoutMs: 0, retries: 0 });
          frame.push({ type: 'batch.close', id });
        }
        h.send(frame);
        // Messages are handled in order: once this reply is back, the frame's batches were opened.
        const r = rid++;
        h.send({ type: 'state', rid: r, op: 'value.get', name: 'x' });
        await h.next((m) => m.type === 'reply' && m.rid === r, 60_000);
      }
    };
    await round(5_000);
    const before = await heapAfterGc(d);
    await round(SOURCES);
    expect(h.messages.filter((m) => m.type === 'batch.error' || m.type === 'error')).toEqual([]);
    h.ws.close(1000);
    await h.closed;
    const after = await heapAfterGc(d);
    // The bound (16 Mi characters, an entry counted at 512 besides its source) is ~32,000 such entries,
    // ~11 MB; before, all 150,000 stayed (~50 MB).
    expect(after - before).toBeLessThan(24 * MiB);
    // And a source still verified is taken by its hash alone, from another connection.
    const other = await d.raw({ hello: true });
    const last = `(x) => x + ${id - 1}`;
    other.send({ type: 'batch.open', id: 1, task: { kind: 'source', hash: sourceHash(last), source: '' }, timeoutMs: 0, retries: 0 });
    other.send({ type: 'batch.close', id: 1 });
    other.send({ type: 'state', rid: 1, op: 'value.get', name: 'x' });
    await other.next((m) => m.type === 'reply' && m.rid === 1);
    expect(other.messages.filter((m) => m.type === 'batch.error' || m.type === 'error')).toEqual([]);
    other.ws.close(1000);
  }, 120_000);
});
