/**
 * Client against a fake daemon (no socket): replies reach their request by id,
 * what a lost link does to each pending request (the protocol's resend
 * policy), and map/imap over chunk results that come back in any order.
 */
import { describe, expect, it } from 'vitest';
import { decodeData, encodeData, type BatchChunk, type BatchOpen, type ClientMessage, type StateMessage } from '@corepool/protocol';
import { Client } from '../src/client.js';
import { FakeDaemon, type FakeSocket } from './support/fake-daemon.js';

async function connected(daemon: FakeDaemon): Promise<Client> {
  const client = new Client('ws://fake', 't0k', 'unit', 30_000, daemon.openSocket);
  await client.open();
  return client;
}

const isState = (m: ClientMessage): m is StateMessage => m.type === 'state';
const stateOps = (socket: FakeSocket): [string, number, number | undefined][] =>
  socket.received.filter(isState).map((m) => [m.op, m.rid, m.ack]);

/** The chunks of a batch, whether the first rode in batch.open or came alone. */
function chunkOf(m: ClientMessage): BatchChunk | undefined {
  if (m.type === 'batch.chunk') return m;
  if (m.type === 'batch.open') return (m as BatchOpen).first;
  return undefined;
}

/** Answers with the items doubled the chunks `reply` picks, in its order, among those received so far. */
function doubling(socket: FakeSocket, reply: (chunks: BatchChunk[]) => BatchChunk[]): void {
  const chunks = socket.received.map(chunkOf).filter((c) => c !== undefined);
  for (const c of reply(chunks)) {
    const items = decodeData(c.payload) as number[];
    socket.deliver({
      type: 'chunk.result',
      id: c.id,
      start: c.start,
      count: c.count,
      payload: encodeData(items.map((x) => x * 2)),
      errors: [],
      ms: 1,
    });
  }
}

