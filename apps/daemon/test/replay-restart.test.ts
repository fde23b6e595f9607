/**
 * Kept replies across kill -9 of the primary, through real daemons on one data dir: a client
 * instance resending its requests with the same ids after the restart gets the first replies
 * (a counter's add, a queue.get's large item, kept as a record of its own) and nothing is
 * applied or handed out twice.
 */
import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, decodeData, encodeData } from '@corepool/protocol/internal';

import { startDaemon, type TestDaemon } from './support/daemon.js';
import type { RawSocket } from './support/raw-socket.js';

async function session(d: TestDaemon, instance: string): Promise<RawSocket> {
  const s = await d.raw({ hello: false });
  s.send({ type: 'hello', v: PROTOCOL_VERSION, token: d.token, instance });
  await s.next((m) => m.type === 'welcome');
  return s;
}

describe('kept replies after kill -9', () => {
  it('answer resent requests from the store: an add and a large queue.get are applied once', async () => {
    const first = await startDaemon();
    const { dataDir, port } = first;
    const big = new Uint8Array(4096).fill(5);
    let second: TestDaemon | undefined;
    try {
      const producer = await first.connect();
      await producer.queue('jobs').put(big);
      await producer.queue('jobs').put('second');
      await producer.close();
      let s = await session(first, 'k');
      s.send({ type: 'state', rid: 1, ack: 1, op: 'value.add', name: 'n', a: encodeData(1) });
      s.send({ type: 'state', rid: 2, ack: 1, op: 'queue.get', name: 'jobs' });
      const add = await s.next((m) => m.type === 'reply' && m.rid === 1);
      const got = await s.next((m) => m.type === 'reply' && m.rid === 2);
      expect(decodeData(got.value as Uint8Array)).toEqual(big);
      await first.kill();
      second = await startDaemon({ dataDir, port, keepDataDir: true });
      s = await session(second, 'k');
      s.send({ type: 'state', rid: 1, ack: 1, op: 'value.add', name: 'n', a: encodeData(1) });
      s.send({ type: 'state', rid: 2, ack: 1, op: 'queue.get', name: 'jobs' });
      expect((await s.next((m) => m.type === 'reply' && m.rid === 1)).value).toEqual(add.value);
      expect(decodeData((await s.next((m) => m.type === 'reply' && m.rid === 2)).value as Uint8Array)).toEqual(big);
      const c = await second.connect();
      expect(await c.value<number>('n').get()).toBe(1);
      expect(await c.queue('jobs').size()).toBe(1);
      expect(await c.queue('jobs').get()).toBe('second');
      await c.close();
    } finally {
      await second?.[Symbol.asyncDispose]();
      await first[Symbol.asyncDispose]();
    }
  });
});
