/**
 * The scheduler alone, over a fake pool of workers and a clock the test
 * moves: placement (fill, newcomer admission), the races of work stealing
 * where a chunk moves the old way (a pool that cannot withdraw it: the old
 * worker had already started the stolen chunk; a worker dies holding a ghost;
 * withdrawals are in withdrawal.unit.test.ts), deadlines, cancel
 * grace, retirement, results waiting for a client that does not read, and
 * the graceful stop's idle(). An item is delivered once, and crash
 * bookkeeping follows the copy, not the ghost.
 */
import { describe, expect, it } from 'vitest';
import {
  CANCEL_GRACE_MS,
  ErrorCode,
  STEAL_AFTER_MS,
  encodeData,
  sourceHash,
  type ChunkResult,
  type ServerMessage,
} from '@corepool/protocol/internal';
import { KILLER_MEMORY_MS } from '../src/primary/fair-share.js';
import { Scheduler, type SchedulerClient } from '../src/primary/scheduler.js';
import type { ChunkMessage } from '../src/primary/worker-pool.js';
import type { RunMessage } from '../src/ipc.js';
import { FakeClock } from './support/fake-clock.js';
import { FakePool, type FakeWorker } from './support/fake-pool.js';

const TASK = { kind: 'source', hash: sourceHash('(x) => x'), source: '(x) => x' } as const;

interface Client extends SchedulerClient {
  got: ServerMessage[];
  reads: boolean;
}

interface Setup {
  scheduler: Scheduler<FakeWorker>;
  pool: FakePool;
  clock: FakeClock;
  client: Client;
}

function client(id: number): Client {
  const c: Client = { id, got: [], reads: true, send: (m) => c.got.push(m), canReceive: () => c.reads };
  return c;
}

function setup(n = 2, opts: { maxTasksPerWorker?: number; pipelineDepth?: number; start?: number } = {}): Setup {
  const pool = new FakePool(n);
  const clock = new FakeClock(opts.start);
  const scheduler = new Scheduler<FakeWorker>(
    pool,
    {
      pipelineDepth: opts.pipelineDepth ?? 2,
      maxQueuedChunks: 100,
      maxQueuedBytes: 1 << 20,
      maxTasksPerWorker: opts.maxTasksPerWorker ?? 0,
    },
    clock,
  );
  pool.events = scheduler;
  return { scheduler, pool, clock, client: client(1) };
}

function open(s: Setup, id: number, c: SchedulerClient = s.client, o: { timeoutMs?: number; retries?: number } = {}): void {
  expect(s.scheduler.open(c, { type: 'batch.open', id, task: TASK, timeoutMs: o.timeoutMs ?? 0, retries: o.retries ?? 2 })).toBeUndefined();
}

/** Adds one chunk per start, of `count` items each. */
function add(s: Setup, id: number, starts: number[], c: SchedulerClient = s.client, count = 1): void {
  for (const start of starts) {
    const items = Array.from({ length: count }, (_, i) => start + i);
    expect(s.scheduler.add(c, { type: 'batch.chunk', id, start, count, payload: encodeData(items) })).toBeUndefined();
  }
}

/** Opens a job of three one-item chunks: item 0 on worker 0, item 1 on worker 1, item 2 queued behind item 0. */
function threeChunks(s: Setup): void {
  open(s, 7);
  add(s, 7, [0, 1, 2]);
}

/** threeChunks, then worker 1 finishes item 1 and, once item 0 has run long, takes item 2 from behind it. */
function stealItem2(s: Setup): [FakeWorker, FakeWorker] {
  threeChunks(s);
  const [w0, w1] = workers(s);
  done(s, w1, s.pool.runs(w1)[0]!.key, 'one');
  s.clock.advance(STEAL_AFTER_MS + 30);
  return [w0, w1];
}

function tell(s: Setup, w: FakeWorker, m: ChunkMessage): void {
  s.scheduler.workerMessage(w, m);
}

function done(s: Setup, w: FakeWorker, key: number, value: unknown, count = 1): void {
  tell(s, w, { t: 'done', key, payload: encodeData(Array.from({ length: count }, () => value)), errors: [], ms: 1, aborted: false });
}

function results(c: Client): ChunkResult[] {
  return c.got.filter((m): m is ChunkResult => m.type === 'chunk.result');
}

function workers(s: Setup): [FakeWorker, FakeWorker] {
  return s.pool.workers() as [FakeWorker, FakeWorker];
}

/** One worker running A with R prefetched behind it (client 1), and client 2's timed (100 ms) newcomer chunk B placed urgently behind A. */
function urgentBehind(): { s: Setup; w0: FakeWorker; a: RunMessage; r: RunMessage; other: Client; b: RunMessage } {
  const s = setup(1);
  open(s, 1);
  add(s, 1, [0, 1]);
  const [w0] = workers(s);
  const [a, r] = s.pool.runs(w0) as [RunMessage, RunMessage];
  const other = client(2);
  open(s, 9, other, { timeoutMs: 100 });
  add(s, 9, [100], other);
  return { s, w0, a, r, other, b: s.pool.runs(w0).find((m) => m.urgent)! };
}

/** B's 100 ms deadline runs from now: nothing at 99 ms, its worker killed at 100. */
function killedIn100(s: Setup, w0: FakeWorker): void {
  s.clock.advance(99);
  expect(s.pool.killed).toEqual([]);
  s.clock.advance(1);
  expect(s.pool.killed).toEqual([w0]);
}

