/** Daemon options that change behaviour: --no-source, --fsync always, --max-payload; the memory defaults and bounds. */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, task } from '@corepool/client';
import { startDaemon } from './support/daemon.js';
import {
  MAX_DEFAULT_HEAP_MB,
  MIN_WORKER_RSS_MB,
  defaultMaxStateMb,
  defaultWorkerHeapMb,
  defaultWorkerRssMb,
  resolveOptions,
} from '../src/options.js';

describe('daemon options', () => {
  it('--no-source refuses function source with E_SOURCE_DISABLED and still runs module tasks', async () => {
    await using d = await startDaemon({ args: ['--no-source'] });
    const client = await d.connect();
    await expect(client.map((x: number) => x + 1, [1])).rejects.toMatchObject({ code: 'E_SOURCE_DISABLED' });
    await expect(client.submit((x: number) => x, 1)).rejects.toMatchObject({ code: 'E_SOURCE_DISABLED' });
    const file = join(d.dataDir, 'inc.mjs');
    writeFileSync(file, 'export function inc(x) { return x + 1; }\n');
    expect(await client.map(task<number, number>(file, 'inc'), [1, 2, 3])).toEqual([2, 3, 4]);
  });

  it('--fsync always: every acknowledged add survives kill -9', async () => {
    const first = await startDaemon({ args: ['--fsync', 'always'], keepDataDir: true });
    const client = await first.connect({ reconnectTimeoutMs: 100 });
    const hits = client.value<number>('hits', { initial: 0 });
    let acknowledged = 0;
    await Promise.all(Array.from({ length: 200 }, () => hits.add(1).then(() => acknowledged++)));
    expect(acknowledged).toBe(200);
    await first.kill();
    await client.close();
    await using second = await startDaemon({ dataDir: first.dataDir, args: ['--fsync', 'always'] });
    const again = await second.connect();
    expect(await again.value<number>('hits').get()).toBe(200);
  });

  it('on a non-loopback host, function source is off unless --allow-source', async () => {
    const file = (dir: string): string => {
      const f = join(dir, 'inc.mjs');
      writeFileSync(f, 'export function inc(x) { return x + 1; }\n');
      return f;
    };
    {
      await using d = await startDaemon({ args: ['--host', '0.0.0.0', '--token', 'a-long-explicit-token'] });
      const client = await connect(`ws://127.0.0.1:${d.port}`, { token: 'a-long-explicit-token' });
      await expect(client.map((x: number) => x + 1, [1])).rejects.toMatchObject({ code: 'E_SOURCE_DISABLED' });
      expect(await client.map(task<number, number>(file(d.dataDir), 'inc'), [1])).toEqual([2]);
      await client.close();
    }
    {
      await using d = await startDaemon({ args: ['--host', '0.0.0.0', '--token', 'a-long-explicit-token', '--allow-source'] });
      const client = await connect(`ws://127.0.0.1:${d.port}`, { token: 'a-long-explicit-token' });
      expect(await client.map((x: number) => x + 1, [1])).toEqual([2]);
      await client.close();
    }
  });

  it('rejects bad option values before starting', async () => {
    await expect(startDaemon({ args: ['--fsync', 'sometimes'] })).rejects.toThrow(/fsync/);
    await expect(startDaemon({ args: ['--max-clients', '0'] })).rejects.toThrow(/max-clients.*E_BAD_ARGUMENT/);
  });

  it('--max-payload is at least 128 KiB: below it a reply had no room for even a 1-byte value', () => {
    expect(() => resolveOptions({ workers: 2, maxPayload: String(64 * 1024) })).toThrow(/max-payload/);
    expect(resolveOptions({ workers: 2, maxPayload: String(128 * 1024) }).maxPayload).toBe(128 * 1024);
  });
});

describe('integer flags', () => {
  it('take digits only, and say E_BAD_ARGUMENT otherwise: an empty, hex or exponent value is no number', () => {
    expect(resolveOptions({ workers: 2, reserveWorkers: '2' }).reserveWorkers).toBe(2);
    expect(resolveOptions({ workers: 2, reserveWorkers: '0' }).reserveWorkers).toBe(0);
    for (const bad of ['', ' ', 'abc', '1.5', '0x2', '1e1', '-1', '17'])
      expect(() => resolveOptions({ workers: 2, reserveWorkers: bad })).toThrow(
        expect.objectContaining({ code: 'E_BAD_ARGUMENT', message: expect.stringContaining('--reserve-workers') }),
      );
    expect(() => resolveOptions({ workers: '' })).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
  });
});

