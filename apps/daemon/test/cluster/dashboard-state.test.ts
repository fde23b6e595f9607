/**
 * The dashboard's state listing in cluster mode (RedisState.list, SCAN-based):
 * two daemons of one cluster list the same named state, made through either;
 * a big value shows its size, not its bytes; small pages walk every name (a
 * SCAN may repeat a name, never miss one); and /api/status lists both daemons.
 */
import { describe, expect, it } from 'vitest';
import { startCluster } from '../support/cluster.js';
import { http } from '../support/http.js';
import { until } from '../support/wait.js';

interface Listing {
  entries: { kind: string; name: string; preview?: string; bytes?: number; size?: number; holder?: string }[];
  next?: string;
}

describe('cluster mode: GET /api/state', () => {
  it('lists the cluster-wide state from every daemon, in bounded pages', async () => {
    await using c = await startCluster(2, { workers: 1 });
    const [a, b] = c.daemons;
    const ca = await a!.connect();
    const cb = await b!.connect();
    const N = 500;
    await Promise.all(Array.from({ length: N }, (_, i) => (i % 2 === 0 ? ca : cb).value<number>(`n${i}`).set(i)));
    await ca.value<string>('big').set('b'.repeat(100_000));
    await cb.queue<string>('jobs').put('x');
    await ca.dict<number>('scores').set('k', 1);
    const grant = await cb.lock('mutex').acquire();

    const get = async (port: number, q: string): Promise<Listing> => {
      const r = await http(port, { path: `/api/state?${q}`, headers: { authorization: `Bearer ${c.token}` } });
      expect(r.status).toBe(200);
      return JSON.parse(r.body) as Listing;
    };
    for (const d of [a!, b!]) {
      const names = new Map<string, Listing['entries'][number]>();
      let cursor: string | undefined;
      let pages = 0;
      do {
        const p = await get(d.port, `limit=50${cursor === undefined ? '' : `&cursor=${cursor}`}`);
        // SCAN's COUNT is a hint: a page may hold a few more than asked, never many.
        expect(p.entries.length).toBeLessThanOrEqual(50 * 8 * 2);
        for (const e of p.entries) names.set(`${e.kind}:${e.name}`, e);
        cursor = p.next;
        pages++;
      } while (cursor !== undefined && pages < 1000);
      expect(cursor).toBeUndefined();
      for (let i = 0; i < N; i++) expect(names.get(`value:n${i}`)?.preview).toBe(String(i));
      expect(names.get('value:big')).toMatchObject({ bytes: expect.any(Number), preview: expect.stringMatching(/^\(\d+ bytes\)$/) });
      expect(names.get('queue:jobs')).toMatchObject({ size: 1 });
      expect(names.get('dict:scores')).toMatchObject({ size: 1 });
      expect(names.get('lock:mutex')?.holder).toMatch(/c:\d+$/);
    }
    expect(grant.token).toBeGreaterThan(0);

    await until(
      async () => {
        const r = await http(a!.port, { path: '/api/status', headers: { authorization: `Bearer ${c.token}` } });
        const s = JSON.parse(r.body) as { cluster?: { daemons: { alive: boolean }[] } };
        return s.cluster?.daemons.filter((x) => x.alive).length === 2;
      },
      15_000,
      'both daemons in the status',
    );
  });
});