describe('placement', () => {
  it('fills one chunk per worker first, then the second pipeline slot', () => {
    const s = setup();
    open(s, 1);
    add(s, 1, [0, 1, 2, 3, 4]);
    const [w0, w1] = workers(s);
    expect(s.pool.runs(w0).map((r) => r.start)).toEqual([0, 2]);
    expect(s.pool.runs(w1).map((r) => r.start)).toEqual([1, 3]);
    expect(s.scheduler.stats().queuedItems).toBe(1);
    expect(s.scheduler.running()).toBe(4);
  });

  it('keeps a queued chunk as its own bytes, not as a view that holds its whole frame alive', () => {
    const s = setup(1, { pipelineDepth: 1 });
    open(s, 1);
    add(s, 1, [0]);
    // The second chunk waits behind the first; it came as a view into a 1 MB frame.
    const frame = new Uint8Array(1024 * 1024);
    const items = encodeData([1]);
    frame.set(items, 500_000);
    expect(
      s.scheduler.add(s.client, {
        type: 'batch.chunk',
        id: 1,
        start: 1,
        count: 1,
        payload: frame.subarray(500_000, 500_000 + items.length),
      }),
    ).toBeUndefined();
    const [w0] = workers(s);
    done(s, w0, s.pool.runs(w0)[0]!.key, 'zero');
    const run = s.pool.runs(w0)[1]!;
    expect(run.start).toBe(1);
    expect(run.payload.buffer.byteLength).toBe(items.length);
    expect([...run.payload]).toEqual([...items]);
    // A chunk that is most of its frame goes as it came: no copy on the common path.
    const big = new Uint8Array(4096);
    const whole = encodeData([new Uint8Array(3000)]);
    big.set(whole, 10);
    const view = big.subarray(10, 10 + whole.length);
    expect(s.scheduler.add(s.client, { type: 'batch.chunk', id: 1, start: 2, count: 1, payload: view })).toBeUndefined();
    done(s, w0, run.key, 'one');
    expect(s.pool.runs(w0)[2]!.payload).toBe(view);
  });

  it('queuedChunksByRealm: chunks waiting per client, by realm, clients with none left out (cluster demand)', () => {
    const s = setup(1, { pipelineDepth: 1 });
    const other = client(2);
    open(s, 1);
    open(s, 1, other);
    add(s, 1, [0, 1, 2]);
    add(s, 1, [0], other);
    const [w0] = s.pool.workers();
    const queued = s.scheduler.queuedChunksByRealm();
    expect([...queued.values()].sort()).toEqual([1, 2]);
    const realms = [...queued.keys()];
    expect(new Set(realms).size).toBe(2);
    // The running chunk is client 1's first: done, the next one is placed and one fewer waits.
    const first = s.pool.runs(w0!)[0]!;
    done(s, w0!, first.key, [0]);
    const after = s.scheduler.queuedChunksByRealm();
    expect([...after.values()].reduce((a, b) => a + b, 0)).toBe(2);
    expect(realms).toEqual(expect.arrayContaining([...after.keys()]));
  });

  it('queuedChunksByRealm leaves out a recent killer holding a worker: placement passes it over for a lent worker too', () => {
    const s = setup(2, { pipelineDepth: 1 });
    const honest = client(2);
    open(s, 1, s.client, { timeoutMs: 500, retries: 0 });
    add(s, 1, [0, 1, 2, 3, 4, 5]);
    const [w0, w1] = workers(s);
    const killerRealm = s.pool.runs(w0)[0]!.realm;
    // No kill yet: it may take any worker, a lent one too.
    expect(s.scheduler.queuedChunksByRealm().get(killerRealm)).toBe(4);
    tell(s, w0, { t: 'started', key: s.pool.runs(w0)[0]!.key, i: 0 });
    tell(s, w1, { t: 'started', key: s.pool.runs(w1)[0]!.key, i: 0 });
    s.clock.advance(500);
    expect(s.pool.killed).toEqual([w0, w1]);
    const n0 = s.pool.exit(w0);
    const n1 = s.pool.exit(w1);
    s.pool.ready(n0);
    // Worker 1 restarting for it, it takes no other worker: the refilled one stays idle (and a lent one would).
    expect(s.pool.runs(n0)).toEqual([]);
    expect(s.scheduler.queuedChunksByRealm().size).toBe(0);
    s.pool.ready(n1);
    // Nothing restarting for it now, it takes one worker, and no second one.
    expect([...s.pool.runs(n0), ...s.pool.runs(n1)].map((r) => r.realm)).toEqual([killerRealm]);
    expect(s.scheduler.queuedChunksByRealm().size).toBe(0);
    open(s, 2, honest);
    add(s, 2, [0, 1, 2], honest);
    const queued = s.scheduler.queuedChunksByRealm();
    expect(queued.has(killerRealm)).toBe(false);
    expect([...queued.values()]).toEqual([2]);
    // Its last kill KILLER_MEMORY_MS ago, it may take another worker: its queued chunks are demand again.
    s.clock.advance(KILLER_MEMORY_MS);
    expect(s.scheduler.queuedChunksByRealm().get(killerRealm)).toBe(3);
  });

  it('a source goes to a worker once, then its hash alone', () => {
    const s = setup(1);
    open(s, 1);
    add(s, 1, [0, 1]);
    const [first, second] = s.pool.runs(workers(s)[0]);
    expect(first!.task).toEqual(TASK);
    expect(second!.task).toEqual({ kind: 'source', hash: TASK.hash, source: '' });
  });

  it("a newcomer's first chunk goes right behind a running chunk, ahead of the prefetched ones", () => {
    const s = setup();
    open(s, 1);
    add(s, 1, [0, 1, 2, 3, 4, 5]);
    const other = client(2);
    open(s, 9, other);
    add(s, 9, [100], other);
    const urgent = s.pool.sent.map((x) => x.m).filter((m) => m.t === 'run' && m.urgent);
    expect(urgent.map((m) => m.t === 'run' && m.start)).toEqual([100]);
    expect(s.scheduler.stats().perClient.get(2)?.runningChunks).toBe(1);
  });

  it('a client that does not read gets no chunks until it has drained; its results wait, in order', () => {
    const s = setup(1, { pipelineDepth: 1 });
    open(s, 1);
    add(s, 1, [0, 1, 2]);
    const [w0] = workers(s);
    s.client.reads = false;
    done(s, w0, s.pool.runs(w0)[0]!.key, 'a');
    expect(results(s.client)).toEqual([]); // waits for the client to read
    expect(s.pool.runs(w0)).toHaveLength(1); // and its next chunk waits too
    s.clock.advance(1_000); // no polling: nothing moves until the session says the client drained
    expect(s.pool.runs(w0)).toHaveLength(1);
    s.client.reads = true;
    s.scheduler.drained(s.client);
    expect(results(s.client).map((r) => r.start)).toEqual([0]);
    expect(s.pool.runs(w0).map((r) => r.start)).toEqual([0, 1]);
    s.client.reads = false;
    done(s, w0, s.pool.runs(w0)[1]!.key, 'b');
    s.client.reads = true;
    s.scheduler.drained(s.client);
    expect(results(s.client).map((r) => r.start)).toEqual([0, 1]);
  });

  it('a stopping scheduler sends waiting results at once, and idle() resolves when the last chunk leaves its worker', async () => {
    const s = setup(1, { pipelineDepth: 1 });
    open(s, 1);
    add(s, 1, [0, 1]);
    const [w0] = workers(s);
    s.client.reads = false;
    done(s, w0, s.pool.runs(w0)[0]!.key, 'a');
    s.scheduler.dispatch();
    const head = s.pool.runs(w0);
    expect(head).toHaveLength(1);
    let idle = false;
    s.scheduler.stopAccepting();
    expect(results(s.client).map((r) => r.start)).toEqual([0]);
    // Nothing runs (the second chunk was never placed): idle at once.
    await s.scheduler.idle().then(() => (idle = true));
    expect(idle).toBe(true);
  });

  it('idle() waits for the running chunks', async () => {
    const s = setup();
    open(s, 1);
    add(s, 1, [0, 1]);
    const [w0, w1] = workers(s);
    let idle = false;
    const waiting = s.scheduler.idle().then(() => (idle = true));
    done(s, w0, s.pool.runs(w0)[0]!.key, 'a');
    await Promise.resolve();
    expect(idle).toBe(false);
    done(s, w1, s.pool.runs(w1)[0]!.key, 'b');
    await waiting;
    expect(idle).toBe(true);
  });

  it('a worker past maxTasksPerWorker takes no more chunks and is retired once empty', () => {
    const s = setup(1, { maxTasksPerWorker: 2, pipelineDepth: 1 });
    open(s, 1);
    add(s, 1, [0, 1, 2]);
    const [w0] = workers(s);
    done(s, w0, s.pool.runs(w0)[0]!.key, 'a');
    expect(s.pool.retired).toEqual([]);
    done(s, w0, s.pool.runs(w0)[1]!.key, 'b');
    expect(s.pool.retired).toEqual([w0]);
    expect(s.pool.runs(w0)).toHaveLength(2);
    const next = s.pool.exit(w0);
    s.pool.ready(next);
    expect(s.pool.runs(next).map((r) => r.start)).toEqual([2]);
    expect(s.scheduler.workerFigures(next)).toEqual({ busy: true, tasksDone: 0, chunksDone: 0 });
  });
});

