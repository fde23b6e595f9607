/**
 * The bound on what the shared state holds in the primary's memory
 * (state-memory.ts, `--max-state-mb`): the estimate follows every change and
 * comes back to nothing when everything is deleted; a write that would grow the
 * state past the bound is E_LIMIT with nothing changed, while writes that do not
 * grow it (and every read, get and delete) still pass; a reopen counts what is
 * stored, over the bound too; and no stored operand keeps alive the frame it came in.
 */
import path from 'node:path';

import { open as openLmdb } from 'lmdb';
import { describe, expect, it } from 'vitest';

import { encodeMessage, decodeMessage } from '@corepool/protocol/internal';
import { SharedState } from '../../src/state/shared-state.js';
import { OWNER_FLOOR } from '../../src/state/owner-index.js';
import { ENTRY_COST, GET_COST } from '../../src/state/state-memory.js';
import { cleanup, codeOf, dec, enc, req, tempDir } from './helpers.js';

const KiB = 1024;

async function withState(maxStateBytes: number, body: (s: SharedState, dir: string) => Promise<void>): Promise<void> {
  const dir = tempDir();
  const s = await SharedState.open({ dataDir: dir, fsync: 'no', maxStateBytes });
  try {
    await body(s, dir);
  } finally {
    await s.close();
    cleanup(dir);
  }
}

const used = (s: SharedState): number => s.counts().memory!.usedBytes;

