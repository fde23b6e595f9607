/**
 * What a connection leaves when it goes is cleared a slice a turn (state/leftovers.ts), beside an
 * honest neighbour: a raw client closing for good with 100,000 unacknowledged replies kept for its
 * instance (an owner's subscriptions and blocked calls: waiters.unit.test.ts). Read from the
 * daemon's own report of the clear (`replies-cleared`: it took more than one slice), not from the
 * clock of this busy process; the neighbour's adds and the hostile's writes all
 * count exactly once, and a resend of the closed instance is E_REPLY_DROPPED, never run again.
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
});