describe('work stealing, over a fake pool and clock', () => {
  it('a chunk behind a long one moves to the idle worker; the old worker is told to skip it', () => {
    const s = setup();
    threeChunks(s);
    const [w0, w1] = workers(s);
    expect(s.pool.runs(w0).map((r) => r.start)).toEqual([0, 2]);
    done(s, w1, s.pool.runs(w1)[0]!.key, 'one');
    s.clock.advance(STEAL_AFTER_MS - 10);
    expect(s.pool.runs(w1)).toHaveLength(1); // not long yet
    s.clock.advance(20); // the steal timer fires by itself
    const stolen = s.pool.runs(w0)[1]!;
    expect(s.pool.aborts(w0)).toEqual([stolen.key]);
    const copy = s.pool.runs(w1)[1]!;
    expect(copy.start).toBe(2);
    expect(copy.key).not.toBe(stolen.key);
  });

  it('the old worker ran the stolen chunk anyway: its results are ignored, the copy delivers once', () => {
    const s = setup();
    const [w0, w1] = stealItem2(s);
    const [head, ghost] = s.pool.runs(w0) as [RunMessage, RunMessage];
    const copy = s.pool.runs(w1)[1]!;
    done(s, w0, head.key, 'zero');
    done(s, w0, ghost.key, 'ghost');
    expect(s.scheduler.workerFigures(w0).busy).toBe(false); // its slot is free again
    done(s, w1, copy.key, 'two');
    expect(
      results(s.client)
        .map((r) => r.start)
        .sort(),
    ).toEqual([0, 1, 2]);
  });

  it('a worker dying with a ghost retries its own chunk only; the copy keeps running elsewhere', () => {
    const s = setup();
    const [w0, w1] = stealItem2(s);
    s.pool.exit(w0);
    const st = s.scheduler.stats();
    expect(st.queuedItems).toBe(1); // item 0, to retry
    expect(st.runningItems).toBe(1); // item 2's copy on worker 1
    done(s, w1, s.pool.runs(w1)[1]!.key, 'two');
    expect(
      results(s.client)
        .map((r) => r.start)
        .sort(),
    ).toEqual([1, 2]);
  });

  it('an abort the old worker cannot take kills it; the copy still runs on the idle worker', () => {
    const s = setup();
    threeChunks(s);
    const [w0, w1] = workers(s);
    done(s, w1, s.pool.runs(w1)[0]!.key, 'one');
    s.pool.refusing.add(w0);
    s.clock.advance(STEAL_AFTER_MS + 30);
    expect(s.pool.killed).toEqual([w0]);
    expect(s.pool.runs(w1).map((r) => r.start)).toEqual([1, 2]);
    s.pool.exit(w0);
    // Its running chunk is recovered (item 0, queued to retry), not the one it lost (item 2, running on worker 1).
    expect(s.scheduler.stats()).toMatchObject({ queuedItems: 1, runningItems: 1 });
  });

  it("a ghost's failure is ignored: the copy owns the items", () => {
    const s = setup();
    const [w0, w1] = stealItem2(s);
    const ghost = s.pool.runs(w0)[1]!;
    tell(s, w0, { t: 'fail', key: ghost.key, error: { code: ErrorCode.E_TASK_FAILED, message: 'no' } });
    expect(s.client.got.filter((m) => m.type === 'batch.error')).toEqual([]);
    done(s, w1, s.pool.runs(w1)[1]!.key, 'two');
    expect(results(s.client).map((r) => r.start)).toEqual([1, 2]);
  });

  it('no chunk is queued behind a chunk that has already run long', () => {
    const s = setup();
    open(s, 8);
    add(s, 8, [0]);
    const [w0, w1] = workers(s);
    const busy = s.pool.runs(w0).length === 1 ? w0 : w1;
    expect(s.pool.runs(w0).length + s.pool.runs(w1).length).toBe(1);
    s.clock.advance(STEAL_AFTER_MS + 30);
    add(s, 8, [1, 2, 3]);
    expect(s.pool.runs(busy)).toHaveLength(1);
    expect(s.scheduler.stats().queuedItems).toBe(1);
  });
});

