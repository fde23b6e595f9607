/**
 * The Redis state store when Redis itself goes: redis-servers of this test's
 * own. Stopped: every request fails at once with E_UNAVAILABLE and nothing is
 * acknowledged. Restarted with `appendonly yes, appendfsync always`: values,
 * queues, dicts, kept replies and the fencing counter are as acknowledged.
 * Restarted empty: every subscriber gets a resync push, the store works
 * again once the daemon is back in the cluster, and no fencing token repeats.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import type { Push } from '@corepool/protocol/internal';
import type { ReplayKey } from '../../src/state/state-store.js';
import { clusterName, startRedis, stopAllRedis } from '../support/redis.js';
import { until } from '../support/wait.js';
import { closeSide, code, dec, enc, req, side, type Side } from './state-helpers.js';

afterAll(() => stopAllRedis());

const AOF = ['--save', '', '--appendonly', 'yes', '--appendfsync', 'always'];

describe('Redis stopped', () => {
  it('fails every request at once with E_UNAVAILABLE, acknowledges nothing, and works again when it is back', async () => {
    const redis = await startRedis(AOF);
    const name = clusterName('state-down');
    const a = await side(redis.url, name);
    try {
      await a.state.handle('c:1', req('value.set', 'v', { a: enc(1) }));
      await a.state.handle('c:1', req('queue.put', 'q', { a: enc('kept') }));
      const parked = code(a.state.handle('c:2', req('queue.get', 'empty', { timeoutMs: 60_000 })));
      await until(() => a.state.counts().blockedGets === 1, 10_000, 'a parked get');
      await redis.kill();
      const ops = [
        req('value.get', 'v'),
        req('value.set', 'v', { a: enc(2) }),
        req('value.add', 'v', { a: enc(1) }),
        req('value.cas', 'v', { a: enc(1), b: enc(3) }),
        req('value.subscribe', 'v'),
        req('queue.put', 'q', { a: enc('lost') }),
        req('queue.get', 'q'),
        req('queue.size', 'q'),
        req('dict.set', 'd', { key: 'k', a: enc(1) }),
        req('dict.entries', 'd'),
        req('lock.acquire', 'L'),
      ];
      for (const r of ops)
        expect(`${r.op} ${await code(a.state.handle('c:1', r, ['inst', 1] as ReplayKey))}`).toBe(`${r.op} E_UNAVAILABLE`);
      await redis.restart();
      await until(() => a.node.held(), 20_000, 'the daemon back in the cluster');
      // Nothing of what failed was applied; the parked get still waits.
      expect(dec(((await a.state.handle('c:1', req('value.get', 'v'))) as { value: Uint8Array }).value)).toBe(1);
      expect(await a.state.handle('c:1', req('queue.size', 'q'))).toBe(1);
      expect(await a.state.handle('c:1', req('dict.size', 'd'))).toBe(0);
      await a.state.handle('c:1', req('queue.put', 'empty', { a: enc('late') }));
      expect(await parked).toBe('ok');
    } finally {
      await closeSide(a);
    }
  });
});

describe('Redis restarted with AOF', () => {
  it('keeps values, queues, dicts, kept replies and the fencing counter as acknowledged', async () => {
    const redis = await startRedis(AOF);
    const name = clusterName('state-aof');
    let a = await side(redis.url, name);
    let b = await side(redis.url, name);
    try {
      const key: ReplayKey = ['inst-aof', 3];
      await a.state.handle('c:1', req('value.add', 'n', { a: enc(41n) }));
      const added = await b.state.handle('c:1', req('value.add', 'n', { a: enc(1n) }), key);
      await a.state.handle('c:1', req('queue.put', 'q', { a: enc('one') }));
      await b.state.handle('c:1', req('queue.put', 'q', { a: enc('two') }));
      await a.state.handle('c:1', req('dict.set', 'd', { key: 'k', a: enc({ deep: [1] }) }));
      const t1 = ((await a.state.handle('c:1', req('lock.acquire', 'L'))) as { token: number }).token;
      await a.state.handle('c:1', req('lock.release', 'L', { token: t1 }));

      await redis.kill();
      await redis.restart();
      await closeSide(a);
      await closeSide(b);
      a = await side(redis.url, name);
      b = await side(redis.url, name);

      const n = (await b.state.handle('c:1', req('value.get', 'n'))) as { version: number; value: Uint8Array };
      expect([n.version, dec(n.value)]).toEqual([2, 42n]);
      // The resend of the acknowledged add is answered, not applied again.
      expect(await a.state.handle('c:9', req('value.add', 'n', { a: enc(1n) }), key)).toEqual(added);
      expect(dec(((await a.state.handle('c:1', req('value.get', 'n'))) as { value: Uint8Array }).value)).toBe(42n);
      expect(dec(await a.state.handle('c:1', req('queue.get', 'q')))).toBe('one');
      expect(dec(await b.state.handle('c:1', req('queue.get', 'q')))).toBe('two');
      expect(dec(await b.state.handle('c:1', req('dict.get', 'd', { key: 'k' })))).toEqual({ deep: [1] });
      const t2 = ((await b.state.handle('c:1', req('lock.acquire', 'L'))) as { token: number }).token;
      expect(t2).toBeGreaterThan(t1);
    } finally {
      await closeSide(a);
      await closeSide(b);
    }
  });
});

describe('Redis restarted empty', () => {
  it('sends every subscriber a resync push, and the store works again', async () => {
    const redis = await startRedis();
    const name = clusterName('state-empty');
    const a = await side(redis.url, name);
    const b = await side(redis.url, name);
    try {
      await a.state.handle('c:1', req('value.subscribe', 'v'));
      await b.state.handle('c:2', req('dict.subscribe', 'd'));
      await b.state.handle('c:2', req('value.set', 'v', { a: enc('before') }));
      await until(() => a.pushes.length === 1, 10_000, 'the first push');
      const before = ((await a.state.handle('c:1', req('lock.acquire', 'L'))) as { token: number }).token;
      await redis.kill();
      await redis.restart();
      const resync = (s: Side, owner: string, kind: Push['kind'], n: string): boolean =>
        s.pushes.some(
          (p) => p.owner === owner && p.push.resync === true && p.push.kind === kind && p.push.name === n && p.push.version === 0,
        );
      await until(() => resync(a, 'c:1', 'value', 'v') && resync(b, 'c:2', 'dict', 'd'), 20_000, 'resync pushes');
      // State starts over: the value is gone, versions begin again, pushes go on.
      expect(await code(a.state.handle('c:1', req('value.get', 'v')))).toMatch(/E_NO_SUCH_VALUE|E_UNAVAILABLE/);
      // Writes are refused (the lease key went with the data) until the daemon is a member again.
      const set = (): Promise<string> => code(b.state.handle('c:2', req('value.set', 'v', { a: enc('after') })));
      await until(async () => (await set()) === 'ok', 20_000, 'a write accepted again');
      expect(((await a.state.handle('c:1', req('value.get', 'v'))) as { version: number }).version).toBe(1);
      await until(
        () => a.pushes.some((p) => p.push.version === 1 && p.push.value !== undefined && dec(p.push.value) === 'after'),
        10_000,
        'a push after',
      );
      // The lock went with the data; its fencing token is never given again.
      const after = ((await b.state.handle('c:2', req('lock.acquire', 'L'))) as { token: number }).token;
      expect(after).toBeGreaterThan(before);
    } finally {
      await closeSide(a);
      await closeSide(b);
    }
  });
});

describe('Redis out of memory', () => {
  it('refuses growth with E_LIMIT short of maxmemory, other writes with E_NO_SPACE once Redis is full, writes nothing, and reads still work', async () => {
    const redis = await startRedis(['--save', '', '--appendonly', 'no', '--maxmemory', '4mb', '--maxmemory-policy', 'noeviction']);
    const name = clusterName('state-oom');
    const a = await side(redis.url, name);
    try {
      await a.state.handle('c:1', req('value.init', 'n', { a: enc(0) }));
      const item = enc('x'.repeat(64 * 1024));
      let size = 0;
      let refused = '';
      for (let i = 0; i < 200 && refused === ''; i++) {
        const c = await code(a.state.handle('c:1', req('queue.put', 'q', { a: item })).then((r) => (size = (r as { size: number }).size)));
        if (c !== 'ok') refused = c;
      }
      // The state's own bound (state-room.ts) comes first, so Redis never refuses the writes that do not grow.
      expect(refused).toBe('E_LIMIT');
      expect(await a.state.handle('c:1', req('queue.size', 'q'))).toBe(size);
      expect(await code(a.state.handle('c:1', req('value.set', 'v', { a: item })))).toBe('E_LIMIT');
      expect(await code(a.state.handle('c:1', req('value.get', 'v')))).toBe('E_NO_SUCH_VALUE');
      // Redis past its maxmemory (lowered under it): what the bound lets through is refused by Redis itself.
      const admin = new Redis(redis.url);
      await admin.config('SET', 'maxmemory', '1mb');
      expect(await code(a.state.handle('c:1', req('value.add', 'n', { a: enc(1) })))).toBe('E_NO_SPACE');
      // The membership outlives the full memory: its renewals go on (past a whole lease), so it is not lost.
      const id = a.node.id;
      await new Promise((r) => setTimeout(r, 3_500));
      expect(a.node.held()).toBe(true);
      expect(a.node.id).toBe(id);
      await admin.config('SET', 'maxmemory', '4mb');
      admin.disconnect();
      // Deleting the items makes room again (a get keeps its item as its reply until acknowledged).
      await a.state.handle('c:1', req('queue.remove', 'q'));
      await until(async () => (await code(a.state.handle('c:1', req('value.set', 'v', { a: enc(1) })))) === 'ok', 2_000, 'room again');
    } finally {
      await closeSide(a);
    }
  });
});
