/**
 * Client failover between daemons: two standalone daemons (their own ports
 * and data dirs, one token through --token-file), a client given both URLs.
 * When the daemon it uses dies (kill -9) or stops gracefully mid-batch, the
 * client moves to the other: the batch is opened there afresh from the
 * resent chunks and completes with every result exactly once and in order,
 * and a subscription carries on there. A list whose first daemon is dead
 * connects to the next, and COREPOOL_URL takes a list too.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type Client } from '@corepool/client';
import { CLI, startDaemon, type TestDaemon } from './support/daemon.js';
import { freePort } from './support/ports.js';
import { until } from './support/wait.js';

let dir: string;
let tokenFile: string;
let token: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'corepool-failover-'));
  tokenFile = join(dir, 'token');
  token = 'failover-test-token-0123456789abcdef';
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A daemon of the pair: its own port and data dir, the shared token. */
function pairDaemon(): Promise<TestDaemon> {
  return startDaemon({ workers: 2, args: ['--token-file', tokenFile] });
}

/** An item that takes ~15 ms without spinning a core (the machine is shared): the batch lasts seconds. */
const slow = (x: number): number => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 15);
  return x * 2;
};

/**
 * Streams `n` items in input order through `client`, counting the deliveries of each item;
 * `mid` runs once a quarter of them arrived. Resolves to what was seen.
 */
async function streamAcross(
  client: Client,
  n: number,
  mid: () => Promise<void>,
): Promise<{ order: number[]; counts: Map<number, number> }> {
  const order: number[] = [];
  const counts = new Map<number, number>();
  let fired: Promise<void> | undefined;
  for await (const v of client.imap(
    slow,
    Array.from({ length: n }, (_, i) => i),
  )) {
    const i = v / 2;
    order.push(i);
    counts.set(i, (counts.get(i) ?? 0) + 1);
    if (fired === undefined && order.length >= n / 4) fired = mid();
  }
  await fired;
  return { order, counts };
}

function expectExactlyOnceInOrder(n: number, seen: { order: number[]; counts: Map<number, number> }): void {
  const lost = Array.from({ length: n }, (_, i) => i).filter((i) => !seen.counts.has(i));
  const duplicated = [...seen.counts].filter(([, c]) => c !== 1).map(([i]) => i);
  expect({ lost, duplicated }).toEqual({ lost: [], duplicated: [] });
  expect(seen.order).toEqual(Array.from({ length: n }, (_, i) => i));
}

