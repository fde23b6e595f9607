/**
 * http/scrape-pacing.ts alone, on a fake clock: renders of /metrics are shared by the requests
 * that wait for them, each made after its requests came, at most once per REUSE_FACTOR times
 * what the last one cost, and never more than MAX_WAIT_MS apart for a waiting request.
 */
import { describe, expect, it } from 'vitest';
import { ScrapePacing, type Rendered } from '../src/primary/http/scrape-pacing.js';
import { MAX_WAIT_MS, REUSE_FACTOR } from '../src/primary/status-snapshot.js';
import { FakeClock } from './support/fake-clock.js';

/** A render that takes `costMs` of the fake clock and says which render it was. */
function renderer(clock: FakeClock, costMs: () => number): { render: () => Promise<Rendered>; count: () => number } {
  let n = 0;
  return {
    render: () => {
      n++;
      clock.advance(costMs());
      return Promise.resolve({ body: `render ${n}`, contentType: 'text/plain' });
    },
    count: () => n,
  };
}

const flush = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('scrape pacing', () => {
  it('the first request renders at once; those that come while it is fresh share the next render, made after they came', async () => {
    const clock = new FakeClock();
    const r = renderer(clock, () => 5);
    const pacing = new ScrapePacing(r.render, clock);
    expect((await pacing.next()).body).toBe('render 1');
    const waiting = Array.from({ length: 50 }, () => pacing.next());
    await flush();
    expect(r.count()).toBe(1); // not before 20 x 5 ms have passed
    clock.advance(5 * REUSE_FACTOR);
    const bodies = new Set((await Promise.all(waiting)).map((x) => x.body));
    expect(bodies).toEqual(new Set(['render 2']));
    expect(r.count()).toBe(2);
  });

  it('a request that comes during a render waits for the next one; a costly render delays the next by MAX_WAIT_MS at most', async () => {
    const clock = new FakeClock();
    let release: (() => void) | undefined;
    let n = 0;
    const pacing = new ScrapePacing(async () => {
      n++;
      await new Promise<void>((r) => (release = r));
      clock.advance(10_000); // far more than MAX_WAIT_MS / REUSE_FACTOR
      return { body: `render ${n}`, contentType: 'text/plain' };
    }, clock);
    const first = pacing.next();
    await flush();
    const second = pacing.next(); // came while render 1 ran
    release!();
    expect((await first).body).toBe('render 1');
    await flush();
    expect(n).toBe(1);
    clock.advance(MAX_WAIT_MS);
    await flush();
    expect(n).toBe(2);
    release!();
    expect((await second).body).toBe('render 2');
  });

  it('a render that fails fails the requests that waited for it, and the next request renders again', async () => {
    const clock = new FakeClock();
    let fail = true;
    const pacing = new ScrapePacing(
      () => (fail ? Promise.reject(new Error('boom')) : Promise.resolve({ body: 'ok', contentType: 'text/plain' })),
      clock,
    );
    await expect(pacing.next()).rejects.toThrow('boom');
    fail = false;
    const next = pacing.next();
    clock.advance(MAX_WAIT_MS);
    expect((await next).body).toBe('ok');
  });
});
