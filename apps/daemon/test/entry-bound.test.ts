/**
 * An app flooding blocked gets on new names from 20 raw connections (10,000 each, the most a
 * connection may leave) beside a neighbour, under `--max-state-mb 256`: the connections' entries
 * bound (a quarter of it) must bound what the gets hold of the primary, so each get must count what
 * it costs there (state-memory.ts GET_COST). Counted 400 bytes, as any entry, the bound let in
 * five times as many gets as it had room for. The neighbour still gets to wait for an item.
 */
import { expect, it } from 'vitest';

import { encodeMessage } from '@corepool/protocol';

import { startDaemon } from './support/daemon.js';
import { figure } from './support/figures.js';
import { heapProbe } from './support/live-heap.js';
import type { RawSocket } from './support/raw-socket.js';
import { until } from './support/wait.js';

const CONNECTIONS = 20;
const GETS = 10_000;
/** Gets per frame: the daemon takes up to 4,096 messages in one. */
const FRAME = 2_000;
const MiB = 1024 * 1024;
const BOUND_MB = 256;

it('blocked gets past the entries bound are refused before they hold more of the primary than the bound says', async () => {
  await using d = await startDaemon({ workers: 1, args: ['--max-state-mb', String(BOUND_MB)], nodeArgs: ['--inspect=127.0.0.1:0'] });
  const heap = await heapProbe(d);
  const neighbour = await d.connect({ name: 'neighbour' });
  const counter = neighbour.value<number>('count', { initial: 0 });
  await counter.add(1);
  const before = await heap.liveHeap();

  const socks = await Promise.all(Array.from({ length: CONNECTIONS }, () => d.raw({ hello: true })));
  for (const [c, s] of socks.entries()) {
    for (let f = 0; f < GETS / FRAME; f++) {
      const msgs = Array.from({ length: FRAME }, (_, i) => ({
        type: 'state',
        rid: f * FRAME + i + 1,
        op: 'queue.get',
        name: `q${c}-${f * FRAME + i}`,
      }));
      s.send(encodeMessage(msgs));
    }
  }
  const refused = (s: RawSocket): number => s.messages.filter((m) => m.type === 'reply').length;
  let blocked = 0;
  await until(
    async () => {
      blocked = (await d.status()).blockedGets!;
      return blocked + socks.reduce((n, s) => n + refused(s), 0) === CONNECTIONS * GETS;
    },
    30_000,
    'every get blocked or refused',
  );
  const grewMb = ((await heap.liveHeap()) - before) / MiB;
  heap.close();
  const entryMb = (await d.status()).stateEntryBytes! / MiB;

  // The neighbour still waits for an item and gets it, and its counter goes on.
  const q = neighbour.queue<number>('its-own');
  const got = q.get({ timeoutMs: 10_000 });
  await q.put(7);
  expect(await got).toBe(7);
  expect(await counter.add(1)).toBe(2);

  figure('entry-bound', { blocked, entryMb: Math.round(entryMb), heapGrewMb: Math.round(grewMb) });
  expect(socks.every((s) => s.messages.every((m) => m.type !== 'reply' || (m.error as { code?: string }).code === 'E_LIMIT'))).toBe(true);
  // The bound is a quarter of --max-state-mb (64 MiB). Counted 400 bytes a get, 167,772 gets got in and the live heap
  // grew 202 MB; counted 2,000 (an SDK client's get with its kept outcome), 33,554 and 42 MB (a raw one's costs less).
  expect(grewMb).toBeLessThan(1.5 * (BOUND_MB / 4));
}, 60_000);
