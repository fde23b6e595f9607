/**
 * Lender: a newcomer's urgent chunk for a lent worker names the chunk it goes behind by the
 * owner's key. The lender forgets that key as soon as the chunk's end passes it (over the
 * local channel), before the owner hears of the end (through Redis): the urgent chunk went
 * to the worker with no `after`, the worker could not tell that it had missed it, and never
 * said it ran behind another (`behind`) — the race that message fixes on one daemon was the
 * usual order on a lent worker (a review). And a `behind` from the lent worker reaches the
 * owner under the owner's keys.
 */
import { expect, it } from 'vitest';
import { decodeMessage, encodeMessage } from '@corepool/protocol';
import type { ClusterNode } from '../../src/cluster/cluster-node.js';
import { Lender, type LenderHost } from '../../src/cluster/lender.js';
import type { LendingScripts } from '../../src/cluster/lending-scripts.js';
import type { WorkerSlot } from '../../src/primary/supervisor.js';
import type { RunMessage } from '../../src/ipc.js';
import { queueRun } from '../../src/worker/run-queue.js';

it("an urgent chunk whose `after` ended at the lender still names one; the lent worker's behind reaches the owner in its keys", async () => {
  const node = {
    id: 'b',
    prefix: 'cp:{t}:',
    held: () => true,
    redis: { hgetall: () => Promise.resolve({ app: 'a:3' }), eval: () => Promise.resolve(1) },
  } as unknown as ClusterNode;
  const reported: unknown[] = [];
  const scripts = {
    wantKey: 'want',
    lend: () => Promise.resolve({ granted: true, owner: 'a', app: 'app' }),
    endGrant: () => Promise.resolve(),
    report: (_self: string, _owner: string, _n: number, _field: string, _attempt: number, _final: boolean, m: Uint8Array) => {
      reported.push(decodeMessage(m));
      return Promise.resolve(true);
    },
  } as unknown as LendingScripts;
  const worker = { slot: 0, pid: 1, ready: true, dead: false } as unknown as WorkerSlot;
  let away = false;
  const sent: RunMessage[] = [];
  const host: LenderHost = {
    idleWorkers: () => (away ? [] : [worker]),
    take: () => (away = true),
    giveBack: () => (away = false),
    localDemand: () => 0,
    send: (_w, m) => {
      if (m.t === 'run') sent.push(m);
      return true;
    },
    kill: () => {},
  };
  const lender = new Lender(node, scripts, host, { pipelineDepth: 2, log: () => {} });
  lender.tick(Date.now());
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  expect(lender.lent).toBe(1);
  const run = (key: number, extra: Partial<RunMessage> = {}): RunMessage => ({
    t: 'run',
    key,
    realm: 'r',
    task: { kind: 'source', hash: 'h', source: 'x=>x' },
    payload: new Uint8Array(),
    start: 0,
    offset: 0,
    count: 1,
    timed: false,
    urgent: false,
    ...extra,
  });
  const entry = (m: RunMessage) => ({ t: 'run', f: 'a', n: 1, a: 1, m: encodeMessage(m) }) as never;
  lender.onEntry(entry(run(10))); // A
  lender.onEntry(entry(run(11))); // R
  const [a, r] = sent as [RunMessage, RunMessage];
  // The worker ends A (its done passes the lender at once) and begins R...
  lender.workerMessage(worker, { t: 'done', key: a.key, payload: new Uint8Array(), errors: [], ms: 1, aborted: false });
  // ...and the owner, not having heard A's end yet, places newcomer U right behind A.
  lender.onEntry(entry(run(12, { urgent: true, after: 10 })));
  const u = sent[2]!;
  expect(u.urgent).toBe(true);
  // The worker (R running, nothing waiting) puts U first and sees it missed its `after`: it says so.
  const missed = queueRun([], u);
  expect(missed).toBeDefined();
  expect(missed).not.toBe(r.key);
  lender.workerMessage(worker, { t: 'behind', key: u.key, running: r.key });
  await new Promise((res) => setImmediate(res));
  expect(reported).toContainEqual({ t: 'behind', key: 12, running: 11 });
});
