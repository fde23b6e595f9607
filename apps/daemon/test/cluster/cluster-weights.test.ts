/**
 * Steering across the cluster (docs/cluster.md): the ledger lenders grant by
 * holds worker time divided by the app's weight, so of two apps on two
 * daemons, both with queued work, the one of weight 3 gets most of a third
 * daemon's lent workers, where equal weights split them about evenly
 * (cluster-fairness.test.ts); counted from where each item ran. A cap on
 * workers counts the lent ones too: a capped client never runs more items
 * at once than its cap, with idle workers on every daemon.
 */
import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '@corepool/protocol';
import { startCluster } from '../support/cluster.js';
import { rawMap } from '../support/raw-map.js';
import { figure } from '../support/figures.js';
import type { TestDaemon } from '../support/daemon.js';

/** [pid, start, end] of an item: the worker it ran on and when. */
type Timed = [number, number, number];
/** Holds its worker `ms` (Atomics.wait: workers, not cores, are what is shared) and says where and when it ran. */
const TIMED = `(ms) => {
  const start = Number(process.hrtime.bigint()) / 1e6;
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  return [process.pid, start, Number(process.hrtime.bigint()) / 1e6];
}`;

/** A raw client of `d` that asks for `weight` in its hello. */
async function weighted(d: TestDaemon, weight: number): Promise<Awaited<ReturnType<TestDaemon['raw']>>> {
  const sock = await d.raw();
  sock.send({ type: 'hello', v: PROTOCOL_VERSION, token: d.token, name: `w${weight}`, weight });
  expect(await sock.next((m) => m.type === 'welcome')).toMatchObject({ weight });
  return sock;
}

describe('weights across the cluster', () => {
  it("an app of weight 3 gets most of a third daemon's lent workers beside an app of weight 1", async () => {
    await using c = await startCluster(3, { workers: 2 });
    const [a, b, lender] = c.daemons as [TestDaemon, TestDaemon, TestDaemon];
    await c.untilMembers(3);
    const lenderPids = new Set(await lender.workerPids());
    const n = 90;
    const heavy = await weighted(a, 3);
    const light = await weighted(b, 1);
    const run = (sock: typeof heavy) =>
      rawMap(sock, TIMED, Array<number>(n).fill(200), { chunkSize: 1, deadlineMs: 90_000 }).then((o) =>
        o.map(([, x]) => {
          expect(x.ok).toBe(true);
          return (x as { value: Timed }).value;
        }),
      );
    const [rh, rl] = await Promise.all([run(heavy), run(light)]);
    // While both had work: items started before the first app's last one ended.
    const until = Math.min(Math.max(...rh.map((r) => r[2])), Math.max(...rl.map((r) => r[2])));
    const onLender = (runs: Timed[]): number => runs.filter(([pid, start]) => lenderPids.has(pid) && start < until).length;
    figure('cluster.weights.on-lender-while-both-busy', { heavy: onLender(rh), light: onLender(rl) });
    // Equal weights split the lender about evenly (cluster-fairness.test.ts); weight 3 against 1 leaves the light app little of it.
    expect(onLender(rh)).toBeGreaterThan(1.5 * onLender(rl));
  });

  it('a client capped at 3 workers runs at most 3 items at once across the cluster: its daemon’s 2 and one lent', async () => {
    await using c = await startCluster(3, { workers: 2 });
    const [a] = c.daemons as [TestDaemon];
    await c.untilMembers(3);
    const sock = await a.raw();
    sock.send({ type: 'hello', v: PROTOCOL_VERSION, token: a.token, name: 'capped', maxWorkers: 3 });
    expect(await sock.next((m) => m.type === 'welcome')).toMatchObject({ maxWorkers: 3 });
    const out = await rawMap(sock, TIMED, Array<number>(40).fill(50), { chunkSize: 1, deadlineMs: 60_000 });
    const runs = out.map(([, o]) => (o.ok ? (o.value as Timed).slice(1) : [0, 0]));
    const edges = runs.flatMap(([s0, e0]) => [
      [s0!, 1],
      [e0!, -1],
    ]);
    edges.sort((x, y) => x[0]! - y[0]! || x[1]! - y[1]!);
    let open = 0;
    let most = 0;
    for (const [, dlt] of edges) most = Math.max(most, (open += dlt!));
    figure('cluster.cap.most-at-once', most);
    expect(out.every(([, o]) => o.ok)).toBe(true);
    expect(most).toBe(3); // one more than its daemon's own 2 workers: a lent one counted
  });
});
