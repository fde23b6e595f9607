/**
 * Helpers of the Redis state store tests: two "daemons" in one process (two
 * memberships of one cluster, each with its own RedisState), requests written
 * as the SDK sends them, and outcomes read as codes.
 */
import { afterAll, beforeAll } from 'vitest';
import { Redis } from 'ioredis';
import { encodeData, decodeData, type Push, type StateRequest } from '@corepool/protocol/internal';
import { clusterName, dropCluster, MACHINE_REDIS } from '../support/redis.js';
import { Membership } from '../../src/cluster/membership.js';
import { RedisState, type RedisStateOptions } from '../../src/cluster/state/redis-state.js';

/** One daemon's side: its membership, its store, and the pushes its owners got. */
export interface Side {
  node: Membership;
  state: RedisState;
  pushes: { owner: string; push: Push }[];
}

/** Joins cluster `name` on `redisUrl` and opens a store on it. */
export async function side(redisUrl: string, name: string, opts: Partial<RedisStateOptions> = {}): Promise<Side> {
  const node = await Membership.join({ redisUrl, name, info: () => ({}) });
  const state = await RedisState.open({ node, maxValueBytes: 1024 * 1024, pollMs: 200, ...opts });
  const s: Side = { node, state, pushes: [] };
  state.onPush = (owner, push) => s.pushes.push({ owner, push });
  return s;
}

/** Two sides of a fresh cluster on the machine's Redis and a plain Redis client, for a whole test file. */
export interface Pair {
  name: string;
  a: Side;
  b: Side;
  admin: Redis;
}

/** Sets up a Pair before the file's tests and tears it down (keys deleted) after them. */
export function usePair(label: string, set: (p: Pair) => void): void {
  const name = clusterName(label);
  let p: Pair | undefined;
  beforeAll(async () => {
    p = { name, a: await side(MACHINE_REDIS, name), b: await side(MACHINE_REDIS, name), admin: new Redis(MACHINE_REDIS) };
    set(p);
  });
  afterAll(async () => {
    if (p !== undefined) {
      p.admin.disconnect();
      await closeSide(p.a);
      await closeSide(p.b);
    }
    await dropCluster(MACHINE_REDIS, name);
  });
}

/** Closes a side's store and leaves its cluster. */
export async function closeSide(s: Side): Promise<void> {
  await s.state.close();
  await s.node.leave();
}

export const enc = (v: unknown): Uint8Array => encodeData(v);
export const dec = (b: unknown): unknown => decodeData(b as Uint8Array);

/** A state request. */
export function req(op: StateRequest['op'], name: string, extra: Partial<StateRequest> = {}): StateRequest {
  return { op, name, ...extra } as StateRequest;
}

/** The code a promise rejects with ('ok' if it resolves). */
export async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    return String((err as { code?: unknown }).code ?? (err as Error).message);
  }
}
