/**
 * The trim of a daemon's own `held:<id>` list (orphan-sweep.ts, TRIM), on the script itself
 * against the machine's Redis under a cluster name of this test's own. A line names a kept
 * queue item (`<rid>\n<rep key>` -> the queue's name) that goes back to its queue should the
 * daemon die; it stays only while the kept reply does and names this daemon. A client that
 * never acknowledges lets its kept replies lapse after ten minutes, and their lines stayed
 * for the life of the daemon.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { TRIM } from '../../src/cluster/state/orphan-sweep.js';
import { clusterName, dropCluster, MACHINE_REDIS } from '../support/redis.js';

const name = clusterName('held-trim');
const prefix = `cp:{${name}}:`;
const self = 'host:1:daemon';
const held = `${prefix}held:${self}`;
const rep = `${prefix}rep:instance-1`;
let redis: Redis;

beforeAll(() => {
  redis = new Redis(MACHINE_REDIS);
});
afterAll(async () => {
  redis.disconnect();
  await dropCluster(MACHINE_REDIS, name);
});

it("drops the lines whose kept reply lapsed or went to another daemon's owner, keeps the rest, a page a call", async () => {
  // 1,000 lines: 1..400 still kept by this daemon's owner, 401..700 lapsed, 701..1000 resent through another daemon.
  const lines: string[] = [];
  const kept: string[] = [];
  for (let rid = 1; rid <= 1_000; rid++) {
    lines.push(`${rid}\n${rep}`, 'jobs');
    if (rid <= 400) kept.push(String(rid), 'item', `h:${rid}`, `${self}/c:1`);
    else if (rid > 700) kept.push(String(rid), 'item', `h:${rid}`, 'host:2:daemon/c:7');
  }
  await redis.hset(held, ...lines);
  await redis.hset(rep, ...kept);
  let cursor = '0';
  let calls = 0;
  do {
    cursor = String(await redis.eval(TRIM, 1, held, cursor, 100, `${self}/`));
    calls++;
  } while (cursor !== '0' && calls < 100);
  expect(calls).toBeGreaterThan(1);
  const left = Object.keys(await redis.hgetall(held)).map((f) => Number(f.split('\n')[0]));
  expect(left.sort((a, b) => a - b)).toEqual(Array.from({ length: 400 }, (_, i) => i + 1));
  // The kept replies themselves are not the trim's business.
  expect(await redis.hlen(rep)).toBe(1_400);
});
