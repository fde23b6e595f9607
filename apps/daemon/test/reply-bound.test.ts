/**
 * Kept replies bounded for the daemon as a whole, against a hostile co-tenant: a raw client
 * that never acknowledges its writes, as a new client instance each time, its connection cut
 * each time (each instance's replies would be kept two minutes for its resend). Past a quarter
 * of --max-state-mb the instances keeping the most lose their oldest replies: the daemon's kept
 * replies stay under the bound, while an SDK neighbour's adds go on, and a quiet client instance
 * cut off meanwhile still gets its own replies on its resend, not a second apply. A dropped
 * reply's resend is E_REPLY_DROPPED and is not applied again, across a restart too. A consumer
 * whose blocking get waits while its later replies pile up behind it (its acknowledgements stuck
 * at the get) is cut with the hogs, but its get is spared: resent after a restart, it takes the
 * item put then, not E_REPLY_DROPPED.
 */
import { rmSync } from 'node:fs';

import { describe, expect, it } from 'vitest';
import { connect } from '@corepool/client';
import { encodeData } from '@corepool/protocol';
import { decodeData } from '@corepool/protocol/internal';

import { helloAs, startDaemon, type TestDaemon } from './support/daemon.js';
import type { RawSocket } from './support/raw-socket.js';

const MiB = 1024 * 1024;
const ONE = encodeData(1);

/** `n` adds of 1 to `name` with rids 1..n, none acknowledged, every reply awaited. */
async function addsUnacknowledged(h: RawSocket, name: string, n: number): Promise<void> {
  for (let rid = 1; rid <= n; rid += 100) {
    h.send(Array.from({ length: Math.min(100, n - rid + 1) }, (_, i) => ({ type: 'state', rid: rid + i, op: 'value.add', name, a: ONE })));
  }
  await h.next((m) => m.type === 'reply' && m.rid === n, 60_000);
}

/** The sum an add's reply carries ({ version, value }). */
const sumOf = (reply: Record<string, unknown>): unknown => decodeData((reply.value as { value: Uint8Array }).value);

/** The reply to a resend of add `rid` to `name` as it comes back. */
async function resend(h: RawSocket, name: string, rid: number): Promise<Record<string, unknown>> {
  h.send({ type: 'state', rid, op: 'value.add', name, a: ONE });
  return h.next((m) => m.type === 'reply' && m.rid === rid);
}

describe('kept replies, daemon-wide', () => {
  it('stay under their bound beside a client churning instances that never acknowledge; a quiet cut client keeps its own; dropped ones are E_REPLY_DROPPED, never applied twice', async () => {
    // --max-state-mb 16: kept replies may hold 4 MiB (an add's reply holds ~290 bytes).
    const d = await startDaemon({ workers: 1, keepDataDir: true, args: ['--max-state-mb', '16'] });
    try {
      const neighbour = await d.connect();
      const count = neighbour.value<number>('count', { initial: 0 });
      await count.get();
      // A quiet instance: 100 adds, their replies read but not yet acknowledged, and its connection cut.
      const quiet = await helloAs(d, 'quiet');
      await addsUnacknowledged(quiet, 'q', 100);
      const quietSums = quiet.messages.filter((m) => m.type === 'reply').map(sumOf);
      quiet.ws.terminate();
      // The hostile app: 6 instances of 20,000 unacknowledged adds each (~5.5 MiB of replies each), each cut.
      let adds = 0;
      let stop = false;
      const neighbourLoop = (async () => {
        for (let i = 0; i < 1_000_000 && !stop; i++) {
          await count.add(1);
          adds++;
        }
      })();
      for (let i = 0; i < 6; i++) {
        const hog = await helloAs(d, `hog-${i}`);
        await addsUnacknowledged(hog, 'n', 20_000);
        hog.ws.terminate();
      }
      stop = true;
      await neighbourLoop;
      expect(await count.get()).toBe(adds);
      expect(adds).toBeGreaterThan(0);
      const status = await d.status();
      // Shedding runs after the turn that passed the bound, down to 3 MiB.
      expect(status.stateReplyBytes).toBeLessThanOrEqual(4 * MiB);
      expect(status.stateReplyBytes).toBeGreaterThan(2 * MiB);
      const n = neighbour.value<number>('n');
      expect(await n.get()).toBe(120_000);
      // The quiet instance comes back: every resend answered from its kept reply, nothing applied again.
      const back = await helloAs(d, 'quiet');
      for (const rid of [1, 50, 100]) expect(sumOf(await resend(back, 'q', rid))).toBe(quietSums[rid - 1]);
      expect(await neighbour.value<number>('q').get()).toBe(100);
      // The first hog's oldest replies went: their resends are E_REPLY_DROPPED, and n does not move.
      const hog0 = await helloAs(d, 'hog-0');
      expect(await resend(hog0, 'n', 1)).toMatchObject({ ok: false, error: { code: 'E_REPLY_DROPPED' } });
      expect(await n.get()).toBe(120_000);
      await neighbour.close();
      back.ws.terminate();
      hog0.ws.terminate();
      expect(await d.stop()).toBe(0);
      // After a restart: the same answers, from the store.
      const again = await startDaemon({ dataDir: d.dataDir, keepDataDir: true, workers: 1, args: ['--max-state-mb', '16'] });
      try {
        const hog = await helloAs(again, 'hog-0');
        expect(await resend(hog, 'n', 1)).toMatchObject({ ok: false, error: { code: 'E_REPLY_DROPPED' } });
        const q = await helloAs(again, 'quiet');
        expect(sumOf(await resend(q, 'q', 50))).toBe(quietSums[49]);
        const reader = await again.connect();
        expect(await reader.value<number>('n').get()).toBe(120_000);
        expect(await reader.value<number>('q').get()).toBe(100);
        await reader.close();
      } finally {
        await again.stop();
      }
    } finally {
      await d.stop(); // already stopped unless an expectation failed first
      rmSync(d.dataDir, { recursive: true, force: true });
    }
  }, 180_000);

  it("spares a consumer's pending get when its later replies are shed: resent after a restart, it takes an item", async () => {
    const d = await startDaemon({ workers: 1, keepDataDir: true, args: ['--max-state-mb', '16'] });
    let again: TestDaemon | undefined;
    const consumer = await connect(d.url, { token: d.token });
    try {
      const jobs = consumer.queue<string>('jobs');
      const got = jobs.get();
      // 3,000 adds while the get waits: their replies stay behind it (~870 KiB, over the floor of 64 KiB).
      const count = consumer.value<number>('count', { initial: 0 });
      for (let i = 0; i < 3_000; i++) await count.add(1);
      for (let i = 0; i < 6; i++) {
        const hog = await helloAs(d, `hog-${i}`);
        await addsUnacknowledged(hog, 'n', 20_000);
        hog.ws.terminate();
      }
      const shed = (): Record<string, unknown>[] => d.events('replies-shed');
      expect(shed().length).toBeGreaterThan(0);
      expect(await d.stop()).toBe(0);
      again = await startDaemon({ port: d.port, dataDir: d.dataDir, keepDataDir: true, workers: 1, args: ['--max-state-mb', '16'] });
      const producer = await again.connect();
      await producer.queue<string>('jobs').put('job-1');
      expect(await got).toBe('job-1');
      expect(await count.get()).toBe(3_000);
      expect(await producer.queue<string>('jobs').size()).toBe(0);
    } finally {
      await consumer.close();
      await again?.stop();
      await d.stop();
      rmSync(d.dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
