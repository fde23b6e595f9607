/**
 * The scheduler alone, over a fake pool of workers: the races of work stealing
 * that a real daemon shows too rarely to test (the old worker had already
 * started the stolen chunk; a worker dies holding a ghost). An item is
 * delivered once, and crash bookkeeping follows the copy, not the ghost.
 */
import { describe, expect, it } from 'vitest';
import { STEAL_AFTER_MS, encodeData, type ChunkResult, type ServerMessage } from '@corepool/protocol/internal';
import { Scheduler, type SchedulerClient } from '../src/primary/scheduler.js';
import { sourceHash } from '@corepool/protocol';
import type { Supervisor, WorkerSlot } from '../src/primary/supervisor.js';
import type { PrimaryToWorker, RunMessage } from '../src/ipc.js';
import { PRIMARY_SOURCES, SourceLru } from '../src/source-lru.js';

interface Pool {
  scheduler: Scheduler;
  workers: WorkerSlot[];
  sent: { w: WorkerSlot; m: PrimaryToWorker }[];
  got: ServerMessage[];
  client: SchedulerClient;
}

function pool(n = 2): Pool {
  const sent: Pool['sent'] = [];
  const workers = Array.from({ length: n }, (_, slot) => ({
    slot, id: slot + 1, pid: 1000 + slot, ready: true, dead: false, assigned: [], knownTasks: new SourceLru(PRIMARY_SOURCES),
    tasksDone: 0, chunksDone: 0, peakRss: 0,
  })) as unknown as WorkerSlot[];
  const sup = {
    workers,
    send: (w: WorkerSlot, m: PrimaryToWorker) => (sent.push({ w, m }), true),
    kill: () => {},
    retire: () => {},
  } as unknown as Supervisor;
  const scheduler = new Scheduler(sup, { pipelineDepth: 2, maxQueuedChunks: 100, maxQueuedBytes: 1 << 20, maxTasksPerWorker: 0, onWorkerGone: () => {} });
  const got: ServerMessage[] = [];
  const client: SchedulerClient = { id: 1, send: (m) => got.push(m), canReceive: () => true };
  return { scheduler, workers, sent, got, client };
}

/** Opens a batch of three one-item chunks: item 0 on worker 0, item 1 on worker 1, item 2 queued behind item 0. */
function threeChunks(p: Pool): void {
  p.scheduler.open(p.client, { type: 'batch.open', id: 7, task: { kind: 'source', hash: sourceHash('(x) => x'), source: '(x) => x' }, timeoutMs: 0, retries: 2 });
  for (const start of [0, 1, 2]) p.scheduler.add(p.client, { type: 'batch.chunk', id: 7, start, count: 1, payload: encodeData([start]) });
}

function runs(p: Pool, w: WorkerSlot): RunMessage[] {
  return p.sent.filter((s) => s.w === w && s.m.t === 'run').map((s) => s.m as RunMessage);
}

function done(p: Pool, w: WorkerSlot, key: number, value: unknown): void {
  p.scheduler.onWorkerMessage(w, { t: 'done', key, payload: encodeData([value]), errors: [], ms: 1, aborted: false });
}

function results(p: Pool): ChunkResult[] {
  return p.got.filter((m): m is ChunkResult => m.type === 'chunk.result');
}

const pastStealTime = (): Promise<void> => new Promise((r) => setTimeout(r, STEAL_AFTER_MS + 30));

describe('work stealing, over a fake pool', () => {
  it('a chunk behind a long one moves to the idle worker; the old worker is told to skip it', async () => {
    const p = pool();
    threeChunks(p);
    const [w0, w1] = p.workers as [WorkerSlot, WorkerSlot];
    expect(runs(p, w0).map((r) => r.start)).toEqual([0, 2]);
    done(p, w1, runs(p, w1)[0]!.key, 'one');
    await pastStealTime();
    const stolen = runs(p, w0)[1]!;
    expect(p.sent.some((s) => s.w === w0 && s.m.t === 'abort' && s.m.key === stolen.key)).toBe(true);
    const copy = runs(p, w1)[1]!;
    expect(copy.start).toBe(2);
    expect(copy.key).not.toBe(stolen.key);
  });

  it('the old worker ran the stolen chunk anyway: its results are ignored, the copy delivers once', async () => {
    const p = pool();
    threeChunks(p);
    const [w0, w1] = p.workers as [WorkerSlot, WorkerSlot];
    done(p, w1, runs(p, w1)[0]!.key, 'one');
    await pastStealTime();
    const [head, ghost] = runs(p, w0) as [RunMessage, RunMessage];
    const copy = runs(p, w1)[1]!;
    done(p, w0, head.key, 'zero');
    done(p, w0, ghost.key, 'ghost');
    expect(p.workers[0]!.assigned).toEqual([]); // its slot is free again
    done(p, w1, copy.key, 'two');
    const byStart = results(p).map((r) => r.start).sort();
    expect(byStart).toEqual([0, 1, 2]);
  });

  it('a worker dying with a ghost retries its own chunk only; the copy keeps running elsewhere', async () => {
    const p = pool();
    threeChunks(p);
    const [w0, w1] = p.workers as [WorkerSlot, WorkerSlot];
    done(p, w1, runs(p, w1)[0]!.key, 'one');
    await pastStealTime();
    w0.dead = true;
    w0.ready = false;
    p.scheduler.onWorkerExit(w0);
    const st = p.scheduler.stats();
    expect(st.queuedItems).toBe(1); // item 0, to retry
    expect(st.runningItems).toBe(1); // item 2's copy on worker 1
    done(p, w1, runs(p, w1)[1]!.key, 'two');
    expect(results(p).map((r) => r.start).sort()).toEqual([1, 2]);
  });

  it('no chunk is queued behind a chunk that has already run long', async () => {
    const p = pool();
    p.scheduler.open(p.client, { type: 'batch.open', id: 8, task: { kind: 'source', hash: sourceHash('(x) => x'), source: '(x) => x' }, timeoutMs: 0, retries: 2 });
    p.scheduler.add(p.client, { type: 'batch.chunk', id: 8, start: 0, count: 1, payload: encodeData([0]) });
    const [w0, w1] = p.workers as [WorkerSlot, WorkerSlot];
    expect(w0.assigned.length + w1.assigned.length).toBe(1);
    const busy = w0.assigned.length === 1 ? w0 : w1;
    await pastStealTime();
    for (const start of [1, 2, 3]) p.scheduler.add(p.client, { type: 'batch.chunk', id: 8, start, count: 1, payload: encodeData([start]) });
    expect(busy.assigned.length).toBe(1);
    expect(p.scheduler.stats().queuedItems).toBe(1);
  });
});
