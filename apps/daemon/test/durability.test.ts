/**
 * Durability: what the daemon acknowledged survives kill -9 of the daemon
 * and a restart on the same data dir. The counter is checked like Jepsen's:
 * acknowledged <= read <= attempted. Queues, dicts, values of every type and
 * the fencing-token counter come back too; subscribers resume after a restart.
 */
import { describe, expect, it } from 'vitest';
import { startDaemon } from './support/daemon.js';
import { until } from './support/wait.js';
import { startApp } from './apps/spawn-app.js';

describe('kill -9 of the daemon and a restart on the same data dir', () => {
  it('keeps every acknowledged add from four app processes (acknowledged <= read <= attempted)', async () => {
    await using d = await startDaemon();
    const name = 'jepsen';
    const apps = [0, 1, 2, 3].map(() => startApp(d, 'crash-adder.mjs', { name, lanes: 4 }));
    try {
      const acks = (): number => apps.reduce((n, a) => n + (a.stdout.match(/^k /gm)?.length ?? 0), 0);
      await until(() => acks() >= 3000, 60_000, '3000 acknowledged adds');
      await d.kill();
      // The apps see the daemon gone; stop them before reading what they printed.
      await Promise.all(apps.map((a) => a.kill()));
      let attempted = 0;
      const acknowledged: number[] = [];
      for (const a of apps) {
        for (const line of a.stdout.split('\n')) {
          if (line === 'a') attempted++;
          else if (line.startsWith('k ')) acknowledged.push(Number(line.slice(2)));
        }
      }
      expect(new Set(acknowledged).size).toBe(acknowledged.length);

      await using again = await startDaemon({ dataDir: d.dataDir });
      const c = await again.connect();
      const read = await c.value<number>(name).get();
      const maxAck = Math.max(...acknowledged);
      console.log(`jepsen counter: ${acknowledged.length} acknowledged (max ${maxAck}) <= ${read} read <= ${attempted} attempted`);
      expect(acknowledged.length).toBeLessThanOrEqual(read);
      expect(maxAck).toBeLessThanOrEqual(read);
      expect(read).toBeLessThanOrEqual(attempted);
      // And it counts on from there.
      expect(await c.value<number>(name).add(1)).toBe(read + 1);
    } finally {
      await Promise.all(apps.map((a) => a.kill()));
    }
  });

  it('keeps acknowledged queue items, dict entries, typed values, and fencing tokens keep growing', async () => {
    await using d = await startDaemon();
    const c = await d.connect();
    const q = c.queue<unknown>('durable-q');
    for (let i = 0; i < 50; i++) await q.put({ i });
    for (let i = 0; i < 10; i++) expect(await q.get({ timeoutMs: 0 })).toEqual({ i });
    const dict = c.dict<unknown>('durable-d');
    await dict.set('a', new Map([['x', 1n]]));
    await dict.set('b', new Date(42));
    await dict.set('c', 'gone');
    await dict.delete('c');
    const typed = { big: 2n ** 90n, when: new Date(7), tags: new Set(['t']), bytes: new Uint8Array([1, 2]) };
    await c.value('durable-v').set(typed);
    await c.value('durable-n', { initial: 10 }).add(5);
    // A task's writes are acknowledged the same way.
    await c.map(async (i: number, ctx) => ctx.dict('durable-d').set(`task-${i}`, i), [1, 2, 3]);
    let maxToken = 0;
    const lock = c.lock('durable-lock');
    for (let i = 0; i < 20; i++)
      maxToken = Math.max(maxToken, await lock.withLock((t) => t), await c.lock('other-lock').withLock((t) => t));
    maxToken = Math.max(maxToken, (await lock.acquire()).token);
    // Held at the crash: locks are not durable, the restarted daemon starts with it free.
    await d.kill();

    await using again = await startDaemon({ dataDir: d.dataDir });
    const c2 = await again.connect();
    const q2 = c2.queue<unknown>('durable-q');
    expect(await q2.size()).toBe(40);
    for (let i = 10; i < 50; i++) expect(await q2.get({ timeoutMs: 0 })).toEqual({ i });
    // New items after a restart go after none of the old ones and are not lost.
    await q2.put('new');
    expect(await q2.get({ timeoutMs: 0 })).toBe('new');
    // The three tasks ran concurrently: their keys may have been added in any order.
    expect((await c2.dict('durable-d').entries()).sort(([a], [b]) => (a < b ? -1 : 1))).toEqual([
      ['a', new Map([['x', 1n]])],
      ['b', new Date(42)],
      ['task-1', 1],
      ['task-2', 2],
      ['task-3', 3],
    ]);
    expect(await c2.value('durable-v').get()).toEqual(typed);
    expect(await c2.value('durable-n', { initial: 0 }).get()).toBe(15);
    const { token } = await c2.lock('durable-lock').acquire({ timeoutMs: 0 });
    expect(token).toBeGreaterThan(maxToken);
    const status = await c2.status();
    expect(status.locks).toBe(1);
  });

  it('dict keys keep their insertion order across restarts (an update keeps its place, a re-added key goes last)', async () => {
    await using d = await startDaemon();
    const c = await d.connect();
    const dict = c.dict<number>('ordered');
    for (const k of ['m', 'b', 'z', 'a', '__proto__', 'é']) await dict.set(k, 1);
    await dict.set('b', 2); // an update keeps its place
    await dict.delete('z');
    await dict.set('z', 3); // deleted and added again: now the newest
    const expected = ['m', 'b', 'a', '__proto__', 'é', 'z'];
    expect(await dict.keys()).toEqual(expected);
    await d.kill();
    await using again = await startDaemon({ dataDir: d.dataDir });
    const c2 = await again.connect();
    expect(await c2.dict('ordered').keys()).toEqual(expected);
    expect(await c2.dict('ordered').entries()).toEqual([
      ['m', 1],
      ['b', 2],
      ['a', 1],
      ['__proto__', 1],
      ['é', 1],
      ['z', 3],
    ]);
    // New keys after the restart go after the old ones.
    await c2.dict('ordered').set('0', 4);
    await c2.dict('ordered').delete('m');
    expect(await c2.dict('ordered').keys()).toEqual(['b', 'a', '__proto__', 'é', 'z', '0']);
    expect(await again.stop()).toBe(0);
    await using third = await startDaemon({ dataDir: d.dataDir });
    const c3 = await third.connect();
    expect(await c3.dict('ordered').keys()).toEqual(['b', 'a', '__proto__', 'é', 'z', '0']);
  });

  it('a dict subscriber after the restart gets versions that keep growing (no stale push is dropped)', async () => {
    await using d = await startDaemon();
    const c = await d.connect();
    for (let i = 0; i < 5; i++) await c.dict('dv').set(`k${i}`, i);
    await d.kill();
    await using again = await startDaemon({ dataDir: d.dataDir });
    const c2 = await again.connect();
    const events: string[] = [];
    c2.dict('dv').subscribe((k) => events.push(k));
    await c2.dict('dv').size();
    await c2.dict('dv').set('after', 1);
    await c2.dict('dv').delete('k0');
    await until(() => events.length === 2, 10_000, 'two dict events');
    expect(events).toEqual(['after', 'k0']);
  });

  it('a graceful stop keeps everything too, and a watching client resumes on the restarted daemon', async () => {
    await using d = await startDaemon();
    const watcherClient = await d.connect({ reconnectTimeoutMs: 60_000 });
    const v = watcherClient.value<number>('resume', { initial: 0 });
    const seen: number[] = [];
    const stop = v.subscribe((x) => seen.push(x));
    // A dict subscriber too: the dict's version survives the restart, so the pushes after it are not taken as stale.
    const dictEvents: string[] = [];
    const stopDict = watcherClient.dict('resume-d').subscribe((k) => dictEvents.push(k));
    await watcherClient.dict('resume-d').size();
    const writer = await d.connect();
    for (let i = 0; i < 100; i++) await writer.value<number>('resume').add(1);
    for (let i = 0; i < 10; i++) await writer.dict('resume-d').set(`before-${i}`, i);
    await until(() => dictEvents.length === 10, 10_000, 'the dict subscriber to see 10 sets');
    await until(() => seen.at(-1) === 100, 10_000, 'the watcher to see 100');
    await writer.close();
    expect(await d.stop()).toBe(0);

    await using again = await startDaemon({ dataDir: d.dataDir, args: ['--port', String(d.port)] });
    const w2 = await again.connect();
    expect(await w2.value('resume').get()).toBe(100);
    for (let i = 0; i < 50; i++) await w2.value<number>('resume').add(1);
    await until(() => seen.at(-1) === 150, 30_000, 'the watcher to resume and see 150');
    await w2.dict('resume-d').set('after', 1);
    await until(() => dictEvents.at(-1) === 'after', 10_000, 'the dict subscriber to see the set after the restart');
    stop();
    stopDict();
    for (let i = 1; i < seen.length; i++) if (seen[i]! < seen[i - 1]!) expect.fail(`the watcher went from ${seen[i - 1]} to ${seen[i]}`);
  });
});
