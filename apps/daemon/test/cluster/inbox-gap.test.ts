/**
 * An owner slow to read its inbox while more than INBOX_MAXLEN (10,000) entries come for it: past
 * that, XADD's MAXLEN trims the oldest unread entries, and a lent chunk's `done` among them hung its
 * batch. The owner must see the gap and repair it (docs/cluster.md, "How a chunk flows between
 * daemons"): every item gets exactly one result.
 *
 * The flood is the burst of reports many lent workers make (a `started` per item of a timed batch,
 * one per round trip each), which grows with the lent workers; on this 2-core machine four of them
 * wrote ~2,000 entries into an owner stopped 1.8 s, short of the bound. So the test stops the owner's primary
 * (under its 3 s lease), lets the lent chunks' `done`s arrive, writes the burst's entries itself
 * the way the `report` script does (XADD MAXLEN ~ 10,000, kinds the owner ignores), and resumes it.
 * The second case trims the `grant`s a lender made while the owner was stopped: the lender's workers
 * must not stay lent to an owner that never heard of them.
 * Serial: it stops a daemon.
 */
import { describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { startCluster } from '../support/cluster.js';
import { figure } from '../support/figures.js';
import { until } from '../support/wait.js';
import { INBOX_MAXLEN } from '../../src/cluster/lending-scripts.js';

/** Rejects after `ms`: a batch hung by a lost `done` fails the test with its name. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no result in ${ms} ms`)), ms)));
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

describe('an owner’s inbox past its bound', () => {
  it('entries trimmed unread from a stalled owner’s inbox are detected and repaired: every item one result, the lender’s own app unharmed', async () => {
    await using c = await startCluster(1, { workers: 1 });
    const a = c.daemons[0]!;
    const b = await c.add({ workers: 3 });
    await c.untilMembers(2);
    const r = new Redis(c.redisUrl);
    const inbox = `cp:{${c.name}}:inbox:${(await a.status()).cluster!.id}`;
    try {
      const app = await a.connect();
      const nap = (x: number): number => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 150);
        return x;
      };
      const napped = app.map(
        nap,
        Array.from({ length: 60 }, (_, i) => i),
        // No retry: a chunk ended by the repair is no crash of its item, and must not fail as one.
        { chunkSize: 1, retries: 0 },
      );
      // B's own app, beside: its adds must go on through all of it.
      const local = await b.connect();
      const counter = local.value<number>('beside', { initial: 0 });
      await until(() => a.events('cluster-borrowed').length >= 3, 15_000, 'A borrowing B’s workers');
      a.proc.kill('SIGSTOP');
      // The lent chunks (two a worker, 150 ms each) finish and say `done` into the unread inbox.
      await until(async () => (await r.xlen(inbox)) >= 3, 2_000, 'done reports in A’s inbox');
      await new Promise((res) => setTimeout(res, 400));
      const pipe = r.pipeline();
      for (let i = 0; i < INBOX_MAXLEN + 500; i++) pipe.xadd(inbox, 'MAXLEN', '~', INBOX_MAXLEN, '*', 't', 'rep', 'f', 'burst', 'n', 0);
      await pipe.exec();
      const inboxMost = await r.xlen(inbox);
      a.proc.kill('SIGCONT');
      let adds = 0;
      const out = await within(napped, 30_000, 'the batch whose done was trimmed');
      for (let i = 0; i < 20; i++) adds = await counter.add(1);
      expect(out).toEqual(Array.from({ length: 60 }, (_, i) => i));
      expect(adds).toBe(20);
      // The stop stayed under the lease: what is checked is the inbox, not a lease lost.
      expect(a.events('cluster-lease-lost')).toEqual([]);
      expect(a.events('cluster-inbox-gap').length).toBeGreaterThanOrEqual(1);
      figure('inboxGap', { inboxMost, gaps: a.events('cluster-inbox-gap') });
    } finally {
      r.disconnect();
    }
  });

  it('a grant trimmed from a stalled owner’s inbox does not keep the lender’s worker: it ends unused and serves again', async () => {
    await using c = await startCluster(1, { workers: 1 });
    const a = c.daemons[0]!;
    const b = await c.add({ workers: 2 });
    await c.untilMembers(2);
    const r = new Redis(c.redisUrl);
    const inbox = `cp:{${c.name}}:inbox:${(await a.status()).cluster!.id}`;
    try {
      const nap = (ms: number): number => {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
        return ms;
      };
      // B's own batch holds both its workers first, so nothing is lent yet.
      const local = await b.connect();
      const own = local.map(nap, [1_200, 1_200], { chunkSize: 1 });
      await until(async () => (await b.status()).workers.filter((w) => w.busy).length === 2, 10_000, 'B busy with its own batch');
      const app = await a.connect();
      const napped = app.map(
        nap,
        Array.from({ length: 30 }, () => 100),
        { chunkSize: 1 },
      );
      await until(async () => (await a.status()).runningItems > 0, 10_000, 'A running its batch');
      await until(async () => Object.keys(await r.hgetall(`cp:{${c.name}}:want`)).length > 0, 5_000, 'A’s demand published');
      // A stalls; B's own batch ends and B grants its idle workers to A's demand: the grants wait in A's inbox.
      a.proc.kill('SIGSTOP');
      expect(await own).toEqual([1_200, 1_200]);
      await until(async () => (await r.xlen(inbox)) >= 2, 2_000, 'grants in A’s inbox');
      const pipe = r.pipeline();
      for (let i = 0; i < INBOX_MAXLEN + 500; i++) pipe.xadd(inbox, 'MAXLEN', '~', INBOX_MAXLEN, '*', 't', 'rep', 'f', 'burst', 'n', 0);
      await pipe.exec();
      a.proc.kill('SIGCONT');
      expect(await within(napped, 30_000, 'A’s batch')).toEqual(Array.from({ length: 30 }, () => 100));
      expect(a.events('cluster-lease-lost')).toEqual([]);
      // Lent to an owner that never heard of them, B's workers come back; before, they stayed lent (busy) for good.
      await until(async () => (await b.status()).workers.filter((w) => w.busy).length === 0, 15_000, 'B’s workers back');
      expect(await local.map(nap, [10, 10], { chunkSize: 1 })).toEqual([10, 10]);
    } finally {
      r.disconnect();
    }
  });
});
