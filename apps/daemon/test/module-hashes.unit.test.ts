/**
 * Module files hashed off the primary's thread (module-hashes.ts), as a
 * co-tenant would abuse them: clients take turns (one client's line of hashes
 * does not stand before another client's one), a cancelled wait leaves the
 * line and its hash is not made, one path in one state is hashed once, and
 * the version is then known under any spelling of the path. And the chunks a
 * batch sends while its module is hashed count in its client's queue limits
 * and go with the batch (scheduler.ts): uncounted, 1,024 a batch could wait
 * in each of 1,024 batches, and a cancelled batch's stayed until the hash.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeData } from '@corepool/protocol/internal';
import { ModuleHashes } from '../src/module-hashes.js';
import { SYNC_HASH_BYTES, moduleVersion } from '../src/module-version.js';
import { FakePool } from './support/fake-pool.js';
import { fakeScheduler, recordingClient } from './support/fake-scheduler.js';

const dir = mkdtempSync(join(tmpdir(), 'corepool-modhashes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A module file over SYNC_HASH_BYTES (so hashed off the thread), its URL. */
function large(name: string): string {
  const file = join(dir, name);
  writeFileSync(file, `export const f = (x) => x; // ${name}\n/*${'x'.repeat(SYNC_HASH_BYTES)}*/\n`);
  return pathToFileURL(file).href;
}

describe('ModuleHashes', () => {
  it("takes the clients in turn: one client's line does not stand before another's hash", async () => {
    const h = new ModuleHashes();
    const done: string[] = [];
    const ask = (name: string, client: string): Promise<unknown> =>
      h.request(large(name), client).version.then(() => done.push(`${client}:${name}`));
    const all = [...['a1', 'a2', 'a3', 'a4', 'a5'].map((n) => ask(n, 'A')), ask('b1', 'B')];
    expect(h.waiting).toBe(5);
    await Promise.all(all);
    // a1 was under way when b1 came; b1 is next, before the rest of A's line.
    expect(done.slice(0, 2)).toEqual(['A:a1', 'B:b1']);
    expect(done).toHaveLength(6);
  });

  it('a cancelled wait leaves the line: its hash is not made, its version resolves undefined', async () => {
    const h = new ModuleHashes();
    const first = h.request(large('c0'), 'A');
    const cancelled = Array.from({ length: 50 }, (_, i) => h.request(large(`c${i + 1}`), 'A'));
    expect(h.waiting).toBe(50);
    for (const w of cancelled) w.cancel();
    expect(h.waiting).toBe(0);
    for (const w of cancelled) expect(await w.version).toBeUndefined();
    const other = h.request(large('other'), 'B');
    expect(h.waiting).toBe(1);
    expect(await first.version).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(await other.version).toMatch(/^[A-Za-z0-9_-]{22}$/);
    // Those never hashed are still unknown: nothing was kept for them.
    expect(moduleVersion(large('c1'))).toBe('later');
  });

  it('one hash for the waits of one path; a wait cancelled beside another keeps the hash; its version kept under any spelling', async () => {
    const h = new ModuleHashes();
    const url = large('shared.mjs');
    const a = h.request(url, 'A');
    const b = h.request(url, 'B');
    expect(b.version).toBe(a.version);
    a.cancel();
    const v = await b.version;
    expect(v).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const spelled = url.replace('/shared.mjs', '//shared.mjs');
    expect(spelled).not.toBe(url);
    expect(moduleVersion(spelled)).toBe(v);
    expect(await h.request(spelled, 'C').version).toBe(v);
    expect(h.waiting).toBe(0);
  });
});

describe("a batch's chunks held while its module is hashed", () => {
  it("count in its client's queue limits, and go with the batch", async () => {
    const s = fakeScheduler(new FakePool(0));
    const c = recordingClient(1);
    const task = { kind: 'module', url: large('held.mjs'), name: 'f' } as const;
    const payload = encodeData(Array.from({ length: 1000 }, (_, i) => i));
    const chunk = (id: number, start: number) => ({ type: 'batch.chunk', id, start, count: 1000, payload }) as const;
    const limit = 100; // fakeScheduler's maxQueuedChunks
    expect(s.scheduler.open(c, { type: 'batch.open', id: 1, task, timeoutMs: 0, retries: 0 })).toBeUndefined();
    expect(s.scheduler.open(c, { type: 'batch.open', id: 2, task, timeoutMs: 0, retries: 0 })).toBeUndefined();
    let accepted = 0;
    for (let k = 0; k < 3 * limit; k++) {
      const err = s.scheduler.add(c, chunk(1 + (k % 2), k * 1000));
      if (err !== undefined) {
        expect(err.code).toBe('E_FLOW_CONTROL');
        break;
      }
      accepted++;
    }
    // The client's limit, over both batches: by chunks or by bytes, whichever comes first.
    expect(accepted).toBeLessThanOrEqual(limit);
    expect(accepted).toBeLessThanOrEqual(Math.ceil((1 << 20) / payload.length));
    // Cancelled, the batches' held chunks no longer count: a new batch gets as much room.
    s.scheduler.cancel(c, 1);
    s.scheduler.cancel(c, 2);
    expect(s.scheduler.open(c, { type: 'batch.open', id: 3, task, timeoutMs: 0, retries: 0 })).toBeUndefined();
    let again = 0;
    while (again < 3 * limit && s.scheduler.add(c, chunk(3, again * 1000)) === undefined) again++;
    expect(again).toBe(accepted);
  });
});
