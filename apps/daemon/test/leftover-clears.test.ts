/**
 * What a connection leaves when it goes is cleared a slice a turn (state/leftover-clears.ts), beside an
 * honest neighbour: a raw client closing for good with 100,000 unacknowledged replies kept for its
 * instance (an owner's subscriptions and blocked calls: waiters.unit.test.ts). Read from the
 * daemon's own report of the clear (`replies-cleared`: it took more than one slice), not from the
 * clock of this busy process; the neighbour's adds and the hostile's writes all
 * count exactly once, and a resend of the closed instance is E_REPLY_DROPPED, never run again.
 * And an SDK client closing with 10,000 each of subscriptions, blocked gets and lock waits: the
 * calls set apart at once and answered over turns serve nothing to it (the next item and the lock
 * go to the neighbour), the counts come back to 0, and the daemon stops after it (a wedge would
 * hang the test's end).
 */
import { describe, expect, it } from 'vitest';
import { encodeData } from '@corepool/protocol';

import { helloAs, startDaemon } from './support/daemon.js';
import { figure } from './support/figures.js';
import { addsBeside } from './support/neighbour.js';
import { until } from './support/wait.js';

const ONE = encodeData(1);
const N = 100_000;

describe('leftovers of a connection gone', () => {
  it('100,000 unacknowledged replies of an instance closed for good are cleared over turns, beside a neighbour', async () => {
    await using d = await startDaemon({ workers: 1 });
    const neighbour = await d.connect({ name: 'neighbour' });
    const counter = neighbour.value<number>('count', { initial: 0 });
    await counter.get();
    const h = await helloAs(d, 'closing');
    for (let rid = 1; rid <= N; rid += 500) {
      h.send(
        Array.from({ length: Math.min(500, N - rid + 1) }, (_, i) => ({ type: 'state', rid: rid + i, op: 'value.add', name: 'n', a: ONE })),
      );
    }
    await h.next((m) => m.type === 'reply' && m.rid === N, 60_000);
    const adds = addsBeside(counter);
    h.ws.close(1000);
    await h.closed;
    await until(() => d.events('replies-cleared').length > 0, 20_000, 'the report of a clear over turns (none: cleared in one turn)');
    const { adds: made, slowestAddMs } = await adds.stop();
    const [cleared] = d.events('replies-cleared');
    figure('leftovers.replies', { ...cleared, adds: made, slowestAddMs: Math.round(slowestAddMs) });
    // In one turn before: 20-120 ms, and no report.
    expect(cleared).toMatchObject({ instances: 1, replies: N });
    expect(cleared!.slices as number).toBeGreaterThan(1);
    expect(await counter.get()).toBe(made);
    // The instance back anyway: its old requests refused, not applied again.
    const back = await helloAs(d, 'closing');
    back.send({ type: 'state', rid: 7, op: 'value.add', name: 'n', a: ONE });
    expect(await back.next((m) => m.type === 'reply' && m.rid === 7)).toMatchObject({ ok: false, error: { code: 'E_REPLY_DROPPED' } });
    expect(await neighbour.value<number>('n').get()).toBe(N);
    back.ws.terminate();
  }, 120_000);

  it("10,000 each of an SDK client's subscriptions, blocked gets and lock waits, left at its close: cleared, nothing served to it, the daemon stops", async () => {
    await using d = await startDaemon({ workers: 1 });
    const neighbour = await d.connect({ name: 'neighbour' });
    const counter = neighbour.value<number>('count', { initial: 0 });
    await counter.get();
    const holder = await d.connect({ name: 'holder' });
    const held = await holder.lock('L').acquire();
    const hostile = await d.connect({ name: 'hostile' });
    const M = 10_000;
    for (let i = 0; i < M; i++) hostile.value(`s${i}`).subscribe(() => {});
    const gets = Array.from({ length: M }, () =>
      hostile
        .queue('q')
        .get()
        .catch((e: { code?: string }) => e.code),
    );
    const locks = Array.from({ length: M }, () =>
      hostile
        .lock('L')
        .acquire()
        .catch((e: { code?: string }) => e.code),
    );
    await until(
      async () => {
        const s = await neighbour.status();
        return s.blockedGets === M && s.lockWaiters === M;
      },
      30_000,
      "the hostile's calls waiting",
    );
    const adds = addsBeside(counter);
    await hostile.close();
    expect(new Set([...(await Promise.all(gets)), ...(await Promise.all(locks))])).toEqual(new Set(['E_CLOSED']));
    await until(
      async () => {
        const s = await neighbour.status();
        return s.blockedGets === 0 && s.lockWaiters === 0;
      },
      30_000,
      'the calls cleared',
    );
    const { adds: made, slowestAddMs } = await adds.stop();
    figure('leftovers.owner', { adds: made, slowestAddMs: Math.round(slowestAddMs) });
    expect(await counter.get()).toBe(made);
    // Nothing is served to the gone client: the next item and the lock go to the neighbour.
    await neighbour.queue('q').put('item');
    expect(await neighbour.queue('q').get({ timeoutMs: 5000 })).toBe('item');
    void held;
    await holder.close();
    const grant = await neighbour.lock('L').acquire({ timeoutMs: 5000 });
    expect(grant.token).toBeGreaterThan(0);
  }, 120_000);
});