describe('failures, over a fake pool and clock', () => {
  it('an item past its timeout fails with E_TIMEOUT and its worker is killed; the rest of its chunk runs again', () => {
    const s = setup(1, { pipelineDepth: 1 });
    open(s, 1, s.client, { timeoutMs: 500 });
    add(s, 1, [0], s.client, 3);
    const [w0] = workers(s);
    const run = s.pool.runs(w0)[0]!;
    expect(run.timed).toBe(true);
    tell(s, w0, { t: 'started', key: run.key, i: 0 });
    s.clock.advance(100);
    tell(s, w0, { t: 'started', key: run.key, i: 1 }); // the deadline restarts with each item
    s.clock.advance(499);
    expect(s.pool.killed).toEqual([]);
    s.clock.advance(1);
    expect(s.pool.killed).toEqual([w0]);
    expect(results(s.client).map((r) => [r.start, r.errors[0]?.code])).toEqual([[1, ErrorCode.E_TIMEOUT]]);
    const next = s.pool.exit(w0);
    s.pool.ready(next);
    // Items 0 and 2 run again, in their own chunks; item 1 has its outcome.
    expect(s.pool.runs(next).map((r) => [r.start, r.count])).toEqual([[0, 1]]);
    expect(s.scheduler.stats().queuedItems).toBe(1);
  });

  it("the deadline runs from when a chunk becomes its worker's running one, even if no item reports started", () => {
    const s = setup(1);
    open(s, 1, s.client, { timeoutMs: 500 });
    add(s, 1, [0, 1]);
    const [w0] = workers(s);
    s.clock.advance(300);
    done(s, w0, s.pool.runs(w0)[0]!.key, 'a');
    s.clock.advance(499); // the second chunk became the running one 499 ms ago
    expect(s.pool.killed).toEqual([]);
    s.clock.advance(1);
    expect(s.pool.killed).toEqual([w0]);
    expect(results(s.client).map((r) => [r.start, r.errors[0]?.code ?? null])).toEqual([
      [0, null],
      [1, ErrorCode.E_TIMEOUT],
    ]);
  });

  it('an urgent chunk its worker runs behind another (the chunk it was to follow had ended): the lane follows the worker, its deadline waits', () => {
    const { s, w0, a, r, other, b } = urgentBehind();
    expect(b.after).toBe(a.key);
    done(s, w0, a.key, 'a'); // A's end is heard: B is taken to be running...
    tell(s, w0, { t: 'behind', key: b.key, running: r.key }); // ...but the worker had begun R
    expect([...s.scheduler.runningChunks()].map((c) => c.client.id)).toEqual([1]);
    s.clock.advance(1_000); // R runs long: B waits untimed
    expect(s.pool.killed).toEqual([]);
    expect(results(other)).toEqual([]);
    done(s, w0, r.key, 'r'); // R ends: B begins, timed from now
    expect([...s.scheduler.runningChunks()].map((c) => c.client.id)).toEqual([2]);
    killedIn100(s, w0);
    expect(results(other).map((x) => [x.start, x.errors[0]?.code])).toEqual([[100, ErrorCode.E_TIMEOUT]]);
  });

  it("an urgent chunk behind a CPU-bound chunk its worker began first (no behind can come): timed from that one's end, or its own start", () => {
    const { s, w0, a, r, other } = urgentBehind();
    done(s, w0, a.key, 'a'); // the worker begins R, spinning: it reads nothing until R ends
    s.clock.advance(1_000);
    expect(s.pool.killed).toEqual([]);
    done(s, w0, r.key, 'r'); // R ends: B runs next, timed from now
    killedIn100(s, w0);
    expect(results(other).map((x) => [x.start, x.errors[0]?.code])).toEqual([[100, ErrorCode.E_TIMEOUT]]);
  });

  it('an urgent chunk its worker runs next is timed from its start', () => {
    const { s, w0, a, b } = urgentBehind();
    done(s, w0, a.key, 'a');
    s.clock.advance(5);
    tell(s, w0, { t: 'started', key: b.key, i: 0 });
    killedIn100(s, w0);
  });

  it("a behind message about chunks the lane no longer holds, or already in the worker's order, changes nothing", () => {
    const s = setup(1);
    open(s, 1);
    add(s, 1, [0, 1]);
    const [w0] = workers(s);
    const [a, r] = s.pool.runs(w0) as [RunMessage, RunMessage];
    tell(s, w0, { t: 'behind', key: r.key, running: a.key }); // R already waits behind A
    tell(s, w0, { t: 'behind', key: a.key, running: r.key }); // A is no urgent chunk: a task's forgery
    tell(s, w0, { t: 'behind', key: a.key, running: 999 });
    tell(s, w0, { t: 'behind', key: 999, running: a.key });
    done(s, w0, a.key, 'a');
    done(s, w0, r.key, 'r');
    expect(results(s.client).map((x) => x.start)).toEqual([0, 1]);
  });

  it('an uncaught exception fails the item running, and the worker is killed if it has not left after the grace', () => {
    const s = setup(1, { pipelineDepth: 1 });
    open(s, 1);
    add(s, 1, [0], s.client, 2);
    const [w0] = workers(s);
    const run = s.pool.runs(w0)[0]!;
    tell(s, w0, { t: 'uncaught', key: run.key, i: 1, error: { code: ErrorCode.E_TASK_FAILED, message: 'boom' } });
    expect(results(s.client).map((r) => [r.start, r.errors[0]?.code])).toEqual([[1, ErrorCode.E_TASK_FAILED]]);
    s.clock.advance(CANCEL_GRACE_MS);
    expect(s.pool.killed).toEqual([w0]);
    const next = s.pool.exit(w0);
    s.pool.ready(next);
    expect(s.pool.runs(next).map((r) => [r.start, r.count])).toEqual([[0, 1]]); // item 0 runs again, unblamed
  });

  it('a poison item is named by its second death and fails past its retries', () => {
    const s = setup(1, { pipelineDepth: 1 });
    open(s, 1, s.client, { retries: 1 });
    add(s, 1, [0], s.client, 3);
    let w = workers(s)[0];
    // First death: which item ran is unknown, so the chunk runs again tracked.
    expect(s.pool.runs(w)[0]!.timed).toBe(false);
    w = s.pool.exit(w);
    s.pool.ready(w);
    const tracked = s.pool.runs(w)[0]!;
    expect([tracked.start, tracked.count, tracked.timed]).toEqual([0, 3, true]);
    tell(s, w, { t: 'started', key: tracked.key, i: 2 });
    w = s.pool.exit(w);
    s.pool.ready(w);
    // Item 2 died twice (two deaths of its chunk): past retries 1.
    expect(results(s.client).map((r) => [r.start, r.errors[0]?.code])).toEqual([[2, ErrorCode.E_WORKER_CRASHED]]);
    expect(s.pool.runs(w).map((r) => [r.start, r.count])).toEqual([[0, 2]]);
  });

  it('a cancelled job: queued chunks dropped, running ones aborted, and killed after the grace if still held', () => {
    const s = setup(1);
    open(s, 1);
    add(s, 1, [0, 1, 2]);
    const [w0] = workers(s);
    const [head, next] = s.pool.runs(w0) as [RunMessage, RunMessage];
    s.scheduler.cancel(s.client, 1);
    expect(s.pool.aborts(w0)).toEqual([head.key, next.key]);
    expect(s.scheduler.stats().queuedItems).toBe(0);
    tell(s, w0, { t: 'done', key: next.key, payload: encodeData([]), errors: [], ms: 0, aborted: true }); // dropped unstarted
    s.clock.advance(CANCEL_GRACE_MS);
    expect(s.pool.killed).toEqual([w0]);
    expect(results(s.client)).toEqual([]);
  });

  it('a recycled worker: its chunks run again unblamed', () => {
    const s = setup(1, { pipelineDepth: 1 });
    open(s, 1, s.client, { retries: 0 });
    add(s, 1, [0]);
    let w = workers(s)[0];
    tell(s, w, { t: 'recycle', reason: 'realm dirty', culprit: s.pool.runs(w)[0]!.realm });
    w = s.pool.exit(w);
    s.pool.ready(w);
    expect(s.pool.runs(w).map((r) => r.start)).toEqual([0]); // retries 0, yet no E_WORKER_CRASHED
    expect(results(s.client)).toEqual([]);
  });

  it('a worker recycled for work left spinning once its chunks were done: its restart is charged to the client whose chunk ran there last', () => {
    for (const lastRan of [true, false]) {
      const s = setup(2, { pipelineDepth: 1 });
      open(s, 1);
      add(s, 1, [0]);
      const [w0, w1] = workers(s);
      const ran = s.pool.runs(w0).length > 0 ? w0 : w1;
      done(s, ran, s.pool.runs(ran)[0]!.key, 0);
      tell(s, ran, lastRan ? { t: 'recycle', reason: 'spins with no chunk', lastRan: true } : { t: 'recycle', reason: 'realm dirty' });
      s.pool.ready(s.pool.exit(ran));
      // Charged, it holds one worker for KILLER_MEMORY_MS; charged to no one, both.
      add(s, 1, [1, 2, 3, 4]);
      expect(s.scheduler.running()).toBe(lastRan ? 1 : 2);
    }
  });

  it('a cancel whose abort the worker cannot take kills it at once', () => {
    const s = setup(1);
    open(s, 1);
    add(s, 1, [0, 1]);
    const [w0] = workers(s);
    s.pool.refusing.add(w0);
    s.scheduler.cancel(s.client, 1);
    expect(s.pool.killed).toEqual([w0]);
    const next = s.pool.exit(w0);
    s.pool.ready(next);
    expect(s.pool.runs(next)).toEqual([]); // a cancelled job's chunks are not recovered
    expect(results(s.client)).toEqual([]);
  });

  it("a worker that exits holding a cancelled job's chunks: nothing of them runs again", () => {
    const s = setup(1);
    open(s, 1);
    add(s, 1, [0, 1, 2]);
    const [w0] = workers(s);
    s.scheduler.cancel(s.client, 1);
    const next = s.pool.exit(w0);
    s.pool.ready(next);
    expect(s.pool.runs(next)).toEqual([]);
    expect(s.scheduler.stats()).toMatchObject({ queuedItems: 0, runningItems: 0 });
    s.clock.advance(CANCEL_GRACE_MS);
    expect(s.pool.killed).toEqual([]); // the grace's kill of a worker since replaced does nothing (worker-pool.ts)
  });

  it("a failed batch: its unsent results are dropped, and the failure waits behind the client's other unsent results", () => {
    const s = setup(3, { pipelineDepth: 1 });
    open(s, 1);
    open(s, 2);
    add(s, 1, [0, 1]);
    add(s, 2, [100]);
    const on = (start: number): [FakeWorker, number] => {
      for (const w of s.pool.workers()) for (const r of s.pool.runs(w)) if (r.start === start) return [w, r.key];
      throw new Error(`item ${start} is not running`);
    };
    s.client.reads = false;
    done(s, ...on(0), 'a0');
    done(s, ...on(100), 'b');
    const [w, key] = on(1);
    tell(s, w, { t: 'fail', key, error: { code: ErrorCode.E_TASK_FAILED, message: 'bad task' } });
    expect(s.client.got).toEqual([]); // nothing overtakes the waiting results
    s.client.reads = true;
    s.scheduler.drained(s.client);
    expect(s.client.got.map((m) => [m.type, 'id' in m ? m.id : null])).toEqual([
      ['chunk.result', 2],
      ['batch.error', 1],
    ]);
  });

  it('a failed batch with nothing waiting: the failure leaves at once', () => {
    const s = setup(1, { pipelineDepth: 1 });
    open(s, 1);
    add(s, 1, [0]);
    const [w0] = workers(s);
    s.client.reads = false;
    tell(s, w0, { t: 'fail', key: s.pool.runs(w0)[0]!.key, error: { code: ErrorCode.E_TASK_FAILED, message: 'bad task' } });
    expect(s.client.got.map((m) => m.type)).toEqual(['batch.error']);
  });

  it('a worker that exits after delivering part of a chunk: only the rest runs again, once', () => {
    const s = setup(1, { pipelineDepth: 1 });
    open(s, 1);
    add(s, 1, [0], s.client, 4);
    const [w0] = workers(s);
    const run = s.pool.runs(w0)[0]!;
    tell(s, w0, { t: 'part', key: run.key, from: 0, count: 2, payload: encodeData(['a', 'b']), errors: [], ms: 1 });
    const next = s.pool.exit(w0);
    s.pool.ready(next);
    // Items 2 and 3 had run (parts come after the whole chunk), yet which one killed the worker is unknown: tracked.
    const rest = s.pool.runs(next)[0]!;
    expect([rest.start, rest.count, rest.timed]).toEqual([2, 2, true]);
    done(s, next, rest.key, 'c', 2);
    expect(results(s.client).map((r) => [r.start, r.count])).toEqual([
      [0, 2],
      [2, 2],
    ]);
  });

  it('a part lost on its way (a later part or the done comes past a gap): the worker goes, the items without a result run again, nobody blamed', () => {
    const s = setup(1, { pipelineDepth: 1 });
    open(s, 1, s.client, { retries: 0 });
    add(s, 1, [0], s.client, 6);
    const [w0] = workers(s);
    const run = s.pool.runs(w0)[0]!;
    tell(s, w0, { t: 'part', key: run.key, from: 0, count: 2, payload: encodeData(['a', 'b']), errors: [], ms: 1 });
    // Items 2 and 3's part never came (a lender's report trimmed from the owner's inbox): the done brings 4 and 5.
    tell(s, w0, { t: 'done', key: run.key, from: 4, payload: encodeData(['e', 'f']), errors: [], ms: 1, aborted: false });
    expect(s.pool.killed).toEqual([w0]);
    const next = s.pool.exit(w0);
    s.pool.ready(next);
    // From the first item without a result, as it was: not tracked, no attempt counted (retries 0 would fail it).
    const rest = s.pool.runs(next)[0]!;
    expect([rest.start, rest.count, rest.timed]).toEqual([2, 4, false]);
    done(s, next, rest.key, 'c', 4);
    expect(results(s.client).map((r) => [r.start, r.count, r.errors[0]?.code ?? null])).toEqual([
      [0, 2, null],
      [2, 4, null],
    ]);
  });

  it('a tracked chunk whose worker exits after a part: the item it had reported, rebased, is blamed', () => {
    const s = setup(1, { pipelineDepth: 1 });
    open(s, 1, s.client, { retries: 0 });
    add(s, 1, [0], s.client, 4);
    let w = workers(s)[0];
    w = s.pool.exit(w); // first death, nothing known: the chunk runs again tracked
    s.pool.ready(w);
    const tracked = s.pool.runs(w)[0]!;
    tell(s, w, { t: 'started', key: tracked.key, i: 3 });
    tell(s, w, { t: 'part', key: tracked.key, from: 0, count: 2, payload: encodeData(['a', 'b']), errors: [], ms: 1 });
    w = s.pool.exit(w);
    s.pool.ready(w);
    expect(results(s.client).map((r) => [r.start, r.count, r.errors[0]?.code ?? null])).toEqual([
      [0, 2, null],
      [3, 1, ErrorCode.E_WORKER_CRASHED],
    ]);
    expect(s.pool.runs(w).map((r) => [r.start, r.count])).toEqual([[2, 1]]);
  });

  it('a deadline is armed at time 0 too', () => {
    const s = setup(1, { pipelineDepth: 1, start: 0 });
    open(s, 1, s.client, { timeoutMs: 500 });
    add(s, 1, [0]);
    const [w0] = workers(s);
    s.clock.advance(500);
    expect(s.pool.killed).toEqual([w0]);
    expect(results(s.client).map((r) => r.errors[0]?.code)).toEqual([ErrorCode.E_TIMEOUT]);
  });
});