describe('Client', () => {
  it('settles each state request by its reply id; an error reply rejects with the error class of its code', async () => {
    const daemon = new FakeDaemon();
    const client = await connected(daemon);
    const counter = client.value<number>('hits');
    const got = counter.get();
    const missing = client.value('never').get();
    await daemon.until(() => stateOps(daemon.socket).length === 2);
    expect(stateOps(daemon.socket)).toEqual([
      ['value.get', 1, 1],
      ['value.get', 2, 1],
    ]);
    daemon.socket.deliver(
      { type: 'reply', rid: 2, ok: false, error: { code: 'E_NO_SUCH_VALUE', message: 'no value "never"' } },
      { type: 'reply', rid: 1, ok: true, value: { version: 3, value: encodeData(41) } },
    );
    expect(await got).toBe(41);
    await expect(missing).rejects.toMatchObject({ name: 'NoSuchValueError', code: 'E_NO_SUCH_VALUE' });
    await client.close();
  });

  it('after a lost link, resends reads and replayed writes with their ids, and fails a lock.acquire with E_CONNECTION', async () => {
    const daemon = new FakeDaemon();
    const client = await connected(daemon);
    const read = client.value<number>('hits').get();
    const write = client.value<number>('hits').add(1);
    const lock = client.lock('db').acquire();
    await daemon.until(() => stateOps(daemon.socket).length === 3);
    const first = daemon.socket;
    first.drop(1006);
    const lockErr = await lock.catch((e: unknown) => e);
    expect(lockErr).toMatchObject({ code: 'E_CONNECTION' });
    expect((lockErr as Error).message).toMatch(/lock\.acquire; it may or may not have been applied/);
    await daemon.until(() => daemon.sockets.length === 2 && stateOps(daemon.socket).length === 2);
    // The same ids, and the oldest id still unanswered as the ack (the daemon keeps replays from there on).
    expect(stateOps(daemon.socket)).toEqual([
      ['value.get', 1, 1],
      ['value.add', 2, 1],
    ]);
    daemon.socket.deliver(
      { type: 'reply', rid: 1, ok: true, value: { version: 1, value: encodeData(7) } },
      { type: 'reply', rid: 2, ok: true, value: { version: 2, value: encodeData(8) } },
    );
    expect([await read, await write]).toEqual([7, 8]);
    await client.close();
  });

  it('close rejects pending requests and every later call with E_CLOSED', async () => {
    const daemon = new FakeDaemon();
    const client = await connected(daemon);
    const pending = client.queue('jobs').get();
    await daemon.until(() => stateOps(daemon.socket).length === 1);
    await client.close();
    await expect(pending).rejects.toMatchObject({ code: 'E_CLOSED' });
    await expect(client.dict('d').size()).rejects.toMatchObject({ code: 'E_CLOSED' });
    await expect(client.map((x: number) => x, [1])).rejects.toMatchObject({ code: 'E_CLOSED' });
  });

  it('acknowledges on its own once 8 MiB of replies came with no request after them, not after a few small ones', async () => {
    const daemon = new FakeDaemon();
    daemon.welcome = { ...daemon.welcome, acks: true };
    const client = await connected(daemon);
    const q = client.queue<Uint8Array>('big');
    const acks = (): ClientMessage[] => daemon.socket.received.filter((m) => m.type === 'ack');
    const small = [q.get(), q.get()];
    await daemon.until(() => stateOps(daemon.socket).length === 2);
    daemon.socket.deliver(...[1, 2].map((rid) => ({ type: 'reply' as const, rid, ok: true, value: encodeData(new Uint8Array(1024)) })));
    await Promise.all(small);
    await new Promise((r) => setImmediate(r));
    expect(acks()).toEqual([]);
    const large = [q.get(), q.get(), q.get()];
    await daemon.until(() => stateOps(daemon.socket).length === 5);
    // One frame each, as the daemon sends replies this large.
    for (const rid of [3, 4, 5])
      daemon.socket.deliver({ type: 'reply', rid, ok: true, value: encodeData(new Uint8Array(3 * 1024 * 1024)) });
    await Promise.all(large);
    await daemon.until(() => acks().length === 1);
    expect(acks()).toEqual([{ type: 'ack', ack: 6 }]);
    await client.close();
  });

  it('map lays results out in input order whatever order the chunks come back in', async () => {
    const daemon = new FakeDaemon();
    const client = await connected(daemon);
    const items = [1, 2, 3, 4];
    const result = client.map((x: number) => x * 2, items, { chunkSize: 1 });
    // One worker: a window of four chunks, so all are in flight before any result.
    await daemon.until(() => daemon.socket.received.map(chunkOf).filter(Boolean).length === 4);
    doubling(daemon.socket, (chunks) => [...chunks].reverse());
    expect(await result).toEqual([2, 4, 6, 8]);
    await client.close();
  });

  it('imap yields in input order by default, in arrival order with ordered: false', async () => {
    for (const ordered of [true, false]) {
      const daemon = new FakeDaemon();
      const client = await connected(daemon);
      const seen: number[] = [];
      const loop = (async () => {
        for await (const r of client.imap((x: number) => x * 2, [1, 2, 3], { chunkSize: 1, ordered })) seen.push(r);
      })();
      await daemon.until(() => daemon.socket.received.map(chunkOf).filter(Boolean).length === 3);
      doubling(daemon.socket, (chunks) => [chunks[2]!, chunks[0]!, chunks[1]!]);
      await loop;
      expect(seen).toEqual(ordered ? [2, 4, 6] : [6, 2, 4]);
      await client.close();
    }
  });

  it('breaking out of imap cancels the rest of the batch at the daemon', async () => {
    const daemon = new FakeDaemon();
    const client = await connected(daemon);
    let chunks: BatchChunk[] = [];
    const loop = (async () => {
      for await (const r of client.imap((x: number) => x * 2, [1, 2, 3], { chunkSize: 1 })) if (r === 2) break;
    })();
    await daemon.until(() => (chunks = daemon.socket.received.map(chunkOf).filter((c) => c !== undefined)).length === 3);
    doubling(daemon.socket, () => [chunks[0]!]);
    await loop;
    await daemon.until(() => daemon.socket.received.some((m) => m.type === 'batch.cancel'));
    expect(daemon.socket.received.at(-1)).toEqual({ type: 'batch.cancel', id: chunks[0]!.id });
    await client.close();
  });
});

describe('a daemon nobody runs', () => {
  it('connect() to a port where nothing listens says so, and what to do', async () => {
    const { connect } = await import('../src/connect.js');
    const err = (await connect('ws://127.0.0.1:1', { token: 'x' }).catch((e: unknown) => e)) as Error & { code?: string };
    expect(err.code).toBe('E_CONNECTION');
    expect(err.message).toMatch(/ECONNREFUSED.*nothing listens there: start a daemon with `npx corepool daemon start --detach`/);
  });
});
