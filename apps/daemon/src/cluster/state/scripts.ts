/**
 * scripts.ts - running the state's Lua scripts: EVALSHA, and EVAL once when
 * Redis does not know the script yet (a restarted or flushed Redis forgets
 * them), with binary-safe arguments and replies (Buffers), and every failure
 * turned into a coded error (redis-errors.ts). Each operation is one script,
 * so Redis runs it alone and replicates and persists it as one unit.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

import { storeError } from './redis-errors.js';

/** A script argument: Uint8Arrays are passed as bytes, without a copy. */
export type ScriptArg = string | number | Uint8Array;

/** One Lua script, by its source and SHA-1. */
export class Script {
  readonly lua: string;
  readonly sha: string;

  constructor(lua: string) {
    this.lua = lua;
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** Runs the script on `redis`; rejects with a CorepoolError (E_UNAVAILABLE when Redis cannot be reached). */
  async run(redis: Redis, keys: readonly string[], args: readonly ScriptArg[]): Promise<unknown> {
    const rest = [keys.length, ...keys, ...args.map(toArg)];
    try {
      try {
        return await redis.callBuffer('EVALSHA', this.sha, ...rest);
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
        return await redis.callBuffer('EVAL', this.lua, ...rest);
      }
    } catch (err) {
      throw storeError(err);
    }
  }
}

function toArg(a: ScriptArg): string | number | Buffer {
  if (typeof a === 'string' || typeof a === 'number') return a;
  return Buffer.isBuffer(a) ? a : Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}
