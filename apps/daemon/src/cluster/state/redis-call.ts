/**
 * redis-call.ts - one plain Redis command of the state (a read), binary-safe
 * (Buffer replies), its failure turned into a coded error like a script's.
 */
import type { Redis } from 'ioredis';

import { storeError } from './redis-errors.js';

export async function redisCall(redis: Redis, command: string, ...args: (string | number)[]): Promise<unknown> {
  try {
    return await redis.callBuffer(command, ...args);
  } catch (err) {
    throw storeError(err);
  }
}
