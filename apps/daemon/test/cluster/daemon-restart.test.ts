/**
 * Daemons of a cluster stopped with `corepool daemon stop`, restarted
 * on the same data dir and port, or killed -9. A lender stopped mid-batch: the
 * owner's results arrive once each. A restart joins as a new incarnation and
 * the others' status drops the old one within seconds. A daemon gone (stopped
 * or killed) leaves nothing of its incarnation in Redis once it is reaped:
 * its inbox, its grants, its lease and status record.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { startCluster } from '../support/cluster.js';
import { CLI } from '../support/daemon.js';
import { rawMap } from '../support/raw-map.js';
import { executions, sleeperSource } from '../support/sleeper.js';
import { until } from '../support/wait.js';
import { scanKeys } from '../support/redis.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'corepool-cluster-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The keys of cluster `name` that name incarnation `id`, and `att` fields of it. */
async function keysOf(url: string, name: string, id: string): Promise<string[]> {
  const r = new Redis(url, { maxRetriesPerRequest: 1 });
  try {
    const out = (await scanKeys(r, `cp:{${name}}:*`)).filter((k) => k.includes(id));
    for (const f of await r.hkeys(`cp:{${name}}:att`)) if (f.startsWith(id)) out.push(`att field ${f}`);
    if ((await r.zscore(`cp:{${name}}:members`, id)) !== null) out.push('members entry');
    return out;
  } finally {
    r.disconnect();
  }
}

describe('review: stop, restart and kill of cluster daemons', () => {
  it('`corepool daemon stop` of a lender mid-batch: every result once; its incarnation leaves nothing in Redis', async () => {
    await using c = await startCluster(2, { workers: 2 });
    const [owner, lender] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const lenderId = (await lender.status()).cluster!.id;
    const log = join(dir, 'stop.log');
    const sock = await owner.raw({ hello: true });
    const items = Array.from({ length: 24 }, (_, i) => i);
    const out = rawMap(sock, sleeperSource(log, 400), items, { chunkSize: 1, settleMs: 500, deadlineMs: 50_000 });
    await until(async () => (await lender.status()).workers.some((w) => w.busy), 15_000, 'the lender lending');
    await run(process.execPath, [CLI, 'daemon', 'stop', '--url', lender.url, '--token-file', c.tokenFile]);
    await until(() => lender.proc.exitCode !== null, 30_000, 'the lender exited');
    const outcomes = await out;
    expect(outcomes.length).toBe(items.length);
    for (const [i, o] of outcomes) expect(o.ok && (o.value as number[])[0]).toBe(i);
    expect(executions(log).size).toBe(items.length);
    await until(
      async () => (await owner.status()).cluster!.daemons.every((d) => d.id !== lenderId),
      15_000,
      'the stopped lender gone from status',
    );
    let left: string[] = [];
    await until(
      async () => (left = await keysOf(c.redisUrl, c.name, lenderId)).length === 0,
      15_000,
      'no key of the stopped incarnation',
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}: ${JSON.stringify(left)}`);
    });
  });

  it('a daemon restarted on the same data dir and port joins as a new incarnation; a killed one is reaped and leaves nothing in Redis', async () => {
    await using c = await startCluster(2, { workers: 1 });
    const [a, b] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    await c.untilMembers(2);
    const oldId = (await b.status()).cluster!.id;
    // b's data dir is removed by its dispose: restart on a copy of the same path, kept.
    await b.stop();
    const b2 = await c.add({ port: b.port, dataDir: b.dataDir, keepDataDir: true });
    const newId = (await b2.status()).cluster!.id;
    expect(newId).not.toBe(oldId);
    expect(b2.url).toBe(b.url);
    await until(
      async () => {
        const ds = (await a.status()).cluster!.daemons;
        return ds.some((d) => d.id === newId && d.alive) && ds.every((d) => d.id !== oldId);
      },
      15_000,
      'a’s status: the new incarnation, not the old',
    );
    // A client of a still works through the cluster with b2 in it.
    const client = await a.connect();
    expect(await client.map((x: number) => x * 2, [1, 2, 3], { chunkSize: 1 })).toEqual([2, 4, 6]);
    // kill -9 of b2: a's status drops it once its lease lapses and it is reaped; its keys go.
    await b2.kill();
    await until(
      async () => (await a.status()).cluster!.daemons.every((d) => d.id !== newId),
      20_000,
      'the killed incarnation gone from status',
    );
    let left: string[] = [];
    await until(
      async () => (left = await keysOf(c.redisUrl, c.name, newId)).length === 0,
      15_000,
      'no key of the killed incarnation',
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}: ${JSON.stringify(left)}`);
    });
    rmSync(b.dataDir, { recursive: true, force: true });
  });

  it('an owner killed -9 while its chunks run on a lender: the lender gets its workers back and nothing of the owner stays in Redis', async () => {
    await using c = await startCluster(2, { workers: 2 });
    const [lender, owner] = c.daemons as [(typeof c.daemons)[0], (typeof c.daemons)[0]];
    const ownerId = (await owner.status()).cluster!.id;
    const sock = await owner.raw({ hello: true });
    const src = sleeperSource(join(dir, 'owner-killed.log'), 1_000);
    void rawMap(
      sock,
      src,
      Array.from({ length: 30 }, (_, i) => i),
      { chunkSize: 1, deadlineMs: 30_000 },
    ).catch(() => {});
    await until(async () => (await lender.status()).workers.every((w) => w.busy), 15_000, 'the lender lending');
    await owner.kill();
    await until(
      async () => {
        const w = (await lender.status()).workers;
        return w.length === 2 && w.every((x) => !x.busy);
      },
      20_000,
      'the lender’s workers back',
    );
    let left: string[] = [];
    await until(async () => (left = await keysOf(c.redisUrl, c.name, ownerId)).length === 0, 20_000, 'no key of the killed owner').catch(
      (err: unknown) => {
        throw new Error(`${String(err)}: ${JSON.stringify(left)}`);
      },
    );
  });
});
