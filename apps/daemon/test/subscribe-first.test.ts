/**
 * Value.subscribe's first call is the value current when the subscription
 * took effect, then every change after it, in order: a write sent right
 * behind the subscribe (whose push the daemon sends in the same frame as the
 * subscribe's reply) does not hide the current value.
 */
import { describe, expect, it } from 'vitest';
import type { Client } from '@corepool/client';
import { useDaemon, type TestDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x));

describe('Value.subscribe', () => {
  it('hears the current value first, then the write sent right behind the subscribe', async () => {
    for (let i = 0; i < 20; i++) {
      const v = client.value<number>(`first-${i}`, { initial: 5 });
      await v.get();
      const seen: number[] = [];
      const stop = v.subscribe((x) => seen.push(x));
      await v.add(1);
      await until(() => seen.includes(6), 10_000, 'the push of the add');
      stop();
      expect(seen).toEqual([5, 6]);
    }
    expect(d.pid).toBeGreaterThan(0);
  });

  it('a value that does not exist yet: the first call is its first write', async () => {
    const v = client.value<number>('first-absent');
    const seen: number[] = [];
    v.subscribe((x) => seen.push(x));
    await v.set(1);
    await until(() => seen.length > 0, 10_000, 'the push of the set');
    expect(seen).toEqual([1]);
  });
});
