// redis.js - the bench's Redis connections (REDIS_URL, default
// redis://127.0.0.1:6379): a fail-fast ioredis connection, a fresh cluster
// name per run and the deletion of its keys, and the two INFO figures the
// cluster scenario reads (commands executed, server CPU).

import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * A connection that fails fast instead of retrying forever when Redis is down.
 * @returns {Promise<Redis>}
 */
export async function connectRedis(url = REDIS_URL) {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 1,
    retryStrategy: () => null,
  });
  redis.on('error', () => {}); // surfaced through the rejected command instead
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new Error(`Redis at ${url} unreachable: ${err.message}`, { cause: err });
  }
  return redis;
}

/** A cluster name no other run uses: `bench-<random>`. */
export function freshClusterName(prefix = 'bench') {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/**
 * Deletes every key of cluster `name` (`cp:{name}:*`, docs/cluster.md); returns how many.
 * Never throws: cleanup must not hide the error that led to it.
 */
export async function deleteClusterKeys(name, url = REDIS_URL) {
  let redis;
  let deleted = 0;
  try {
    redis = await connectRedis(url);
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `cp:{${name}}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    } while (cursor !== '0');
  } catch {
    /* Redis gone: nothing left to delete there */
  } finally {
    redis?.disconnect();
  }
  return deleted;
}

/**
 * What the server has done since its start, from one INFO call: commands executed
 * (commandstats, the sum of calls=, this INFO itself not yet counted) and CPU seconds
 * (used_cpu_sys + used_cpu_user). Server-wide: every client of that Redis counts.
 * @returns {Promise<{ calls: number, cpuS: number }>}
 */
export async function redisStats(redis) {
  const text = String(await redis.call('INFO', 'commandstats', 'cpu'));
  let calls = 0;
  for (const m of text.matchAll(/calls=(\d+)/g)) calls += Number(m[1]);
  const sys = Number(/used_cpu_sys:([\d.]+)/.exec(text)?.[1]);
  const user = Number(/used_cpu_user:([\d.]+)/.exec(text)?.[1]);
  return { calls, cpuS: sys + user };
}