describe('the state memory bound', () => {
  it('follows every kind of change and returns to 0 once everything is deleted', async () => {
    await withState(Infinity, async (s) => {
      expect(used(s)).toBe(0);
      await s.handle('c:1', req('value.set', 'v', { a: enc('x'.repeat(1000)) }));
      const oneValue = used(s);
      expect(oneValue).toBeGreaterThan(1000);
      await s.handle('c:1', req('value.set', 'v', { a: enc('y') }));
      expect(used(s)).toBeLessThan(oneValue - 900);
      await s.handle('c:1', req('value.add', 'n', { a: enc(1) }));
      await s.handle('c:1', req('value.add', 'big', { a: enc(2n ** 4000n) }));
      await s.handle('c:1', req('value.cas', 'v', { a: enc('y'), b: enc('z'.repeat(500)) }));
      for (let i = 0; i < 50; i++) await s.handle('c:1', req('queue.put', `q${i % 3}`, { a: enc(i) }));
      for (let i = 0; i < 20; i++) await s.handle('c:1', req('queue.get', 'q0', { timeoutMs: 0 })).catch(() => {});
      for (let i = 0; i < 40; i++) await s.handle('c:1', req('dict.set', `d${i % 2}`, { key: `k${i % 25}`, a: enc(i) }));
      await s.handle('c:1', req('dict.delete', 'd0', { key: 'k0' }));
      expect(used(s)).toBeGreaterThan(oneValue);

      for (const name of ['v', 'n', 'big']) await s.handle('c:1', req('value.remove', name));
      for (const name of ['q0', 'q1', 'q2']) await s.handle('c:1', req('queue.remove', name));
      for (const name of ['d0', 'd1']) await s.handle('c:1', req('dict.remove', name));
      expect(used(s)).toBe(0);
    });
  });

  it("bounds connections' subscriptions, locks and blocked gets by a quarter of the bound, apart from the stored state, past a floor each connection keeps, and gives them back when their owner goes", async () => {
    await withState(64 * KiB, async (s) => {
      const entries = (): number => s.counts().memory!.entryBytes;
      await s.handle('c:1', req('value.set', 'v', { a: enc(1) }));
      const stored = used(s);
      await s.handle('c:h', req('value.subscribe', 'v'));
      await s.handle('c:h', req('dict.subscribe', 'd'));
      await s.handle('c:h', req('lock.acquire', 'L'));
      const waiting = s.handle('c:h', req('queue.get', 'empty-queue'));
      waiting.catch(() => {});
      expect(entries()).toBe(3 * ENTRY_COST + GET_COST);
      // An empty queue with a waiting getter is not stored state.
      expect(used(s)).toBe(stored);
      // Blocked gets on new names until their bound: refused with E_LIMIT, saying what holds the memory.
      let refused: Error | undefined;
      for (let i = 0; i < 1000 && refused === undefined; i++) {
        const p = s.handle('c:h', req('queue.get', `q${i}`));
        p.catch(() => {});
        refused = await Promise.race([
          p.then(
            () => undefined,
            (e: Error) => e,
          ),
          new Promise<undefined>((r) => setImmediate(() => r(undefined))),
        ]);
      }
      expect(refused).toMatchObject({ code: 'E_LIMIT', message: expect.stringMatching(/subscriptions, locks and blocked gets/) });
      // The pool, and past it the floor of each kind the connection keeps.
      expect(entries()).toBeLessThanOrEqual(16 * KiB + OWNER_FLOOR * (2 * ENTRY_COST + GET_COST));
      // Another connection still has its floor of each kind: a lock, a subscription, a blocked get.
      await s.handle('c:n', req('value.subscribe', 'other'));
      await s.handle('c:n', req('lock.acquire', 'M'));
      const its = s.handle('c:n', req('queue.get', 'its-queue'));
      its.catch(() => {});
      for (let i = 0; i < OWNER_FLOOR - 1; i++) await s.handle('c:n', req('value.subscribe', `o${i}`));
      expect(await codeOf(s.handle('c:n', req('value.subscribe', 'past-the-floor')))).toBe('E_LIMIT');
      // The stored state is not crowded out: writes of new names still pass.
      expect(await s.handle('c:n', req('value.set', 'new', { a: enc(1) }))).toEqual({ version: 1 });
      // Their owners gone, all of it is given back.
      s.releaseOwner('c:h');
      s.releaseOwner('c:n');
      expect(await codeOf(waiting)).toBe('E_CANCELLED');
      expect(await codeOf(its)).toBe('E_CANCELLED');
      expect(entries()).toBe(0);
      await s.handle('c:n', req('value.subscribe', 'other'));
      expect(entries()).toBe(ENTRY_COST);
    });
  });

  it('a full state still lets a consumer wait for an item and take it, and an item its getter could not take goes back', async () => {
    await withState(16 * KiB, async (s) => {
      let i = 0;
      while ((await codeOf(s.handle('c:h', req('value.set', `h${i++}`, { a: enc(i) })))) === undefined);
      const waiting = s.handle('c:w', req('queue.get', 'jobs'));
      expect(await codeOf(s.handle('c:p', req('queue.put', 'other', { a: enc(1) })))).toBe('E_LIMIT');
      await s.handle('c:p', req('queue.put', 'jobs', { a: enc('handed over') }));
      expect(dec(await waiting)).toBe('handed over');
      // Its getter gone before the reply could be sent, the item goes back whatever the bound says:
      // refused, it would be lost (and the primary, with nobody to tell, crashed).
      s.undelivered(req('queue.get', 'jobs'), enc('handed over'));
      expect(await s.handle('c:w', req('queue.size', 'jobs'))).toBe(1);
      expect(dec(await s.handle('c:w', req('queue.get', 'jobs')))).toBe('handed over');
    });
  });

  it('forgets a dict emptied key by key when nobody subscribes to it; a subscribed one keeps its version until its last subscriber leaves', async () => {
    const dir = tempDir();
    try {
      const s = await SharedState.open({ dataDir: dir, fsync: 'no' });
      for (let i = 0; i < 100; i++) {
        await s.handle('c:1', req('dict.set', `d${i}`, { key: 'k', a: enc(i) }));
        await s.handle('c:1', req('dict.delete', `d${i}`, { key: 'k' }));
      }
      expect(used(s)).toBe(0);
      // With a subscriber the emptied dict stays, its versions going on for it.
      await s.handle('c:sub', req('dict.subscribe', 'kept'));
      await s.handle('c:1', req('dict.set', 'kept', { key: 'k', a: enc(1) }));
      await s.handle('c:1', req('dict.delete', 'kept', { key: 'k' }));
      expect(await s.handle('c:1', req('dict.set', 'kept', { key: 'k', a: enc(2) }))).toEqual({ version: 3 });
      await s.handle('c:1', req('dict.delete', 'kept', { key: 'k' }));
      // The empty dict's own record is still there (its version), and goes with its last subscriber.
      expect(used(s)).toBeGreaterThan(300);
      s.releaseOwner('c:sub');
      expect(used(s)).toBe(0);
      // Made again, a forgotten dict starts over at version 1.
      expect(await s.handle('c:1', req('dict.set', 'd3', { key: 'k', a: enc(3) }))).toEqual({ version: 1 });
      await s.handle('c:1', req('dict.delete', 'd3', { key: 'k' }));
      await s.close();
      // Nor are their version records left on disk, the subscribed one's included.
      const root = openLmdb({ path: path.join(dir, 'state'), readOnly: true, maxDbs: 8 });
      try {
        const meta = root.openDB({ name: 'meta', encoding: 'binary' });
        const versions = [...meta.getKeys({ start: ['dict'], end: ['dict\0'] })];
        expect(versions).toEqual([]);
      } finally {
        await root.close();
      }
      // Nothing of them is loaded again.
      const t = await SharedState.open({ dataDir: dir, fsync: 'no' });
      try {
        expect(used(t)).toBe(0);
        expect(await t.handle('c:1', req('dict.set', 'kept', { key: 'k', a: enc(1) }))).toEqual({ version: 1 });
      } finally {
        await t.close();
      }
    } finally {
      cleanup(dir);
    }
  });

  it('counts a name or key of other than Latin-1 characters at two bytes a character, as V8 keeps it', async () => {
    await withState(Infinity, async (s) => {
      const grows = async (r: Parameters<typeof req>): Promise<number> => {
        const before = used(s);
        await s.handle('c:1', req(...r));
        return used(s) - before;
      };
      const one = enc(1);
      expect((await grows(['value.set', '€'.repeat(100), { a: one }])) - (await grows(['value.set', 'e'.repeat(100), { a: one }]))).toBe(
        100,
      );
      expect((await grows(['queue.put', 'ü'.repeat(50), { a: one }])) - (await grows(['queue.put', 'u'.repeat(50), { a: one }]))).toBe(0);
      expect((await grows(['queue.put', 'ő'.repeat(50), { a: one }])) - (await grows(['queue.put', 'o'.repeat(50), { a: one }]))).toBe(50);
      await s.handle('c:1', req('dict.set', 'd', { key: 'k', a: one }));
      expect(
        (await grows(['dict.set', 'd', { key: '中'.repeat(30), a: one }])) -
          (await grows(['dict.set', 'd', { key: 'z'.repeat(30), a: one }])),
      ).toBe(30);
      for (const name of ['€'.repeat(100), 'e'.repeat(100)]) await s.handle('c:1', req('value.remove', name));
      for (const name of ['ü'.repeat(50), 'u'.repeat(50), 'ő'.repeat(50), 'o'.repeat(50)]) await s.handle('c:1', req('queue.remove', name));
      await s.handle('c:1', req('dict.remove', 'd'));
      expect(used(s)).toBe(0);
    });
  });

  it('refuses growth past the bound with E_LIMIT, nothing changed; writes that do not grow, reads, gets and deletes pass', async () => {
    await withState(64 * KiB, async (s) => {
      await s.handle('c:n', req('value.set', 'counter', { a: enc(0) }));
      await s.handle('c:n', req('value.set', 'flag', { a: enc('aaaa') }));
      await s.handle('c:n', req('dict.set', 'd', { key: 'k', a: enc('aaaa') }));
      await s.handle('c:n', req('queue.put', 'jobs', { a: enc(1) }));
      // A hostile owner fills the state with new names.
      let i = 0;
      let refused: string | undefined;
      for (; i < 10_000 && refused === undefined; i++) refused = await codeOf(s.handle('c:h', req('value.set', `h${i}`, { a: enc(i) })));
      expect(refused).toBe('E_LIMIT');
      expect(used(s)).toBeLessThanOrEqual(64 * KiB);
      // The refused write changed nothing.
      expect(await codeOf(s.handle('c:n', req('value.get', `h${i - 1}`)))).toBe('E_NO_SUCH_VALUE');
      const message = await s.handle('c:h', req('value.set', 'another', { a: enc(1) })).catch((e: Error) => e.message);
      expect(message).toMatch(/shared state is full.*--max-state-mb/);

      // Every kind of growth is refused, for everyone.
      expect(await codeOf(s.handle('c:n', req('value.init', 'new', { a: enc(1) })))).toBe('E_LIMIT');
      expect(await codeOf(s.handle('c:n', req('value.add', 'new', { a: enc(1) })))).toBe('E_LIMIT');
      expect(await codeOf(s.handle('c:n', req('value.set', 'flag', { a: enc('a'.repeat(2000)) })))).toBe('E_LIMIT');
      expect(await codeOf(s.handle('c:n', req('queue.put', 'jobs', { a: enc(2) })))).toBe('E_LIMIT');
      expect(await codeOf(s.handle('c:n', req('dict.set', 'd', { key: 'k2', a: enc(1) })))).toBe('E_LIMIT');
      expect(await codeOf(s.handle('c:n', req('dict.set', 'd', { key: 'k', a: enc('a'.repeat(2000)) })))).toBe('E_LIMIT');
      expect(await s.handle('c:n', req('queue.size', 'jobs'))).toBe(1);
      expect(await s.handle('c:n', req('dict.keys', 'd'))).toEqual(['k']);

      // What does not grow the state passes: a counter's adds, a same-size set and cas, a put a getter takes at once.
      for (let k = 0; k < 100; k++) await s.handle('c:n', req('value.add', 'counter', { a: enc(1) }));
      expect(await s.handle('c:n', req('value.set', 'flag', { a: enc('bbbb') }))).toEqual({ version: 2 });
      expect(await s.handle('c:n', req('value.cas', 'flag', { a: enc('bbbb'), b: enc('cccc') }))).toMatchObject({ ok: true });
      expect(await s.handle('c:n', req('dict.set', 'd', { key: 'k', a: enc('bbbb') }))).toEqual({ version: 2 });
      const waiting = s.handle('c:w', req('queue.get', 'handoff'));
      await s.handle('c:n', req('queue.put', 'handoff', { a: enc('passed') }));
      expect(dec(await waiting)).toBe('passed');
      expect(dec(await s.handle('c:n', req('queue.get', 'jobs')))).toBe(1);

      // Deleting makes room again.
      for (let k = 0; k < 50; k++) await s.handle('c:h', req('value.remove', `h${k}`));
      expect(await s.handle('c:n', req('value.set', 'new', { a: enc(1) }))).toEqual({ version: 1 });
      expect(await s.handle('c:n', req('queue.put', 'jobs', { a: enc(2) }))).toEqual({ size: 1 });
    });
  });

  it('a reopen counts what is stored, and loads it all under a smaller bound; only growth is refused', async () => {
    const dir = tempDir();
    try {
      const s = await SharedState.open({ dataDir: dir, fsync: 'no' });
      for (let i = 0; i < 200; i++) await s.handle('c:1', req('value.set', `v${i}`, { a: enc('x'.repeat(100)) }));
      for (let i = 0; i < 100; i++) await s.handle('c:1', req('queue.put', 'q', { a: enc(i) }));
      for (let i = 0; i < 100; i++) await s.handle('c:1', req('dict.set', 'd', { key: `k${i}`, a: enc(i) }));
      const before = used(s);
      await s.close();
      const t = await SharedState.open({ dataDir: dir, fsync: 'no', maxStateBytes: before / 2 });
      try {
        expect(used(t)).toBe(before);
        expect(t.counts().memory!.limitBytes).toBe(before / 2);
        expect(await t.handle('c:1', req('queue.size', 'q'))).toBe(100);
        expect(await codeOf(t.handle('c:1', req('value.set', 'new', { a: enc(1) })))).toBe('E_LIMIT');
        expect(dec(await t.handle('c:1', req('queue.get', 'q')))).toBe(0);
        expect(await t.handle('c:1', req('value.remove', 'v0'))).toBe(true);
      } finally {
        await t.close();
      }
    } finally {
      cleanup(dir);
    }
  });

  it('keeps its own copy of an operand that came as a view into a larger frame', async () => {
    await withState(Infinity, async (s) => {
      // Two messages in one 4 MB frame, decoded as the primary decodes them: each operand is a view into it.
      const frame = encodeMessage([
        { type: 'state', rid: 1, op: 'value.set', name: 'small', a: enc(1) },
        { type: 'state', rid: 2, op: 'value.set', name: 'junk', a: enc(new Uint8Array(4 * 1024 * 1024)) },
      ]);
      const [small, item] = (decodeMessage(frame) as { a: Uint8Array }[]).map((m) => m.a) as [Uint8Array, Uint8Array];
      expect(small.buffer.byteLength).toBeGreaterThan(4 * 1024 * 1024);
      await s.handle('c:1', req('value.set', 'small', { a: small }));
      await s.handle('c:1', req('queue.put', 'q', { a: small }));
      await s.handle('c:1', req('dict.set', 'd', { key: 'k', a: small }));
      await s.handle('c:1', req('value.set', 'big', { a: item }));
      const kept = [
        ((await s.handle('c:1', req('value.get', 'small'))) as { value: Uint8Array }).value,
        (await s.handle('c:1', req('dict.get', 'd', { key: 'k' }))) as Uint8Array,
        (await s.handle('c:1', req('queue.get', 'q'))) as Uint8Array,
      ];
      for (const b of kept) {
        expect(dec(b)).toBe(1);
        expect(b.buffer.byteLength).toBeLessThan(1024);
      }
      const big = ((await s.handle('c:1', req('value.get', 'big'))) as { value: Uint8Array }).value;
      expect(big.buffer.byteLength).toBeLessThan(4 * 1024 * 1024 + 1024);
    });
  });

  it("keeps a counter's sum as its own bytes, not a view into the encoder's buffer (grown by a large message)", async () => {
    await withState(Infinity, async (s) => {
      // Grows msgpackr's buffer, which every later encoding writes into.
      enc(new Uint8Array(8 * 1024 * 1024));
      await s.handle('c:1', req('value.add', 'fresh', { a: enc(2n ** 70n) }));
      await s.handle('c:1', req('value.add', 'n', { a: enc(1) }));
      await s.handle('c:1', req('value.add', 'n', { a: enc(300) }));
      for (const name of ['fresh', 'n']) {
        const { value } = (await s.handle('c:1', req('value.get', name))) as { value: Uint8Array };
        expect(value.buffer.byteLength).toBeLessThan(64);
      }
      expect(dec(((await s.handle('c:1', req('value.get', 'n'))) as { value: Uint8Array }).value)).toBe(301);
    });
  });
});