describe('client failover between two daemons', () => {
  it('kill -9 of the daemon in use mid-map: the batch completes on the other, every result once and in order; a subscription carries on', async () => {
    await using a = await pairDaemon();
    await using b = await pairDaemon();
    const client = await connect([a.url, b.url], { token, reconnectTimeoutMs: 30_000 });
    try {
      expect(client.url).toBe(a.url);
      const seenValues: unknown[] = [];
      const stop = client.value<number>('shared').subscribe((v) => seenValues.push(v));
      const n = 400;
      const seen = await streamAcross(client, n, () => a.kill());
      expectExactlyOnceInOrder(n, seen);
      expect(client.url).toBe(b.url);
      expect((await b.status()).itemsDone).toBeGreaterThan(0);
      // The subscription moved with the client: a change made at B reaches it.
      const other = await b.connect();
      await other.value<number>('shared').set(42);
      await until(() => seenValues.includes(42), 10_000, 'the push from the second daemon');
      stop();
      expect(await client.map((x: number) => x + 1, [1, 2, 3])).toEqual([2, 3, 4]);
    } finally {
      await client.close();
    }
  });

  it('`corepool daemon stop` of the daemon in use mid-map: the client moves on and the map completes, every result once and in order', async () => {
    await using a = await pairDaemon();
    await using b = await pairDaemon();
    const client = await connect([a.url, b.url], { token, reconnectTimeoutMs: 30_000 });
    try {
      const n = 400;
      // A task that runs until the test lets it go holds the stopping daemon open (it finishes its running
      // chunks before it closes): a submit made in that window is refused there (E_SHUTTING_DOWN) and
      // opened on the next daemon instead of failing.
      const started = join(dir, 'hold-started');
      const release = join(dir, 'hold-release');
      let hold: Promise<string> | undefined;
      let late: Promise<number> | undefined;
      const seen = await streamAcross(client, n, async () => {
        hold = client.submit(
          (p: { started: string; release: string }) => {
            const fs = process.getBuiltinModule('node:fs');
            fs.writeFileSync(p.started, '');
            while (!fs.existsSync(p.release)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
            return 'held';
          },
          { started, release },
        );
        await until(() => existsSync(started), 10_000, 'the holding task running');
        // `daemon stop` returns once the daemon has exited: it is awaited after the release.
        const cli = spawn(process.execPath, [CLI, 'daemon', 'stop', '--data-dir', a.dataDir, '--token-file', tokenFile], {
          stdio: 'ignore',
          env: { ...process.env, COREPOOL_TOKEN: '', COREPOOL_URL: '' },
        });
        const exited = new Promise((r) => cli.once('exit', r));
        await until(() => a.events('stopping').length > 0, 20_000, 'the daemon stopping');
        expect(client.url).toBe(a.url);
        late = client.submit((x: number) => x * 10, 7);
        // The batch's open leaves within this turn; a status asked after it is answered after the refusal.
        await new Promise((r) => setImmediate(r));
        await client.status();
        writeFileSync(release, '');
        expect(await exited).toBe(0);
        expect(await a.stop()).toBe(0);
      });
      expectExactlyOnceInOrder(n, seen);
      expect(await hold).toBe('held');
      expect(await late).toBe(70);
      expect(client.url).toBe(b.url);
      expect((await b.status()).itemsDone).toBeGreaterThan(0);
    } finally {
      await client.close();
    }
  });

  it('a list whose first daemon is dead connects to the next; so does COREPOOL_URL with a list', async () => {
    await using b = await pairDaemon();
    const dead = `ws://127.0.0.1:${await freePort()}`;
    const first = await connect([dead, b.url], { token });
    try {
      expect(first.url).toBe(b.url);
      expect(await first.map((x: number) => x * 3, [1, 2])).toEqual([3, 6]);
    } finally {
      await first.close();
    }
    const saved = process.env.COREPOOL_URL;
    process.env.COREPOOL_URL = ` ${dead} , ${b.url} `;
    try {
      const viaEnv = await connect({ token });
      try {
        expect(viaEnv.url).toBe(b.url);
        expect(await viaEnv.submit((x: number) => x - 1, 5)).toBe(4);
      } finally {
        await viaEnv.close();
      }
    } finally {
      if (saved === undefined) delete process.env.COREPOOL_URL;
      else process.env.COREPOOL_URL = saved;
    }
    // Nothing answers anywhere: one E_CONNECTION naming every URL tried.
    const other = `ws://127.0.0.1:${await freePort()}`;
    const err = await connect([dead, other], { token }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'E_CONNECTION' });
    expect((err as Error).message).toContain(dead);
    expect((err as Error).message).toContain(other);
  });

  it('bad lists are refused with E_BAD_ARGUMENT before anything connects', async () => {
    const bad: [unknown, string?][] = [[[]], [['http://127.0.0.1:7420']], [['ws://127.0.0.1:7420', 42]], [['ws://']], [[' ']]];
    for (const [urls] of bad) {
      const err = await connect(urls as string[], { token }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'E_BAD_ARGUMENT' });
    }
    const saved = process.env.COREPOOL_URL;
    try {
      for (const env of ['ws://127.0.0.1:1,http://127.0.0.1:2', ' , ']) {
        process.env.COREPOOL_URL = env;
        const err = await connect({ token }).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'E_BAD_ARGUMENT' });
        expect((err as Error).message).toContain('COREPOOL_URL');
      }
    } finally {
      if (saved === undefined) delete process.env.COREPOOL_URL;
      else process.env.COREPOOL_URL = saved;
    }
    // spawn starts one local daemon: not for a list, nor for another host.
    const spawnList = await connect(['ws://127.0.0.1:1', 'ws://127.0.0.1:2'], { token, spawn: true }).catch((e: unknown) => e);
    expect(spawnList).toMatchObject({ code: 'E_BAD_ARGUMENT' });
    expect((spawnList as Error).message).toMatch(/one URL, not a list/);
    const spawnRemote = await connect('ws://10.1.2.3:7420', { token, spawn: true }).catch((e: unknown) => e);
    expect(spawnRemote).toMatchObject({ code: 'E_BAD_ARGUMENT' });
  });
});
