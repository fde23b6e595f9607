/**
 * /metrics and the status figures telemetry fills, on a real daemon: the
 * endpoint refuses what has no valid token, another method, a foreign Host;
 * counters move with real batches (items done, failed, timed out, crash
 * restarts, state operations); status gets rss, cpu, share, latency and
 * recent errors; and hostile co-tenants (thousands of client names, a flood of
 * failing items, garbage requests) neither grow the output nor crash the daemon.
 */
import { describe, expect, it } from 'vitest';
import { connect as tcpConnect } from 'node:net';
import { execFileSync } from 'node:child_process';
import { connect, type Client } from '@corepool/client';
import { CLI, startDaemon, type TestDaemon, useDaemon } from './support/daemon.js';
import { until } from './support/wait.js';
import { http as httpTo, type HttpReply } from './support/http.js';
import { metricValue as value, scrapeMetrics } from './support/metrics.js';

let d: TestDaemon;
let client: Client;
useDaemon((x) => ({ d, client } = x), { workers: 2 });

function http(path: string, o: { method?: string; headers?: Record<string, string> } = {}): Promise<HttpReply> {
  return httpTo(d.port, { path, ...o });
}

function scrape(): Promise<string> {
  return scrapeMetrics(d.port, d.token);
}

/** The distinct values of `label` on the samples of `metric`. */
function labelValues(text: string, metric: string, label: string): Set<string> {
  const out = new Set<string>();
  const re = new RegExp(`^${metric}\\{.*${label}="((?:[^"\\\\]|\\\\.)*)"`);
  for (const line of text.split('\n')) {
    const m = re.exec(line);
    if (m !== null) out.add(m[1]!);
  }
  return out;
}

