/**
 * dict.keys() and dict.entries() in cluster mode, read a page at a time: the
 * same replies as one read (insertion order, values past a page's bytes), one
 * instant of the dict while another daemon writes it, E_TOO_LARGE past what a
 * reply may carry, E_UNAVAILABLE for a large dict that never stops changing;
 * and the co-tenant case that made every daemon lose its lease: one app with
 * 256 reads of a 100,000-key dict in flight, beside a neighbour whose reads are
 * served between its pages and daemons that keep their leases.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { clusterName, dropCluster, MACHINE_REDIS } from '../support/redis.js';
import { StateKeys } from '../../src/cluster/state/state-keys.js';
import { closeSide, code, dec, enc, req, side, type Side } from './state-helpers.js';

const name = clusterName('dict-walks');
let a: Side;
let b: Side;
let admin: Redis;
let keys: StateKeys;

beforeAll(async () => {
  a = await side(MACHINE_REDIS, name);
  b = await side(MACHINE_REDIS, name);
  admin = new Redis(MACHINE_REDIS);
  keys = new StateKeys(a.node.prefix);
});
afterAll(async () => {
  admin.disconnect();
  await closeSide(a);
  await closeSide(b);
  await dropCluster(MACHINE_REDIS, name);
});

/** Writes a dict of `n` keys straight into Redis, as dict.set would leave it (far faster for large ones). */
async function bigDict(dict: string, n: number, value = enc(1)): Promise<string[]> {
  const all: string[] = [];
  for (let i = 0; i < n; i += 5_000) {
    const p = admin.pipeline();
    for (let j = i; j < Math.min(n, i + 5_000); j++) {
      const key = `key-${j}`;
      all.push(key);
      p.hset(keys.dict(dict), key, Buffer.from(value));
      p.zadd(keys.dictOrder(dict), j + 1, key);
    }
    await p.exec();
  }
  await admin.hset(keys.dictMeta(dict), 'ver', n, 'seq', n, 'born', await admin.hincrby(keys.stat, 'born', 1));
  return all;
}

