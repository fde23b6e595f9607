/**
 * The redo journal beside a hostile co-tenant: one app floods writes to
 * thousands of distinct keys (every one a record the journal and then a
 * checkpoint must carry), with some values large enough to bypass the
 * journal, while a steady app adds to a counter and reads it back. The
 * steady app's adds each apply once; the journal's files are emptied again
 * once the flood stops (they hold about a second, never the whole flood);
 * after kill -9 and a restart every acknowledged write of both apps is there.
 */
import { statSync } from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { startDaemon } from './support/daemon.js';
import { until } from './support/wait.js';

const KEYS = 3000;
const SMALL = 2 * 1024;
const LARGE = 96 * 1024;

describe('the redo journal beside an app flooding distinct keys', () => {
  it("keeps the neighbour's counter exact, empties its files after the flood, and keeps every acknowledged write across kill -9", async () => {
    await using d = await startDaemon({ workers: 1, keepDataDir: true });
    const journal = (): number => ['journal-0', 'journal-1'].reduce((n, f) => n + statSync(path.join(d.dataDir, 'state', f)).size, 0);
    const flooder = await d.connect();
    const steady = await d.connect();
    const flood = flooder.dict<Uint8Array>('flood');
    // The last acknowledged value of every key, by its first byte, and the one a set in flight may have left.
    const acked = new Map<string, number>();
    const attempted = new Map<string, number>();
    let stop = false;
    let sent = 0;
    let peak = 0;
    const lane = async (lane: number): Promise<void> => {
      for (let i = lane; !stop; i += 4) {
        const key = `k${i % KEYS}`;
        const mark = i & 255;
        // One write in 50 is large: it is committed straight to LMDB, between journal frames of the same keys.
        const bytes = new Uint8Array(i % 50 === 0 ? LARGE : SMALL).fill(mark);
        attempted.set(key, mark);
        await flood.set(key, bytes);
        acked.set(key, mark);
        sent++;
        if (sent % 500 === 0) peak = Math.max(peak, journal());
      }
    };
    const lanes = [0, 1, 2, 3].map(lane);

    const counter = steady.value<number>('steady', { initial: 0 });
    let adds = 0;
    const results = new Set<number>();
    while (sent < 4 * KEYS) {
      results.add(await counter.add(1));
      adds++;
    }
    expect(await counter.get()).toBe(adds);
    // Every add answered with its own total: applied once each.
    expect(results.size).toBe(adds);
    stop = true;
    await Promise.all(lanes);

    // The flood wrote ~25 MB; the files held a bounded part of it, and are emptied by the next checkpoints.
    expect(sent * SMALL).toBeGreaterThan(20 * 1024 * 1024);
    await until(() => journal() === 0, 10_000, 'the journal files emptied after the flood');
    expect(peak).toBeLessThan(sent * SMALL);

    // Writes after the last checkpoint live in the journal alone: kill -9 while the flood runs again.
    stop = false;
    const more = [0, 1].map((n) => lane(n).catch(() => {}));
    await until(() => sent > 6 * KEYS, 30_000, 'more writes');
    await counter.add(1);
    adds++;
    await d.kill();
    // The set in flight at the kill is not acknowledged: closing fails it rather than waiting to reconnect.
    stop = true;
    await flooder.close();
    await steady.close();
    await Promise.all(more);
    // What the killed daemon left: frames past its last checkpoint, for the restart to apply.
    expect(journal()).toBeGreaterThan(0);

    await using again = await startDaemon({ workers: 1, dataDir: d.dataDir });
    const c = await again.connect();
    expect(await c.value<number>('steady').get()).toBe(adds);
    const dict = c.dict<Uint8Array>('flood');
    // A key whose first set was in flight at the kill may be there or not; no other key is missing or extra.
    const keys = new Set(await dict.keys());
    expect([...acked.keys()].filter((k) => !keys.has(k))).toEqual([]);
    expect([...keys].filter((k) => !acked.has(k) && !attempted.has(k))).toEqual([]);
    const wrong: string[] = [];
    await Promise.all(
      [...acked].map(async ([key, mark]) => {
        const bytes = await dict.get(key);
        // Acknowledged <= read <= attempted: the last acknowledged value, or the one in flight at the kill.
        const ok = (m: number | undefined): boolean => bytes !== undefined && bytes[0] === m && bytes.at(-1) === m;
        if (!ok(mark) && !ok(attempted.get(key))) wrong.push(key);
      }),
    );
    expect(wrong).toEqual([]);
  }, 120_000);
});
