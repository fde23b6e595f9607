/**
 * The runner's view of the primary's cut requests (worker/cut-signal.ts), with
 * the guard thread's writes played by hand: a request cuts whatever chunk
 * other than the spared one runs, outlives a moment with nothing to run, and
 * is dropped once the spared chunk starts, once acted on, or once older than
 * CUT_REQUEST_TTL_MS.
 */
import { describe, expect, it, vi } from 'vitest';
import { CLOCK_MOD, CUT_REQUEST_TTL_MS, cutAsked, cutRequests, cutSettled, cutSpared } from '../src/worker/cut-signal.js';

/** What the guard thread does with a request that spares `spare`, heard `ago` ms ago. */
function request(spare: number, ago = 0): void {
  Atomics.store(cutRequests, 1, spare);
  Atomics.store(cutRequests, 2, (Date.now() - ago) % CLOCK_MOD);
  Atomics.add(cutRequests, 0, 1);
}

describe('cut requests as the runner sees them', () => {
  it('cut any chunk but the spared one, and stay pending until acted on', () => {
    cutSettled();
    expect(cutAsked(7)).toBe(false);
    request(8);
    expect(cutAsked(8)).toBe(false);
    expect(cutAsked(7)).toBe(true);
    // Nothing ran between (the worker had no chunk): the next one it starts is still cut.
    expect(cutAsked(9)).toBe(true);
    cutSettled();
    expect(cutAsked(9)).toBe(false);
  });

  it('are dropped once the spared chunk starts, and not by any other', () => {
    cutSettled();
    request(21);
    cutSpared(20);
    expect(cutAsked(20)).toBe(true);
    cutSpared(21);
    expect(cutAsked(20)).toBe(false);
  });

  it('are dropped once older than CUT_REQUEST_TTL_MS, also across the clock modulus', () => {
    cutSettled();
    request(31, CUT_REQUEST_TTL_MS + 5);
    expect(cutAsked(30)).toBe(false);
    // Found too old once, it is dropped for good (the clock is not read for it again).
    Atomics.store(cutRequests, 2, Date.now() % CLOCK_MOD);
    expect(cutAsked(30)).toBe(false);
    request(31, CUT_REQUEST_TTL_MS - 50);
    expect(cutAsked(30)).toBe(true);
    // Heard 30 ms before Date.now() % CLOCK_MOD wrapped round to 10: 40 ms old, not ~2^31.
    const now = vi.spyOn(Date, 'now').mockReturnValue(3 * CLOCK_MOD + 10);
    try {
      Atomics.store(cutRequests, 2, CLOCK_MOD - 30);
      expect(cutAsked(30)).toBe(true);
      Atomics.store(cutRequests, 2, CLOCK_MOD - CUT_REQUEST_TTL_MS);
      expect(cutAsked(30)).toBe(false);
    } finally {
      now.mockRestore();
    }
  });
});
