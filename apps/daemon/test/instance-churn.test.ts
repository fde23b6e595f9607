/**
 * A hostile co-tenant that makes a new client instance for every write and cuts each connection
 * (its replies kept for the instance's two-minute reconnect window): the instances themselves,
 * not only their replies, count under the daemon-wide bound on kept replies, and past it those
 * cut off longest are evicted whole. An honest instance cut off before the flood has its resend
 * refused E_REPLY_DROPPED, never applied a second time, across a restart too; the flood's last
 * instances still get their own replies; an SDK neighbour's adds all land once.
 */
import { rmSync } from 'node:fs';

import { describe, expect, it } from 'vitest';
import { encodeData } from '@corepool/protocol';

import { helloAs, startDaemon } from './support/daemon.js';
import type { RawSocket } from './support/raw-socket.js';

const MiB = 1024 * 1024;
const ONE = encodeData(1);
// Kept replies may hold 16 MiB: ~7,000 instances of one add, or 16,000 evicted ones' marks.
const ARGS = ['--max-state-mb', '64'];

/** Add 1 to `name` as request `rid`, and its reply. */
async function add(h: RawSocket, name: string, rid: number): Promise<Record<string, unknown>> {
  h.send({ type: 'state', rid, op: 'value.add', name, a: ONE });
  return h.next((m) => m.type === 'reply' && m.rid === rid);
}

describe('client instances churned', () => {
  it('count under the kept replies bound; past it those cut off longest are evicted, their resends refused, never applied twice; a neighbour is unharmed', async () => {
    const d = await startDaemon({ workers: 1, keepDataDir: true, args: ARGS });
    try {
      const neighbour = await d.connect();
      const count = neighbour.value<number>('count', { initial: 0 });
      await count.get();
      // An honest instance, its last replies not yet acknowledged, cut off before the flood.
      const quiet = await helloAs(d, 'quiet');
      for (let rid = 1; rid <= 20; rid++) await add(quiet, 'q', rid);
      quiet.ws.terminate();
      let adds = 0;
      let stop = false;
      const neighbourLoop = (async () => {
        while (!stop) {
          await count.add(1);
          adds++;
        }
      })();
      // The flood: 10,000 instances of one add each, 8 at a time, each connection cut once answered.
      const INSTANCES = 10_000;
      let next = 0;
      const lastReplies = new Map<string, unknown>();
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < INSTANCES) {
            const name = `churn-${next++}`;
            const h = await helloAs(d, name);
            const reply = await add(h, 'c', 1);
            if (next > INSTANCES - 8) lastReplies.set(name, reply.value);
            h.ws.terminate();
          }
        }),
      );
      stop = true;
      await neighbourLoop;
      expect(adds).toBeGreaterThan(0);
      expect(await count.get()).toBe(adds);
      expect(await neighbour.value<number>('c').get()).toBe(INSTANCES);
      const sheds = d.events('replies-shed');
      expect(sheds.reduce((n, e) => n + Number(e.evicted), 0)).toBeGreaterThan(1_000);
      const status = await d.status();
      expect(status.stateReplyBytes).toBeLessThanOrEqual(16 * MiB);
      // Counted with the instances (~2.3 KB each), not only their replies (~290 bytes).
      expect(status.stateReplyBytes).toBeGreaterThan(8 * MiB);
      // The honest instance was cut off first: evicted, its resend refused, q unmoved.
      const back = await helloAs(d, 'quiet');
      expect(await add(back, 'q', 20)).toMatchObject({ ok: false, error: { code: 'E_REPLY_DROPPED' } });
      expect(await neighbour.value<number>('q').get()).toBe(20);
      // The flood's last instances keep their replies: a resend is answered, not applied again.
      for (const [name, value] of lastReplies) {
        const h = await helloAs(d, name);
        expect(await add(h, 'c', 1)).toMatchObject({ ok: true, value });
        h.ws.terminate();
      }
      expect(await neighbour.value<number>('c').get()).toBe(INSTANCES);
      await neighbour.close();
      back.ws.terminate();
      expect(await d.stop()).toBe(0);
      // After a restart, within its window: still refused, from the mark in the store.
      const again = await startDaemon({ dataDir: d.dataDir, keepDataDir: true, workers: 1, args: ARGS });
      try {
        const q = await helloAs(again, 'quiet');
        expect(await add(q, 'q', 20)).toMatchObject({ ok: false, error: { code: 'E_REPLY_DROPPED' } });
        const reader = await again.connect();
        expect(await reader.value<number>('q').get()).toBe(20);
        await reader.close();
      } finally {
        await again.stop();
      }
    } finally {
      await d.stop();
      rmSync(d.dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