describe('memory defaults', () => {
  const GB = 1024 ** 3;

  it('the worker heap is 80% of RAM / workers, at least 256 MB and at most 2 GB: a leaking task dies in seconds, not minutes', () => {
    expect(MAX_DEFAULT_HEAP_MB).toBe(2048);
    expect(defaultWorkerHeapMb(2, 24 * GB)).toBe(2048);
    expect(defaultWorkerHeapMb(4, 4 * GB)).toBe(819);
    expect(defaultWorkerHeapMb(64, 4 * GB)).toBe(256);
    expect(resolveOptions({ workers: 2 }).workerHeapMb).toBe(defaultWorkerHeapMb(3)); // and the reserve worker
  });

  it('the shared state may fill half the primary heap by default; --max-state-mb sets it, 0 lifts it, anything else is E_BAD_ARGUMENT', () => {
    expect(defaultMaxStateMb(4144 * 1024 * 1024)).toBe(2072);
    expect(defaultMaxStateMb(16 * 1024 * 1024)).toBe(16);
    expect(resolveOptions({ workers: 2 }).maxStateMb).toBe(defaultMaxStateMb());
    expect(resolveOptions({ workers: 2, maxStateMb: '64' }).maxStateMb).toBe(64);
    expect(resolveOptions({ workers: 2, maxStateMb: '0' }).maxStateMb).toBe(0);
    for (const bad of ['-1', '1.5', 'lots', ''])
      expect(() => resolveOptions({ workers: 2, maxStateMb: bad })).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }));
  });

  it('the RSS watchdog is on by default at 1.5x the heap (at least 128 MB above it), off with --worker-rss-mb 0', () => {
    expect(defaultWorkerRssMb(2048)).toBe(3072);
    expect(defaultWorkerRssMb(64)).toBe(192);
    expect(resolveOptions({ workers: 2 }).workerRssMb).toBe(defaultWorkerRssMb(defaultWorkerHeapMb(3)));
    expect(resolveOptions({ workers: 2, workerHeapMb: '512' }).workerRssMb).toBe(768);
    expect(resolveOptions({ workers: 2, workerRssMb: '0' }).workerRssMb).toBe(0);
  });

  it('--worker-rss-mb under what a fresh worker needs, or not above the heap, is refused at start (it would kill every worker in a loop)', async () => {
    expect(() => resolveOptions({ workers: 1, workerRssMb: '40' })).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }) as Error);
    expect(() => resolveOptions({ workers: 1, workerRssMb: String(MIN_WORKER_RSS_MB - 1) })).toThrow(/128/);
    expect(() => resolveOptions({ workers: 1, workerHeapMb: '512', workerRssMb: '512' })).toThrow(
      expect.objectContaining({ code: 'E_BAD_ARGUMENT' }) as Error,
    );
    expect(resolveOptions({ workers: 1, workerHeapMb: '64', workerRssMb: String(MIN_WORKER_RSS_MB) }).workerRssMb).toBe(MIN_WORKER_RSS_MB);
    await expect(startDaemon({ args: ['--worker-rss-mb', '40'] })).rejects.toThrow(/worker-rss-mb/);
  });

  it('a token under 16 characters (--token, --token-file, COREPOOL_TOKEN) or an empty --token is refused at start; a file token is logged by its path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'corepool-tok-'));
    try {
      const file = (text: string): string => {
        const f = join(dir, `t${Math.random().toString(36).slice(2)}`);
        writeFileSync(f, text, { mode: 0o600 });
        return f;
      };
      expect(() => resolveOptions({ token: 'short-token' })).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }) as Error);
      expect(() => resolveOptions({ token: '' })).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }) as Error);
      expect(() => resolveOptions({ tokenFile: file('short-token\n') })).toThrow(
        expect.objectContaining({ code: 'E_BAD_ARGUMENT' }) as Error,
      );
      const long = file('a-long-enough-token\n');
      expect(resolveOptions({ tokenFile: long })).toMatchObject({ token: 'a-long-enough-token', tokenSource: 'file', tokenFile: long });
      const env = process.env.COREPOOL_TOKEN;
      process.env.COREPOOL_TOKEN = 'short';
      try {
        expect(() => resolveOptions({})).toThrow(expect.objectContaining({ code: 'E_BAD_ARGUMENT' }) as Error);
      } finally {
        if (env === undefined) delete process.env.COREPOOL_TOKEN;
        else process.env.COREPOOL_TOKEN = env;
      }
      await expect(startDaemon({ args: ['--token', 'short-token'] })).rejects.toThrow(/16/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--max-clients defaults to what the open-files limit leaves room for, at most 10,000', () => {
    const o = resolveOptions({ workers: 2 });
    expect(o.maxClients).toBeLessThanOrEqual(10_000);
    if (o.openFilesLimit !== undefined && Number.isFinite(o.openFilesLimit))
      expect(o.maxClients + o.maxPreUpgrade).toBeLessThan(o.openFilesLimit);
    expect(resolveOptions({ workers: 2, maxClients: '7' }).maxClients).toBe(7);
  });
});
