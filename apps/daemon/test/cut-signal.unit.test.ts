/**
 * The runner's view of the primary's cut requests (worker/cut-signal.ts), with
 * the guard thread's writes played by hand: a request cuts whatever chunk
 * other than the spared one runs, outlives a moment with nothing to run, and
 * is dropped once the spared chunk starts, once acted on, when a chunk starts
 * after it has grown older than CUT_REQUEST_TTL_MS (never while a chunk runs),
 * and, sparing none, when the worker goes idle.
 */
import { describe, expect, it, vi } from 'vitest';
import {
  CLOCK_MOD,
  CUT_REQUEST_TTL_MS,
  cutAsked,
  cutExpire,
  cutIdle,
  cutRequests,
  cutSettled,
  cutSpared,
  requestAge,
} from '../src/worker/cut-signal.js';

/** What the guard thread does with a request that spares `spare`, heard `ago` ms ago. */
function request(spare: number, ago = 0): void {
  Atomics.store(cutRequests, 1, spare);
  Atomics.store(cutRequests, 2, (Date.now() - ago) % CLOCK_MOD);
  Atomics.add(cutRequests, 0, 1);
}

describe('cut requests as the runner sees them', () => {
  it('cut any chunk but the spared one, and stay pending across an idle moment until acted on', () => {
    cutSettled();
    expect(cutAsked(7)).toBe(false);
    request(8);
    expect(cutAsked(8)).toBe(false);
    expect(cutAsked(7)).toBe(true);
    cutIdle(); // the worker had nothing to run: the next chunk it starts is still cut
    cutExpire();
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

  it('are dropped by a chunk that starts after they grew old, never while a chunk runs', () => {
    cutSettled();
    request(31, CUT_REQUEST_TTL_MS - 50);
    cutExpire();
    expect(cutAsked(30)).toBe(true);
    // Heard during a chunk whose items are long: acted on at the next item, however old by then.
    request(31, 10 * CUT_REQUEST_TTL_MS);
    expect(cutAsked(30)).toBe(true);
    cutExpire(); // the next chunk starts
    expect(cutAsked(30)).toBe(false);
  });

  it('sparing none (a worker freed for a queued client), are dropped when the worker goes idle', () => {
    cutSettled();
    request(0);
    expect(cutAsked(40)).toBe(true);
    cutIdle();
    expect(cutAsked(40)).toBe(false);
    request(41);
    cutIdle();
    expect(cutAsked(40)).toBe(true);
    cutSettled();
  });

  it('read the clock as it was when the worker loaded: a task that stubs Date.now changes nothing', () => {
    cutSettled();
    request(51);
    const stub = vi.spyOn(Date, 'now').mockReturnValue(5); // fake timers: every request would look ~2^31 ms old
    try {
      cutExpire();
      expect(cutAsked(50)).toBe(true);
    } finally {
      stub.mockRestore();
    }
    cutSettled();
  });

  it('measure their age across the clock modulus', () => {
    expect(requestAge(10, CLOCK_MOD - 30)).toBe(40);
    expect(requestAge(500, 400)).toBe(100);
    expect(requestAge(0, 0)).toBe(0);
  });
});
