/**
 * kill -9 of the primary mid-batch, then a restart on the same data dir and
 * port: the old generation's workers are gone (a busy orphan too), clients
 * reconnect and resubmit the items that had no result, every acknowledged add
 * survives, and each item's result is delivered exactly once.
 */
import { describe, expect, it } from 'vitest';
import { connect } from '@corepool/client';
import { startDaemon } from './support/daemon.js';
import { alive } from './support/processes.js';
import { until, untilRunning } from './support/wait.js';
import { startCutProxy } from './support/cut-proxy.js';

describe('daemon restart', () => {
  it('a batch survives kill -9 of the primary and a restart: lost = duplicated = 0', async () => {
    const first = await startDaemon();
    const { dataDir, port } = first;
    const client = await first.connect({ reconnectTimeoutMs: 30_000 });
    const n = 600;
    const deliveries = new Map<number, number>();
    const stream = (async () => {
      for await (const v of client.imap(
        (x: number) => {
          const end = performance.now() + 4;
          while (performance.now() < end) {
            /* busy */
          }
          return x * 3;
        },
        Array.from({ length: n }, (_, i) => i),
        { ordered: false },
      )) {
        deliveries.set(v / 3, (deliveries.get(v / 3) ?? 0) + 1);
      }
    })();
    // A worker busy forever must not outlive its primary.
    const runaway = client
      .submit(
        () => {
          for (;;) {
            /* runaway */
          }
        },
        0,
        { timeoutMs: 3_000 },
      )
      .catch((e: unknown) => e);
    await until(() => deliveries.size > 0, 10_000, 'the batch under way');
    const oldWorkers = first.workerProcesses();
    expect(oldWorkers.length).toBeGreaterThan(0);
    await first.kill();
    await until(() => oldWorkers.every((p) => !alive(p)), 5_000, 'the old generation to die');
    const second = await startDaemon({ dataDir, port, keepDataDir: true });
    try {
      await stream;
      const lost = Array.from({ length: n }, (_, i) => i).filter((i) => !deliveries.has(i));
      const duplicated = [...deliveries].filter(([, c]) => c > 1);
      const unexpected = [...deliveries.keys()].filter((i) => !(i >= 0 && i < n && Number.isInteger(i)));
      expect({ lost, duplicated, unexpected }).toEqual({ lost: [], duplicated: [], unexpected: [] });
      expect(await runaway).toMatchObject({ code: 'E_TIMEOUT' });
      expect(await client.map((x: number) => x + 1, [1, 2])).toEqual([2, 3]);
    } finally {
      await client.close();
      await second[Symbol.asyncDispose]();
      await first[Symbol.asyncDispose](); // the data dir is the first daemon's
    }
  });

  it('acknowledged adds survive kill -9; reads stay within acknowledged <= v <= attempted; subscriptions resume', async () => {
    const first = await startDaemon();
    const { dataDir, port } = first;
    const client = await first.connect({ reconnectTimeoutMs: 30_000 });
    const hits = client.value<number>('hits', { initial: 0 });
    const pushes: number[] = [];
    hits.subscribe((v) => pushes.push(v));
    for (let i = 0; i < 100; i++) await hits.add(1);
    let acknowledged = 100;
    let attempted = 100;
    const inflight: Promise<unknown>[] = [];
    for (let i = 0; i < 50; i++) {
      attempted++;
      inflight.push(
        hits.add(1).then(
          () => acknowledged++,
          (e: { code: string }) => e.code,
        ),
      );
    }
    await first.kill();
    // Adds whose reply was lost wait for the link; a restarted daemon cannot replay them, so they fail.
    const second = await startDaemon({ dataDir, port, keepDataDir: true });
    const outcomes = await Promise.all(inflight);
    for (const o of outcomes) if (typeof o === 'string') expect(o).toBe('E_CONNECTION');
    try {
      const v = await hits.get();
      expect(v).toBeGreaterThanOrEqual(acknowledged);
      expect(v).toBeLessThanOrEqual(attempted);
      expect(await hits.add(1)).toBe(v + 1);
      await until(() => pushes.at(-1) === v + 1, 10_000, 'the resumed subscription');
      for (let i = 1; i < pushes.length; i++) expect(pushes[i]!).toBeGreaterThanOrEqual(pushes[i - 1]!);
    } finally {
      await client.close();
      await second[Symbol.asyncDispose]();
      await first[Symbol.asyncDispose](); // the data dir is the first daemon's
    }
  });

  it('a graceful stop hands unfinished work back; the client resumes it on the next daemon', async () => {
    const first = await startDaemon();
    const { dataDir, port } = first;
    const client = await first.connect({ reconnectTimeoutMs: 30_000 });
    const n = 400;
    const run = client.map(
      (x: number) => {
        const end = performance.now() + 5;
        while (performance.now() < end) {
          /* busy */
        }
        return -x - 1;
      },
      Array.from({ length: n }, (_, i) => i),
    );
    await until(async () => (await first.status()).itemsDone > 0, 10_000, 'the batch under way');
    expect(await first.stop()).toBe(0);
    const second = await startDaemon({ dataDir, port, keepDataDir: true });
    try {
      const out = await run;
      expect(out).toEqual(Array.from({ length: n }, (_, i) => -i - 1));
    } finally {
      await client.close();
      await second[Symbol.asyncDispose]();
      await first[Symbol.asyncDispose](); // the data dir is the first daemon's
    }
  });

  it('a dict subscriber catches up on changes made while it was disconnected', async () => {
    const first = await startDaemon();
    const { dataDir, port } = first;
    const a = await first.connect({ reconnectTimeoutMs: 30_000 });
    const cfg = a.dict<number>('cfg');
    const view = new Map<string, number>();
    cfg.subscribe((k, v, deleted) => {
      if (deleted) view.delete(k);
      else view.set(k, v!);
    });
    await cfg.set('keep', 1);
    await cfg.set('gone', 2);
    await until(() => view.size === 2, 10_000, 'the first pushes');
    expect(await first.stop()).toBe(0);
    // Down long enough for the subscriber's reconnect backoff to grow past the changes below: a
    // duration is the scenario here (the client shows no backoff to wait on), not a state to reach.
    await new Promise((r) => setTimeout(r, 1500));
    const second = await startDaemon({ dataDir, port, keepDataDir: true });
    try {
      const b = await second.connect();
      await b.dict<number>('cfg').set('new', 3);
      await b.dict<number>('cfg').delete('gone');
      await until(() => view.get('new') === 3 && !view.has('gone'), 20_000, 'the subscriber to catch up');
      expect(Object.fromEntries(view)).toEqual({ keep: 1, new: 3 });
      await b.dict<number>('cfg').set('after', 4);
      await until(() => view.get('after') === 4, 10_000, 'pushes after the resync');
    } finally {
      await a.close();
      await second[Symbol.asyncDispose]();
      await first[Symbol.asyncDispose](); // the data dir is the first daemon's
    }
  });

  it('a frozen daemon (SIGSTOP) is detected by its missing pings: pending work fails with E_CONNECTION, not a hang', async () => {
    const d = await startDaemon({ args: ['--heartbeat-ms', '200'] });
    try {
      const client = await d.connect({ reconnectTimeoutMs: 1000 });
      const run = client.map(async () => {
        await new Promise((r) => setTimeout(r, 60_000));
        return 1;
      }, [1]);
      const outcome = expect(run).rejects.toMatchObject({ code: 'E_CONNECTION' });
      await untilRunning(() => d.status());
      process.kill(d.pid, 'SIGSTOP');
      await outcome;
    } finally {
      process.kill(d.pid, 'SIGCONT');
      await d[Symbol.asyncDispose]();
    }
  });

  it('pending work fails with E_CONNECTION once reconnecting has timed out', async () => {
    const d = await startDaemon();
    const client = await d.connect({ reconnectTimeoutMs: 500 });
    const run = client.map(() => {
      const end = Date.now() + 60_000;
      while (Date.now() < end) {
        /* busy */
      }
      return 1;
    }, [1]);
    await untilRunning(() => d.status());
    await d.kill();
    await expect(run).rejects.toMatchObject({ code: 'E_CONNECTION' });
    await expect(client.value('x').get()).rejects.toMatchObject({ code: 'E_CONNECTION' });
    await d[Symbol.asyncDispose]();
  });

  it('writes whose replies were lost in a dropped connection are replayed by the same daemon: applied once, answered once', async () => {
    await using d = await startDaemon();
    await using proxy = await startCutProxy(d.url);
    const client = await connect(proxy.url, { token: d.token, reconnectTimeoutMs: 30_000 });
    const observer = await d.connect();
    try {
      const hits = client.value<number>('replayed', { initial: 0 });
      await hits.get();
      const jobs = client.queue<number>('replayed-q');
      const cfg = client.dict<number>('replayed-d');
      // The daemon applies every one of these and answers; the answers never arrive.
      proxy.hold();
      const n = 200;
      const adds = Array.from({ length: n }, () => hits.add(1));
      const puts = Array.from({ length: 20 }, (_, i) => jobs.put(i));
      const sets = Array.from({ length: 20 }, (_, i) => cfg.set(`k${i}`, i));
      await until(
        async () => (await observer.value<number>('replayed').get()) === n && (await observer.queue('replayed-q').size()) === 20,
        10_000,
        'the writes applied',
      );
      proxy.cut();
      // The client reconnects to the same daemon and sends them again: each is answered from its first outcome.
      const got = await Promise.all(adds);
      await Promise.all([...puts, ...sets]);
      expect([...got].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      expect(await hits.get()).toBe(n);
      expect(await jobs.size()).toBe(20);
      expect(await cfg.size()).toBe(20);
      // Nothing was applied twice, and the client carries on.
      expect(await hits.add(1)).toBe(n + 1);
    } finally {
      await client.close();
      await observer.close();
    }
  });

  it('a queue.get whose reply was lost gets the same item again; one still waiting waits again; no item is lost or handed out twice', async () => {
    await using d = await startDaemon();
    await using proxy = await startCutProxy(d.url);
    const client = await connect(proxy.url, { token: d.token, reconnectTimeoutMs: 30_000, name: 'getter' });
    const observer = await d.connect();
    try {
      const jobs = client.queue<string>('replayed-get');
      const other = observer.queue<string>('replayed-get');
      await jobs.size();
      proxy.hold();
      // The daemon hands 'first' to this get and answers; the answer never arrives.
      const first = jobs.get();
      await until(async () => (await d.status()).blockedGets === 1, 10_000, 'the get waiting in the daemon');
      await other.put('first');
      await until(async () => (await other.size()) === 0, 10_000, 'the item taken');
      proxy.cut();
      expect(await first).toBe('first');
      // A get that was still waiting when its connection dropped waits again after the reconnect.
      const later = jobs.get({ timeoutMs: 20_000 });
      await until(async () => (await d.status()).blockedGets === 1, 10_000, 'the get waiting in the daemon');
      const link = (await d.status()).clients.find((c) => c.name === 'getter')!.id;
      proxy.cut();
      await until(
        async () => {
          const { clients } = await d.status();
          return clients.some((c) => c.name === 'getter' && c.id !== link) && !clients.some((c) => c.id === link);
        },
        10_000,
        'the client back on a new link, the old one closed',
      );
      await other.put('second');
      expect(await later).toBe('second');
      expect(await other.size()).toBe(0);
      await expect(other.get({ timeoutMs: 0 })).rejects.toMatchObject({ code: 'E_TIMEOUT' });
    } finally {
      await client.close();
      await observer.close();
    }
  });

  it('writes and gets committed before a kill -9 whose replies were lost are answered by the restarted daemon, not applied again', async () => {
    const first = await startDaemon();
    const { dataDir, port } = first;
    await using proxy = await startCutProxy(first.url);
    const client = await connect(proxy.url, { token: first.token, reconnectTimeoutMs: 30_000 });
    let second: Awaited<ReturnType<typeof startDaemon>> | undefined;
    try {
      const hits = client.value<number>('kept', { initial: 0 });
      const cfg = client.dict<number>('kept-d');
      const jobs = client.queue<string>('kept-q');
      await hits.get();
      const observer = await first.connect();
      await observer.queue('kept-q').put('ready');
      proxy.hold();
      const n = 100;
      const adds = Array.from({ length: n }, () => hits.add(1));
      const sets = Array.from({ length: 10 }, (_, i) => cfg.set(`k${i}`, i));
      const taken = jobs.get();
      const waiting = jobs.get(); // handed an item by a put, after the first took 'ready'
      await until(async () => (await first.status()).blockedGets === 1, 10_000, 'the second get waiting in the daemon');
      await observer.queue('kept-q').put('handed');
      await until(
        async () => (await observer.value<number>('kept').get()) === n && (await observer.dict('kept-d').size()) === 10,
        10_000,
        'the writes committed',
      );
      await first.kill();
      proxy.cut();
      // More adds while the daemon is down: never applied yet, they are applied once it is back.
      const more = Array.from({ length: 20 }, () => hits.add(1));
      second = await startDaemon({ dataDir, port, keepDataDir: true });
      const got = [...(await Promise.all(adds)), ...(await Promise.all(more))];
      await Promise.all(sets);
      expect([...got].sort((a, b) => a - b)).toEqual(Array.from({ length: n + 20 }, (_, i) => i + 1));
      expect(await hits.get()).toBe(n + 20);
      expect(await cfg.size()).toBe(10);
      // Items taken before the kill come back to their gets, once; none is left in the queue.
      expect([await taken, await waiting]).toEqual(['ready', 'handed']);
      expect(await jobs.size()).toBe(0);
    } finally {
      await client.close();
      await second?.[Symbol.asyncDispose]();
      await first[Symbol.asyncDispose]();
    }
  });
});