describe('dict walks', () => {
  it('read a dict of many pages whole, in insertion order, from either daemon', async () => {
    const all = await bigDict('many', 4_500);
    expect(await a.state.handle('c:1', req('dict.keys', 'many'))).toEqual(all);
    const entries = (await b.state.handle('c:1', req('dict.entries', 'many'))) as [string, Uint8Array][];
    expect(entries.map(([k]) => k)).toEqual(all);
    expect(entries.every(([, v]) => dec(v) === 1)).toBe(true);
  });

  it('read values larger than a page, one or a few a page', async () => {
    const big = 'v'.repeat(300_000);
    for (let i = 0; i < 3; i++) await a.state.handle('c:1', req('dict.set', 'wide', { key: `k${i}`, a: enc(`${i}${big}`) }));
    const entries = (await b.state.handle('c:1', req('dict.entries', 'wide'))) as [string, Uint8Array][];
    expect(entries.map(([k, v]) => [k, (dec(v) as string).slice(0, 1), (dec(v) as string).length])).toEqual(
      [0, 1, 2].map((i) => [`k${i}`, String(i), big.length + 1]),
    );
    expect(await b.state.handle('c:1', req('dict.keys', 'absent'))).toEqual([]);
    expect(await b.state.handle('c:1', req('dict.entries', 'absent'))).toEqual([]);
  });

  it('give one instant of a dict another daemon keeps changing: never a key twice or one too many', async () => {
    // 3,000 keys; the writer deletes the oldest and adds a newer one, again and again: the dict
    // always holds 3,000, but a walk that did not start over would see a key added after its
    // start at the end and the deleted one at the front (3,001).
    const n = 3_000;
    for (let i = 0; i < n; i += 500) {
      await Promise.all(
        [...Array(500).keys()].map((j) => a.state.handle('c:w', req('dict.set', 'turning', { key: `t${i + j}`, a: enc(i + j) }))),
      );
    }
    let stop = false;
    const writer = (async () => {
      for (let i = n; !stop; i++) {
        await a.state.handle('c:w', req('dict.set', 'turning', { key: `t${i}`, a: enc(i) }));
        await a.state.handle('c:w', req('dict.delete', 'turning', { key: `t${i - n}` }));
      }
    })();
    try {
      for (let round = 0; round < 15; round++) {
        const got = (await b.state.handle('c:r', req('dict.keys', 'turning'))) as string[];
        expect(new Set(got).size).toBe(got.length);
        // Between the writer's set and its delete the dict holds one more.
        expect([n, n + 1]).toContain(got.length);
        const entries = (await b.state.handle('c:r', req('dict.entries', 'turning'))) as [string, Uint8Array][];
        expect([n, n + 1]).toContain(entries.length);
        for (const [k, v] of entries) expect(`t${dec(v) as number}`).toBe(k);
      }
    } finally {
      stop = true;
      await writer;
    }
  });

  it('fail with E_TOO_LARGE past what a reply may carry, and E_UNAVAILABLE for a large dict that never stops changing', async () => {
    const small = await side(MACHINE_REDIS, name, { maxValueBytes: 64 * 1024 });
    try {
      await bigDict('over', 10_000);
      expect(await code(small.state.handle('c:1', req('dict.keys', 'over')))).toBe('E_TOO_LARGE');
      expect(await code(small.state.handle('c:1', req('dict.entries', 'over')))).toBe('E_TOO_LARGE');
    } finally {
      await closeSide(small);
    }
    await bigDict('busy', 25_000);
    let stop = false;
    const writer = (async () => {
      for (let i = 0; !stop; i++) await a.state.handle('c:w', req('dict.set', 'busy', { key: `new-${i}`, a: enc(i) }));
    })();
    try {
      expect(await code(b.state.handle('c:1', req('dict.keys', 'busy')))).toBe('E_UNAVAILABLE');
    } finally {
      stop = true;
      await writer;
    }
    // Once it is quiet it reads whole.
    expect(((await b.state.handle('c:1', req('dict.keys', 'busy'))) as string[]).length).toBeGreaterThan(25_000);
  });

  it("serve a neighbour's reads between the pages of an app with 256 reads of a 100,000-key dict in flight; every daemon keeps its lease", async () => {
    await bigDict('huge', 100_000);
    await a.state.handle('n:1', req('dict.set', 'mine', { key: 'x', a: enc(1) }));
    let lost = 0;
    const watch = setInterval(() => {
      if (!a.node.held() || !b.node.held()) lost++;
    }, 20);
    const done: string[] = [];
    const hostile = [...Array(256).keys()].map((i) =>
      a.state.handle('h:1', req('dict.keys', 'huge')).then(
        (got) => {
          expect((got as string[]).length).toBe(100_000);
          done.push(`h${i}`);
        },
        (err: unknown) => done.push(`h${i}:${String((err as { code?: string }).code)}`),
      ),
    );
    try {
      await new Promise((r) => setTimeout(r, 5));
      // Served after at most a page of each other owner walking, not after the 256 reads.
      for (let i = 0; i < 5; i++) {
        expect(await a.state.handle('n:1', req('dict.keys', 'mine'))).toEqual(['x']);
        expect(await a.state.handle('n:1', req('dict.entries', 'mine'))).toHaveLength(1);
        done.push(`n${i}`);
      }
      expect(done.filter((d) => d.startsWith('h')).length).toBeLessThan(10);
      // The app went: its walks still waiting fail at once, and the one running stops at its next page.
      a.state.releaseOwner('h:1');
      await Promise.all(hostile);
      expect(done.filter((d) => d.endsWith(':E_CANCELLED')).length).toBeGreaterThan(240);
    } finally {
      clearInterval(watch);
    }
    expect(lost).toBe(0);
    expect(await b.state.handle('c:1', req('value.add', 'after', { a: enc(1) }))).toMatchObject({ version: 1 });
  }, 60_000);
});
