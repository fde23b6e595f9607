/**
 * recovery.ts alone: every row of the table that decides what becomes of a
 * chunk whose worker exited, who pays for the restart, and the errors an item
 * gets when it fails for its worker.
 */
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '@corepool/protocol';
import {
  crashError,
  exitText,
  recover,
  restartPayer,
  timeoutError,
  uncaughtError,
  type ExitFacts,
  type Piece,
  type Recovery,
} from '../src/primary/recovery.js';

/** A chunk of 4 untracked items that was running, nothing known of which item ran. */
const BASE: ExitFacts = {
  count: 4,
  begun: true,
  current: -1,
  failedAt: -1,
  tracked: false,
  attempts: 0,
  crashes: 0,
  retries: 2,
  recycled: false,
};

/** The new chunks a plan runs (not the chunk itself). */
function pieces(plan: Recovery): readonly Piece[] {
  if (plan.requeue === 'itself') throw new Error(`row ${plan.row} requeues the chunk itself`);
  return plan.requeue;
}

const fresh = (from: number, count: number) => ({ from, count, tracked: false, attempts: 0, crashes: 0 });

describe("recovery: what becomes of a dead worker's chunk", () => {
  it('not begun (waiting behind the running chunk): queued again unchanged', () => {
    expect(recover({ ...BASE, begun: false })).toEqual({ row: 'requeue', requeue: 'itself' });
  });

  it('its worker was recycled (no fault of its chunks): queued again unchanged, even with its item known', () => {
    expect(recover({ ...BASE, recycled: true, current: 2, tracked: true })).toEqual({ row: 'requeue', requeue: 'itself' });
  });

  it('an item already has its outcome (timeout, uncaught): the items around it run again, nobody blamed', () => {
    expect(recover({ ...BASE, failedAt: 1, current: 1 })).toEqual({ row: 'outcome-known', requeue: [fresh(0, 1), fresh(2, 2)] });
    expect(recover({ ...BASE, failedAt: 0 }).requeue).toEqual([fresh(1, 3)]);
    expect(recover({ ...BASE, failedAt: 3 }).requeue).toEqual([fresh(0, 3)]);
    expect(recover({ ...BASE, count: 1, failedAt: 0, attempts: 5 }).requeue).toEqual([]);
    // Outcome known wins over recycling: the item is not run twice.
    expect(recover({ ...BASE, failedAt: 2, recycled: true }).row).toBe('outcome-known');
  });

  it("the running item is known: it is retried alone, its chunk's deaths counting as its attempts; the items around it run again", () => {
    expect(recover({ ...BASE, tracked: true, current: 2, crashes: 1 })).toEqual({
      row: 'culprit-named',
      requeue: [fresh(0, 2), { from: 2, count: 1, tracked: false, attempts: 2, crashes: 0 }, fresh(3, 1)],
    });
  });

  it('the running item is known and has used its retries: it fails with its death count', () => {
    expect(recover({ ...BASE, tracked: true, current: 1, crashes: 2 })).toEqual({
      row: 'culprit-named',
      requeue: [fresh(0, 1), fresh(2, 2)],
      crashed: { at: 1, attempts: 3 },
    });
  });

  it('a single-item chunk reported started counts its own attempts', () => {
    expect(recover({ ...BASE, count: 1, current: 0, attempts: 1, crashes: 7 })).toEqual({
      row: 'culprit-named',
      requeue: [{ from: 0, count: 1, tracked: false, attempts: 2, crashes: 0 }],
    });
  });

  it('several items, none known to run: all run again, tracked, with the death counted', () => {
    expect(recover({ ...BASE, crashes: 1 })).toEqual({
      row: 'track',
      requeue: [{ from: 0, count: 4, tracked: true, attempts: 0, crashes: 2 }],
    });
  });

  it('tracked, yet dead before its first item started: split in two tracked halves', () => {
    expect(recover({ ...BASE, count: 5, tracked: true, crashes: 1 })).toEqual({
      row: 'split',
      requeue: [
        { from: 0, count: 3, tracked: true, attempts: 0, crashes: 0 },
        { from: 3, count: 2, tracked: true, attempts: 0, crashes: 0 },
      ],
    });
  });

  it('a single item not reported started: retried within its retries, then failed', () => {
    expect(recover({ ...BASE, count: 1, attempts: 1 })).toEqual({
      row: 'culprit-alone',
      requeue: [{ from: 0, count: 1, tracked: false, attempts: 2, crashes: 0 }],
    });
    expect(recover({ ...BASE, count: 1, attempts: 2 })).toEqual({ row: 'culprit-alone', requeue: [], crashed: { at: 0, attempts: 3 } });
    expect(recover({ ...BASE, count: 1, retries: 0, tracked: true })).toEqual({
      row: 'culprit-alone',
      requeue: [],
      crashed: { at: 0, attempts: 1 },
    });
  });

  it('a poison item among many takes retries + 1 worker deaths, not log2(chunk) more', () => {
    const retries = 2;
    let f: ExitFacts = { ...BASE, count: 64, retries };
    let deaths = 1;
    let plan = recover(f);
    expect(plan.row).toBe('track');
    const tracked = pieces(plan)[0]!;
    f = { ...f, tracked: tracked.tracked, crashes: tracked.crashes, current: 40 };
    deaths++;
    plan = recover(f);
    const alone = pieces(plan).find((p) => p.from === 40)!;
    f = { ...BASE, count: 1, retries, attempts: alone.attempts, current: 0 };
    deaths++;
    plan = recover(f);
    expect(plan.crashed).toEqual({ at: 0, attempts: retries + 1 });
    expect(deaths).toBe(retries + 1);
  });
});