describe('a pool that shrinks', () => {
  it('a slot removed for good: the client whose item killed its worker gets a worker again, not after 5 s', () => {
    const s = setup(2, { pipelineDepth: 1 });
    open(s, 1);
    add(s, 1, [0]);
    const [w0, w1] = workers(s);
    const busy = s.pool.runs(w0).length > 0 ? w0 : w1;
    const other = busy === w0 ? w1 : w0;
    s.pool.exitForGood(busy);
    expect(s.scheduler.workerCount()).toBe(1);
    // Charged and held to one worker as a recent killer, but no restart is coming to count against it.
    expect(s.pool.runs(other).map((r) => r.start)).toEqual([0]);
  });
});

describe('steering: priorities, weights, caps on workers', () => {
  /**
   * Each worker's chunks in the order it runs them, kept as a worker keeps
   * them: a chunk goes last, an urgent one right behind the one running when
   * it arrives; a chunk answered leaves. `update` reads what was sent since.
   */
  class Lanes {
    readonly queues = new Map<FakeWorker, RunMessage[]>();
    #seen = 0;
    constructor(readonly s: Setup) {}
    update(): Map<FakeWorker, RunMessage[]> {
      const sent = this.s.pool.sent;
      for (; this.#seen < sent.length; this.#seen++) {
        const { w, m } = sent[this.#seen]!;
        if (m.t !== 'run') continue;
        const q = this.queues.get(w) ?? [];
        if (m.urgent && q.length > 0) q.splice(1, 0, m);
        else q.push(m);
        this.queues.set(w, q);
      }
      return this.queues;
    }
  }

  /**
   * Finishes the running chunk of each busy worker in turn, `ms` apart, until
   * none is left, the worker reporting the time it took; returns the
   * finished runs in order. `check` sees the workers' chunks at each step.
   */
  function drain(s: Setup, ms: number, check: (queues: Map<FakeWorker, RunMessage[]>) => void = () => {}): RunMessage[] {
    const lanes = new Lanes(s);
    const order: RunMessage[] = [];
    for (let step = 0; step < 10_000; step++) {
      const queues = lanes.update();
      check(queues);
      const busy = [...queues].filter(([, runs]) => runs.length > 0);
      if (busy.length === 0) return order;
      const [w, runs] = busy[step % busy.length]!;
      const head = runs.shift()!;
      s.clock.advance(ms);
      order.push(head);
      const payload = encodeData(Array.from({ length: head.count }, () => 0));
      tell(s, w, { t: 'done', key: head.key, payload, errors: [], ms: ms * busy.length, aborted: false });
    }
    throw new Error('the work never drained');
  }

  function openWith(s: Setup, c: SchedulerClient, id: number, priority: number): void {
    expect(s.scheduler.open(c, { type: 'batch.open', id, task: TASK, timeoutMs: 0, retries: 0, priority })).toBeUndefined();
  }

  it("a client's batch of a higher priority goes first among its own; equal priorities stay round-robin", () => {
    const s = setup(1, { pipelineDepth: 1 });
    openWith(s, s.client, 1, 0);
    openWith(s, s.client, 2, 5);
    openWith(s, s.client, 3, 5);
    add(s, 1, [0, 1, 2]); // the first goes to the worker at once
    add(s, 2, [100, 101]);
    add(s, 3, [200, 201]);
    const order = drain(s, 10).map((r) => r.start);
    expect(order).toEqual([0, 100, 200, 101, 201, 1, 2]);
  });

  it('no priority of one client starves another: between clients the share stays by worker time', () => {
    const s = setup(1, { pipelineDepth: 1 });
    const other = client(2);
    openWith(s, s.client, 1, 1000);
    openWith(s, other, 1, -1000);
    add(s, 1, [0, 1, 2, 3, 4, 5]);
    add(s, 1, [100, 101, 102, 103, 104, 105], other);
    const order = drain(s, 10).map((r) => (r.start >= 100 ? 'low' : 'high'));
    // Alternating, after the first chunk that was placed before the other client had work.
    expect(order.slice(0, 8).filter((o) => o === 'low').length).toBeGreaterThanOrEqual(3);
  });

  it('a client of weight 2 gets twice the worker time of one of weight 1 while both have work', () => {
    const s = setup(1, { pipelineDepth: 1 });
    const heavy: Client = { ...client(2), weight: 2 };
    heavy.send = (m) => heavy.got.push(m);
    open(s, 1);
    open(s, 1, heavy);
    add(
      s,
      1,
      Array.from({ length: 40 }, (_, i) => i),
    );
    add(
      s,
      1,
      Array.from({ length: 40 }, (_, i) => 100 + i),
      heavy,
    );
    // Past the first few chunks (charged an estimate before their item time is known), over a window where both have work.
    const window = drain(s, 10).slice(10, 46);
    const heavyRuns = window.filter((r) => r.start >= 100).length;
    const lightRuns = window.length - heavyRuns;
    expect(heavyRuns / lightRuns).toBeGreaterThan(1.7);
    expect(heavyRuns / lightRuns).toBeLessThan(2.4);
  });

  it('a capped client never holds more workers than its cap, even with the others idle; the rest go to others', () => {
    const s = setup(4, { pipelineDepth: 2 });
    const capped: Client = { ...client(2), maxWorkers: 2 };
    capped.send = (m) => capped.got.push(m);
    open(s, 1, capped);
    add(
      s,
      1,
      Array.from({ length: 12 }, (_, i) => i),
      capped,
    );
    const cappedRealm = s.pool.runs(s.pool.workers()[0]!)[0]!.realm;
    const held = (queues: Map<FakeWorker, RunMessage[]>): number =>
      [...queues.values()].filter((runs) => runs.some((r) => r.realm === cappedRealm)).length;
    expect(held(new Lanes(s).update())).toBe(2);
    // Its own pipeline slots on the workers it holds are filled; the other workers stay idle for it.
    expect(s.scheduler.running()).toBe(4);
    // At its cap, it offers no demand to a cluster: a worker lent for it could not take its work.
    expect(s.scheduler.queuedChunksByRealm().size).toBe(0);
    open(s, 1);
    add(s, 1, [100, 101, 102, 103]);
    expect(s.scheduler.running()).toBe(8);
    let most = 0;
    drain(s, 10, (queues) => (most = Math.max(most, held(queues))));
    expect(most).toBe(2);
  });
  it('a client held at its cap does not hold back where a newcomer starts: the newcomer does not take the pool from the others', () => {
    const s = setup(3, { pipelineDepth: 1 });
    const capped: Client = { ...client(2), maxWorkers: 1 };
    capped.send = (m) => capped.got.push(m);
    const late = client(3);
    open(s, 1, capped);
    open(s, 1);
    open(s, 1, late);
    add(
      s,
      1,
      Array.from({ length: 90 }, (_, i) => 200 + i),
      capped,
    );
    add(
      s,
      1,
      Array.from({ length: 90 }, (_, i) => i),
    );
    // For 60 chunks the uncapped client has two workers, the capped one its one: its virtual time lags far behind.
    const lanes = new Lanes(s);
    const order: RunMessage[] = [];
    const step = (k: number): void => {
      const busy = [...lanes.update()].filter(([, runs]) => runs.length > 0);
      const [w, runs] = busy[k % busy.length]!;
      const head = runs.shift()!;
      s.clock.advance(10);
      order.push(head);
      tell(s, w, { t: 'done', key: head.key, payload: encodeData([0]), errors: [], ms: 30, aborted: false });
    };
    for (let k = 0; k < 60; k++) step(k);
    add(
      s,
      1,
      Array.from({ length: 90 }, (_, i) => 400 + i),
      late,
    );
    const from = order.length;
    for (let k = 60; k < 120; k++) step(k);
    const after = order.slice(from + 6); // past the chunks already on the workers when it came
    const first = after.filter((r) => r.start < 200).length;
    const newcomer = after.filter((r) => r.start >= 400).length;
    // The two uncapped clients now share two workers about evenly (before: the newcomer took both for a long while).
    expect(first).toBeGreaterThan(0.6 * newcomer);
    expect(newcomer).toBeGreaterThan(0.6 * first);
  });
});
