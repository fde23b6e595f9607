/**
 * Results the worker cannot inspect or encode (a throwing getter, a 100k-deep
 * array, a throwing toJSON, a Proxy whose traps throw): each fails its own
 * item with a code, the rest of the chunk is delivered, the worker stays
 * usable, and nothing hangs (issue 9, item 1). One worker, so a wedged worker
 * would hang every later call.
 */
import { describe, expect, it } from 'vitest';
import { useDaemon, type TestDaemon } from './support/daemon.js';
import type { Client } from '@corepool/client';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x), { workers: 1 });

/** Item x returns: 0 a plain value, 1 a throwing getter, 2 a 100k-deep array, 3 a throwing toJSON, 4 a Proxy whose traps throw. */
const nasty = (x: number): unknown => {
  if (x === 1)
    return {
      ok: 1,
      get boom() {
        throw new Error('getter boom');
      },
    };
  if (x === 2) {
    let deep: unknown[] = [];
    for (let i = 0; i < 100_000; i++) deep = [deep];
    return deep;
  }
  if (x === 3) {
    class Odd {
      toJSON(): never {
        throw new Error('toJSON boom');
      }
    }
    return { odd: new Odd() };
  }
  if (x === 4) {
    const trap = (): never => {
      throw new Error('trap boom');
    };
    return { inner: new Proxy({}, { get: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, getPrototypeOf: trap, has: trap }) };
  }
  return x * 10;
};

const BAD = [1, 2, 3, 4];

async function expectCoded(c: Client, options: { timeoutMs?: number }): Promise<void> {
  const items = Array.from({ length: 10 }, (_, i) => i % 5);
  const out = await c.mapSettled(nasty, items, { chunkSize: 10, ...options });
  items.forEach((x, i) => {
    if (BAD.includes(x)) {
      expect(out[i]!.status).toBe('rejected');
      const reason = (out[i] as PromiseRejectedResult).reason as { code: string; index: number };
      expect(['E_NOT_CLONEABLE', 'E_TASK_FAILED']).toContain(reason.code);
      expect(reason.index).toBe(i);
    } else {
      expect(out[i]).toEqual({ status: 'fulfilled', value: x * 10 });
    }
  });
}

describe('results the worker cannot inspect', () => {
  it('fail their own items with a code; the other items of the chunk are delivered; the worker stays usable', async () => {
    const before = await d.status();
    await expectCoded(client, {});
    // Same worker (no replacement needed), and a second app's map works on it.
    const other = await d.connect();
    expect(await other.map((x: number) => x + 1, [1, 2, 3])).toEqual([2, 3, 4]);
    expect((await d.status()).workerRestarts).toBe(before.workerRestarts);
  }, 60_000);

  it('with timeoutMs set too', async () => {
    await expectCoded(client, { timeoutMs: 20_000 });
    const other = await d.connect();
    expect(await other.map((x: number) => x * 2, [1, 2, 3])).toEqual([2, 4, 6]);
  }, 60_000);

  it('thrown values that cannot be described still fail their item with E_TASK_FAILED', async () => {
    const out = await client.mapSettled(
      (x: number) => {
        if (x === 1)
          throw new Proxy(
            {},
            {
              getPrototypeOf: () => {
                throw new Error('proto trap');
              },
              get: () => {
                throw new Error('get trap');
              },
            },
          );
        if (x === 2) {
          const e = new Error('x');
          Object.defineProperty(e, 'message', {
            get: () => {
              throw new Error('message getter');
            },
          });
          throw e;
        }
        if (x === 3)
          throw {
            toString: () => {
              throw new Error('toString');
            },
          };
        return x;
      },
      [0, 1, 2, 3, 4],
      { chunkSize: 5 },
    );
    expect(out[0]).toEqual({ status: 'fulfilled', value: 0 });
    expect(out[4]).toEqual({ status: 'fulfilled', value: 4 });
    for (const i of [1, 2, 3]) expect(out[i]).toMatchObject({ status: 'rejected', reason: { code: 'E_TASK_FAILED', index: i } });
    expect(await client.map((x: number) => x + 1, [1])).toEqual([2]);
  }, 60_000);
});