describe('recovery: who pays for the restart', () => {
  it('a recycled worker: the client whose task made it unusable, if known', () => {
    expect(restartPayer({ recycled: true, culprit: 'a', head: 'b', retired: false })).toBe('a');
    expect(restartPayer({ recycled: true, culprit: undefined, head: 'b', retired: false })).toBeUndefined();
  });

  it('a crash, timeout, cancel or memory kill: the client whose chunk was running', () => {
    expect(restartPayer({ recycled: false, culprit: undefined, head: 'b', retired: false })).toBe('b');
  });

  it('an idle worker, or one retired on purpose: nobody', () => {
    expect(restartPayer({ recycled: false, culprit: undefined, head: undefined, retired: false })).toBeUndefined();
    expect(restartPayer({ recycled: false, culprit: undefined, head: 'b', retired: true })).toBeUndefined();
  });
});

describe('recovery: the errors of an item that failed for its worker', () => {
  it('crash, timeout and uncaught exception carry the item index and their code', () => {
    expect(crashError(7, 3, 2)).toEqual({
      code: ErrorCode.E_WORKER_CRASHED,
      index: 7,
      attempts: 3,
      message: 'item 7 crashed its worker 3 times (retries: 2)',
    });
    expect(crashError(7, 1, 0).message).toBe('item 7 crashed its worker 1 time (retries: 0)');
    // retries: 0, found by a second run of its chunk of several items.
    expect(crashError(7, 2, 0).message).toBe(
      'item 7 crashed its worker 2 times (retries: 0; the first time among the other items of its chunk, which ran again)',
    );
    expect(crashError(7, 1, 0, exitText(undefined, 3, null)).message).toBe(
      'item 7 crashed its worker 1 time (retries: 0); the last time, it exited with code 3',
    );
    expect(exitText('rss', null, 'SIGKILL')).toMatch(/worker memory limit/);
    expect(exitText(undefined, null, 'SIGABRT')).toMatch(/--worker-heap-mb/);
    expect(timeoutError(4, 250)).toMatchObject({ code: ErrorCode.E_TIMEOUT, index: 4, timeoutMs: 250 });
    const u = uncaughtError(5, { code: ErrorCode.E_TASK_FAILED, message: 'boom', remoteName: 'TypeError' });
    expect(u).toMatchObject({ code: ErrorCode.E_TASK_FAILED, index: 5, remoteName: 'TypeError' });
    expect(u.message).toContain('boom');
  });
});