describe('/metrics refuses', () => {
  it('without a token, with a wrong one, or a malformed Authorization: 401 with WWW-Authenticate: Bearer', async () => {
    const cases: Record<string, string>[] = [
      {},
      { authorization: 'Bearer wrong-token' },
      { authorization: `Bearer ${d.token}x` },
      { authorization: `Basic ${Buffer.from(`x:${d.token}`).toString('base64')}` },
      { authorization: 'Bearer' },
      { authorization: `Bearer ${d.token} extra` },
      { authorization: `${d.token}` },
    ];
    for (const headers of cases) {
      const r = await http('/metrics', { headers });
      expect(r.status, JSON.stringify(headers)).toBe(401);
      expect(String(r.headers['www-authenticate'])).toMatch(/^Bearer\b/);
      expect(r.headers['x-corepool-error']).toBe('E_AUTH');
      expect(r.body).toMatch(/^E_AUTH: /);
      expect(r.body).not.toContain('corepool_');
    }
  });

  it('another method: 405 with Allow, even with the token', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const r = await http('/metrics', { method, headers: { authorization: `Bearer ${d.token}` } });
      expect(r.status).toBe(405);
      expect(r.headers.allow).toBe('GET, HEAD');
      expect(r.headers['x-corepool-error']).toBe('E_BAD_MESSAGE');
    }
  });

  it('a Host of another name: 403 (DNS rebinding), even with the token', async () => {
    const r = await http('/metrics', { headers: { host: 'evil.example', authorization: `Bearer ${d.token}` } });
    expect(r.status).toBe(403);
    expect(r.body).not.toContain('corepool_');
  });

  it('garbage and oversized requests do not crash the daemon; it still serves clients and scrapes', async () => {
    const raw = (bytes: Buffer | string): Promise<void> =>
      new Promise((resolve) => {
        const s = tcpConnect(d.port, '127.0.0.1', () => s.end(bytes));
        s.on('error', () => resolve());
        s.on('close', () => resolve());
        s.resume();
      });
    await raw('\x00\x01\x02 not http at all\r\n\r\n');
    await raw(`GET /metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${'x'.repeat(200_000)}\r\n\r\n`);
    await raw(`GET /metrics?${'a'.repeat(100_000)} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    await raw(Buffer.alloc(1 << 20, 0xff));
    const big = await http(`/metrics?${'q'.repeat(4000)}`, { headers: { authorization: `Bearer ${d.token}` } });
    expect(big.status).toBe(200);
    expect(await client.map((x: number) => x + 1, [1, 2, 3])).toEqual([2, 3, 4]);
    expect(await scrape()).toContain('corepool_items_done_total');
  });
});

describe('the first scrape', () => {
  it('loads prom-client then, and its event-loop figures are already real numbers (not 2^63 ns and NaN)', async () => {
    await using e = await startDaemon({ workers: 1 });
    const text = await scrapeMetrics(e.port, e.token);
    for (const name of ['nodejs_eventloop_lag_min_seconds', 'nodejs_eventloop_lag_mean_seconds', 'nodejs_eventloop_lag_p99_seconds']) {
      const v = value(text, name);
      expect({ name, finite: Number.isFinite(v), small: (v ?? Infinity) < 10 }).toEqual({ name, finite: true, small: true });
    }
  });
});

describe('counters and status figures move with real work', () => {
  it('items done, failed, timed out, a crash restart by cause, a state op; status gets rss, share, latency, recent errors', async () => {
    const app = await d.connect({ name: 'metrics-app' });
    const before = await scrape();
    const crashesBefore = value(before, 'corepool_worker_restarts_total{cause="crash"}') ?? 0;
    const timeoutsBefore = value(before, 'corepool_worker_restarts_total{cause="timeout"}') ?? 0;
    const uncaughtBefore = value(before, 'corepool_worker_restarts_total{cause="uncaught"}') ?? 0;
    const setsBefore = value(before, 'corepool_state_ops_total{op="value.set"}') ?? 0;

    expect(
      await app.map(
        (x: number) => x * 2,
        Array.from({ length: 50 }, (_, i) => i),
      ),
    ).toHaveLength(50);
    const thrown = await app.mapSettled(
      (x: number) => {
        if (x === 3) throw new Error('item three refuses');
        return x;
      },
      [0, 1, 2, 3, 4],
    );
    expect(thrown[3]!.status).toBe('rejected');
    const timed = await app.mapSettled(
      (x: number) => {
        if (x === 1) for (;;);
        return x;
      },
      [0, 1, 2],
      { timeoutMs: 300 },
    );
    expect(timed[1]).toMatchObject({ status: 'rejected', reason: { code: 'E_TIMEOUT' } });
    const crashed = await app.mapSettled((x: number) => (x === 2 ? process.kill(process.pid, 'SIGKILL') : x), [0, 1, 2], { retries: 0 });
    expect(crashed[2]).toMatchObject({ status: 'rejected', reason: { code: 'E_WORKER_CRASHED' } });
    const uncaught = await app.mapSettled(
      (x: number) => {
        if (x === 1)
          setTimeout(() => {
            throw new Error('escaped its item');
          }, 0);
        return new Promise((resolve) => setTimeout(() => resolve(x), 200));
      },
      [0, 1, 2],
      { retries: 0 },
    );
    expect(uncaught[1]).toMatchObject({ status: 'rejected', reason: { code: 'E_TASK_FAILED' } });
    await app.value<number>('metrics-test').set(1);

    // A restart is counted at its worker's exit, which the items' errors may come before.
    const restarts = (text: string): string =>
      text
        .split('\n')
        .filter((l) => l.startsWith('corepool_worker_restarts_total{'))
        .join('; ');
    await until(
      async () => {
        const t = await scrape();
        return (
          value(t, 'corepool_worker_restarts_total{cause="timeout"}') === timeoutsBefore + 1 &&
          value(t, 'corepool_worker_restarts_total{cause="uncaught"}') === uncaughtBefore + 1
        );
      },
      10_000,
      'the timeout and uncaught restarts counted',
    ).catch(async (err: unknown) => {
      throw new Error(`${String(err)}: ${restarts(await scrape())}`);
    });
    const text = await scrape();
    expect(value(text, 'corepool_items_done_total{client="metrics-app"}')).toBe(50 + 5 + 3 + 3 + 3);
    expect(value(text, 'corepool_items_failed_total{client="metrics-app"}')).toBe(4);
    expect(value(text, 'corepool_items_timed_out_total{client="metrics-app"}')).toBe(1);
    expect(value(text, 'corepool_chunks_done_total{client="metrics-app"}')).toBeGreaterThan(0);
    expect(value(text, 'corepool_worker_restarts_total{cause="crash"}')).toBe(crashesBefore + 1);
    expect(value(text, 'corepool_worker_restarts_total{cause="timeout"}')).toBe(timeoutsBefore + 1);
    expect(value(text, 'corepool_state_ops_total{op="value.set"}')).toBe(setsBefore + 1);
    expect(value(text, 'corepool_chunk_round_trip_seconds_count')).toBeGreaterThan(0);
    expect(value(text, 'corepool_item_duration_seconds_count')).toBeGreaterThan(0);
    expect(value(text, 'corepool_workers')).toBe(2);
    expect(text).toContain('process_resident_memory_bytes');
    const clients = value(text, 'corepool_clients');
    expect(clients).toBeGreaterThanOrEqual(2);

    // rss and cpu are sampled once a second: wait for a sample of the replacement workers too.
    await until(
      async () => (await d.status()).workers.every((w) => (w.rss ?? 0) > 0 && w.cpu !== undefined),
      10_000,
      'rss of every worker',
    );
    const s = await d.status();
    for (const w of s.workers) {
      expect(w.rss).toBeGreaterThan(1024 * 1024);
      expect(w.cpu).toBeGreaterThanOrEqual(0);
      expect(w.cpu).toBeLessThanOrEqual(1);
    }
    expect(s.workers.some((w) => w.lastRestart !== undefined && w.lastRestart.at > 0)).toBe(true);
    // Several restarts may have been in one slot: it shows the latest.
    for (const w of s.workers) if (w.lastRestart !== undefined) expect(['crash', 'timeout', 'uncaught']).toContain(w.lastRestart.cause);
    const me = s.clients.find((c) => c.name === 'metrics-app')!;
    expect(me.itemsDone).toBe(64);
    expect(me.share).toBeGreaterThan(0);
    const shares = s.clients.reduce((sum, c) => sum + (c.share ?? 0), 0);
    expect(shares).toBeLessThanOrEqual(1 + 1e-9);
    expect(s.latency).toBeDefined();
    expect(s.latency!.p50Ms).toBeGreaterThan(0);
    expect(s.latency!.p99Ms).toBeGreaterThanOrEqual(s.latency!.p50Ms);
    const errors = s.recentErrors ?? [];
    // The thrown item and the uncaught exception share a code: one entry, the latest message, two repeats.
    expect(errors.find((e) => e.code === 'E_TASK_FAILED' && e.client === 'metrics-app')).toMatchObject({
      message: expect.stringContaining('escaped its item') as unknown,
      repeats: 2,
    });
    expect(errors.some((e) => e.code === 'E_TIMEOUT' && e.client === 'metrics-app')).toBe(true);
    expect(errors.some((e) => e.code === 'E_WORKER_CRASHED' && e.client === undefined && /cause: crash/.test(e.message))).toBe(true);

    // The text status shows them briefly; --json carries them.
    const textStatus = execFileSync(process.execPath, [CLI, 'daemon', 'status', '--data-dir', d.dataDir], { encoding: 'utf8' });
    expect(textStatus).toMatch(/latency p50 [\d.]+ ms p99 [\d.]+ ms/);
    expect(textStatus).toMatch(/rss \d+ MB {2}cpu \d+%/);
    expect(textStatus).toMatch(/metrics-app .*share \d+% {2}done 64/);
    expect(textStatus).toContain('recent errors');
    const json = JSON.parse(
      execFileSync(process.execPath, [CLI, 'daemon', 'status', '--json', '--data-dir', d.dataDir], { encoding: 'utf8' }),
    ) as {
      recentErrors?: unknown[];
      latency?: unknown;
    };
    expect(json.recentErrors?.length).toBeGreaterThan(0);
    expect(json.latency).toBeDefined();

    // Its series go when it leaves.
    await app.close();
    await until(async () => !(await scrape()).includes('client="metrics-app"'), 10_000, 'metrics-app series dropped');
  });
});

describe('hostile co-tenants', () => {
  it('a flood of failing items keeps recentErrors bounded, and does not push out the others', async () => {
    const victim = await d.connect({ name: 'victim' });
    await victim.mapSettled(
      (x: number) => {
        if (x === 0) throw new Error('the victim failed once');
        return x;
      },
      [0, 1],
    );
    const flooder = await d.connect({ name: 'flooder' });
    const out = await flooder.mapSettled(
      (x: number) => {
        throw new Error(`failure ${x} ${'garbage '.repeat(200)}`);
      },
      Array.from({ length: 3000 }, (_, i) => i),
    );
    expect(out.every((o) => o.status === 'rejected')).toBe(true);
    // Refused connections too (a wrong token, again and again): one coalesced entry, and counted by code.
    for (let i = 0; i < 20; i++) await expect(connect(d.url, { token: 'wrong' })).rejects.toMatchObject({ code: 'E_AUTH' });
    const errors = (await d.status()).recentErrors ?? [];
    expect(errors.length).toBeLessThanOrEqual(50);
    for (const e of errors) expect(e.message.length).toBeLessThanOrEqual(300);
    const flooders = errors.filter((e) => e.client === 'flooder');
    expect(flooders.length).toBeGreaterThan(0);
    expect(flooders.length).toBeLessThanOrEqual(5);
    expect(flooders.find((e) => e.code === 'E_TASK_FAILED')?.repeats).toBe(3000);
    expect(errors.some((e) => e.client === 'victim' && e.message.includes('the victim failed once'))).toBe(true);
    expect(errors.find((e) => e.code === 'E_AUTH' && e.client === undefined)?.repeats).toBeGreaterThanOrEqual(20);
    expect(value(await scrape(), 'corepool_refused_total{code="E_AUTH"}')).toBeGreaterThanOrEqual(20);
    await flooder.close();
    await victim.close();
  });

  it('a client spinning on every worker shows in the shares while it runs; shares stay within 1, the other app still gets its part', async () => {
    const spinner = await d.connect({ name: 'spinner' });
    const other = await d.connect({ name: 'other-app' });
    const spin = spinner.map(
      (ms: number) => {
        const end = Date.now() + ms;
        while (Date.now() < end);
        return ms;
      },
      [3000, 3000, 3000, 3000],
    );
    await until(
      async () => ((await d.status()).clients.find((c) => c.name === 'spinner')?.share ?? 0) > 0,
      10_000,
      'the spinner has a share',
    );
    // While it spins: the workers name it, and the shares stay within the pool.
    const s = await d.status();
    expect(s.workers.some((w) => w.client === 'spinner' && typeof w.batch === 'number')).toBe(true);
    expect(s.clients.reduce((sum, c) => sum + (c.share ?? 0), 0)).toBeLessThanOrEqual(1 + 1e-9);
    expect(await other.map((x: number) => x * 2, [1, 2, 3])).toEqual([2, 4, 6]);
    const after = await d.status();
    const share = (name: string): number => after.clients.find((c) => c.name === name)?.share ?? 0;
    expect(share('spinner')).toBeGreaterThan(share('other-app'));
    expect(after.clients.reduce((sum, c) => sum + (c.share ?? 0), 0)).toBeLessThanOrEqual(1 + 1e-9);
    await spin;
    await spinner.close();
    await other.close();
  });

  it('thousands of client names do not grow the metrics output without bound; the first app keeps its series', async () => {
    const first = await d.connect({ name: 'first-app' });
    await first.map((x: number) => x, [1, 2, 3]);
    const base = (await scrape()).length;
    const names = 1200;
    const hostile: Client[] = [];
    for (let i = 0; i < names; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(50, names - i) }, (_, j) => d.connect({ name: `sybil-${i + j}-${'n'.repeat(40)}` })),
      );
      await Promise.all(batch.map((c) => c.map((x: number) => x, [1])));
      hostile.push(...batch);
    }
    const text = await scrape();
    const labels = labelValues(text, 'corepool_items_done_total', 'client');
    expect(labels.size).toBeLessThanOrEqual(33); // MAX_CLIENT_LABELS, plus "other"
    expect(labels).toContain('first-app');
    expect(labels).toContain('other');
    // Bounded: 1200 names did not add 1200 series of each per-client metric.
    expect(text.length).toBeLessThan(base + 64 * 1024);
    // Every item is still counted, under "other" past the bound.
    let total = 0;
    for (const l of labels) total += value(text, `corepool_items_done_total{client="${l}"}`) ?? 0;
    expect(total).toBeGreaterThanOrEqual(names + 3);
    await Promise.all(hostile.map((c) => c.close()));
    await until(
      async () => ![...labelValues(await scrape(), 'corepool_items_done_total', 'client')].some((l) => l.startsWith('sybil-')),
      10_000,
      'sybil series dropped',
    );
    expect(labelValues(await scrape(), 'corepool_items_done_total', 'client')).toContain('first-app');
    expect(await first.map((x: number) => x * 3, [1, 2])).toEqual([3, 6]);
    await first.close();
  });
});
